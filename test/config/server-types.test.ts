import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/reader';
import { loadServerTypes, parseServerTypes, ServerTypeRegistry, type ServerType } from '../../src/config/server-types';
import { tempDir } from '../helpers/temp-dir';

const exampleFile = resolve(__dirname, '../../deploy/server-types.example.yaml');
const exampleText = readFileSync(exampleFile, 'utf8');
const FILE = 'server-types.yaml';
const unknownKey = 'unknown key (check the spelling against deploy/server-types.example.yaml)';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

/** A one-type file whose body lines (indented under the key) are given. */
function oneType(key: string, ...body: string[]): string {
  return ['server_types:', `  ${key}:`, ...body.map((l) => `    ${l}`)].join('\n') + '\n';
}

const extraType = [
  '  beelink-ser8:',
  '    display_name: "Beelink SER8"',
  '    boot_disk: ["/dev/nvme0n1", "/dev/nvme1n1"]',
  '    management_nic: enp3s0',
  '    hostname_prefix: pve-bl',
  '    filesystem: btrfs',
  '    raid: raid1',
].join('\n');

describe('parseServerTypes', () => {
  it('parses the example file into its two types', () => {
    const types = parseServerTypes(exampleText, FILE);
    expect(types).toEqual<ServerType[]>([
      {
        key: 'minisforum-ms-01',
        displayName: 'Minisforum MS-01',
        bootDisks: ['/dev/nvme0n1'],
        managementNic: 'enp2s0',
        gpu: false,
        hostnamePrefix: 'pve-ms',
        filesystem: 'zfs',
        raid: 'raid0',
        image: null,
      },
      {
        key: 'minisforum-um790',
        displayName: 'Minisforum UM790 Pro',
        bootDisks: ['/dev/nvme0n1'],
        managementNic: 'enp1s0',
        gpu: true,
        hostnamePrefix: 'pve-um',
        filesystem: 'ext4',
        raid: null,
        image: null,
      },
    ]);
  });

  it('gives no types for an empty file', () => {
    expect(parseServerTypes('', FILE)).toEqual([]);
  });

  it('defaults raid to raid0 on zfs and takes a list of disks', () => {
    const [zfs] = parseServerTypes(oneType('big', 'boot_disk: [" /dev/sda ", /dev/sdb, /dev/sdc]', 'management_nic: eno1', 'filesystem: zfs'), FILE);
    expect(zfs).toMatchObject({ key: 'big', displayName: 'big', bootDisks: ['/dev/sda', '/dev/sdb', '/dev/sdc'], raid: 'raid0' });
  });

  it.each([
    ['zfs', 'raidz-1', 3],
    ['zfs', 'raid10', 4],
    ['btrfs', 'raid1', 2],
  ])('accepts %s %s with %i disks', (filesystem, raid, count) => {
    const disks = Array.from({ length: count }, (_, i) => `/dev/sd${'abcdef'[i]}`);
    const [type] = parseServerTypes(
      oneType('x', `boot_disk: ${JSON.stringify(disks)}`, 'management_nic: eno1', `filesystem: ${filesystem}`, `raid: ${raid}`),
      FILE,
    );
    expect(type).toMatchObject({ filesystem, raid, bootDisks: disks });
  });

  it.each([
    ['missing boot_disk', oneType('x', 'management_nic: eno1'), [
      'server_types.x.boot_disk: required: a disk like /dev/nvme0n1, or a list of disks for ZFS/Btrfs RAID, got null',
    ]],
    ['an empty boot_disk list', oneType('x', 'boot_disk: []', 'management_nic: eno1'), [
      'server_types.x.boot_disk: required: a disk like /dev/nvme0n1, or a list of disks for ZFS/Btrfs RAID, got []',
    ]],
    ['the same disk twice', oneType('x', 'boot_disk: [/dev/sda, /dev/sda]', 'management_nic: eno1', 'filesystem: zfs', 'raid: raid1'), [
      'server_types.x.boot_disk: lists the same disk twice',
    ]],
    ['missing management_nic', oneType('x', 'boot_disk: /dev/sda'), [
      'server_types.x.management_nic: required: the NIC name on this hardware, e.g. enp2s0',
    ]],
    ['raid on ext4', oneType('x', 'boot_disk: /dev/sda', 'management_nic: eno1', 'raid: raid0'), [
      'server_types.x.raid: only applies to filesystem zfs or btrfs, not ext4',
    ]],
    ['raid1 with one disk', oneType('x', 'boot_disk: /dev/sda', 'management_nic: eno1', 'filesystem: zfs', 'raid: raid1'), [
      'server_types.x.raid: raid1 needs at least 2 disks in boot_disk, got 1',
    ]],
    ['raidz-2 on btrfs', oneType('x', 'boot_disk: [/dev/sda, /dev/sdb, /dev/sdc, /dev/sdd]', 'management_nic: eno1', 'filesystem: btrfs', 'raid: raidz-2'), [
      'server_types.x.raid: expected one of raid0, raid1, raid10, got "raidz-2"',
    ]],
    ['a bad filesystem', oneType('x', 'boot_disk: /dev/sda', 'management_nic: eno1', 'filesystem: ntfs'), [
      'server_types.x.filesystem: expected one of ext4, xfs, zfs, btrfs, got "ntfs"',
    ]],
    ['ext4 with 2 disks', oneType('x', 'boot_disk: [/dev/sda, /dev/sdb]', 'management_nic: eno1'), [
      'server_types.x.boot_disk: ext4 installs to exactly one disk; use zfs or btrfs for several',
    ]],
    ['a bad hostname_prefix', oneType('x', 'boot_disk: /dev/sda', 'management_nic: eno1', 'hostname_prefix: PVE_MS'), [
      'server_types.x.hostname_prefix: must be a DNS label: lower-case letters, digits and "-", not starting or ending with "-", got "PVE_MS"',
    ]],
    ['a bad management_nic', oneType('x', 'boot_disk: /dev/sda', 'management_nic: "enp 2s0"'), [
      'server_types.x.management_nic: expected an interface name like enp2s0, got "enp 2s0"',
    ]],
    ['an unknown key', oneType('x', 'boot_disk: /dev/sda', 'management_nic: eno1', 'dispaly_name: X'), [
      `server_types.x.dispaly_name: ${unknownKey}`,
    ]],
    ['an unknown top-level key', 'server_type:\n  x: {}\n', [`server_type: ${unknownKey}`]],
    ['a bad type key', oneType('MS-01', 'boot_disk: /dev/sda', 'management_nic: eno1'), [
      'server_types.MS-01: server type keys must be lower-case letters, digits, ".", "_" or "-" (at most 63)',
    ]],
    ['a type that is not a mapping', 'server_types:\n  x: 5\n', [
      'server_types.x: expected a mapping of keys, got 5',
      'server_types.x.boot_disk: required: a disk like /dev/nvme0n1, or a list of disks for ZFS/Btrfs RAID, got null',
      'server_types.x.management_nic: required: the NIC name on this hardware, e.g. enp2s0',
    ]],
    ['a YAML syntax error', 'server_types:\n  x:\n    boot_disk: "/dev/sda\n', [
      'YAML syntax error at line 4, column 1: Missing closing "quote',
    ]],
    ['an empty management_nic', oneType('x', 'boot_disk: /dev/sda', 'management_nic:'), ['server_types.x.management_nic: required: the NIC name on this hardware, e.g. enp2s0']],
    ['a list as the root', '- x\n', ['expected a YAML mapping at the top level, got a list']],
  ])('rejects %s with its exact message', (_name, text, problems) => {
    const err = configError(() => parseServerTypes(text, FILE));
    expect(err.code).toBe('invalid_config');
    expect(err.file).toBe(FILE);
    expect(err.problems).toEqual(problems);
    expect(err.message).toBe(problems.map((p) => `${FILE}: ${p}`).join('\n'));
  });

  it('lists the problems of every type in one error', () => {
    const text = [
      'server_types:',
      '  a:',
      '    management_nic: eno1',
      '  b:',
      '    boot_disk: /dev/sda',
      '    management_nic: eno1',
      '    filesystem: ntfs',
    ].join('\n');
    const err = configError(() => parseServerTypes(text, FILE));
    expect(err.problems).toEqual([
      'server_types.a.boot_disk: required: a disk like /dev/nvme0n1, or a list of disks for ZFS/Btrfs RAID, got null',
      'server_types.b.filesystem: expected one of ext4, xfs, zfs, btrfs, got "ntfs"',
    ]);
  });
});

describe('loadServerTypes', () => {
  it('reads the example file from disk', () => {
    expect(loadServerTypes(exampleFile).map((t) => t.key)).toEqual(['minisforum-ms-01', 'minisforum-um790']);
  });

  it('throws a ConfigError naming the file and ENOENT when the file is missing', () => {
    const file = join(resolve(__dirname), 'no-such-server-types.yaml');
    const err = configError(() => loadServerTypes(file));
    expect(err.file).toBe(file);
    expect(err.message).toBe(`${file}: cannot read the file: ENOENT`);
  });
});

describe('ServerTypeRegistry', () => {
  let dir: ReturnType<typeof tempDir>;
  let file: string;
  let registry: ServerTypeRegistry | null;

  beforeEach(() => {
    dir = tempDir();
    file = join(dir.path, 'server-types.yaml');
    writeFileSync(file, exampleText);
    registry = null;
  });
  afterEach(() => {
    registry?.close();
    dir.remove();
  });

  function nextEvent(reg: ServerTypeRegistry): Promise<['reloaded', ServerType[]] | ['rejected', ConfigError]> {
    return new Promise((resolvePromise) => {
      const onReloaded = (types: ServerType[]) => {
        reg.off('rejected', onRejected);
        resolvePromise(['reloaded', types]);
      };
      const onRejected = (err: ConfigError) => {
        reg.off('reloaded', onReloaded);
        resolvePromise(['rejected', err]);
      };
      reg.once('reloaded', onReloaded);
      reg.once('rejected', onRejected);
    });
  }

  it('loads the file on construction, sorted by key', () => {
    registry = new ServerTypeRegistry(file);
    expect(registry.list().map((t) => t.key)).toEqual(['minisforum-ms-01', 'minisforum-um790']);
    expect(registry.get('minisforum-um790')?.filesystem).toBe('ext4');
    expect(registry.get('nope')).toBeUndefined();
  });

  it('reloads a valid edit and emits reloaded', async () => {
    const reg = (registry = new ServerTypeRegistry(file));
    reg.watch();
    const event = nextEvent(reg);
    writeFileSync(file, exampleText + extraType + '\n');
    const [kind, payload] = await event;
    expect(kind).toBe('reloaded');
    expect((payload as ServerType[]).map((t) => t.key)).toEqual(['beelink-ser8', 'minisforum-ms-01', 'minisforum-um790']);
    expect(reg.get('beelink-ser8')).toMatchObject({ filesystem: 'btrfs', raid: 'raid1', bootDisks: ['/dev/nvme0n1', '/dev/nvme1n1'] });
  });

  it('rejects an invalid edit and keeps the previous set in force', async () => {
    const reg = (registry = new ServerTypeRegistry(file));
    const before = reg.list();
    reg.watch();
    const event = nextEvent(reg);
    writeFileSync(file, exampleText.replace('filesystem: zfs', 'filesystem: ntfs'));
    const [kind, payload] = await event;
    expect(kind).toBe('rejected');
    expect(payload).toBeInstanceOf(ConfigError);
    expect((payload as ConfigError).file).toBe(file);
    expect((payload as ConfigError).problems).toEqual([
      'server_types.minisforum-ms-01.filesystem: expected one of ext4, xfs, zfs, btrfs, got "ntfs"',
      // raid is then read against the ext4 fallback
      'server_types.minisforum-ms-01.raid: only applies to filesystem zfs or btrfs, not ext4',
    ]);
    expect(reg.list()).toEqual(before);
    expect(reg.get('minisforum-ms-01')?.filesystem).toBe('zfs');
  });

  it('picks up an atomic replace (write a temp file, rename over the target)', async () => {
    const reg = (registry = new ServerTypeRegistry(file));
    reg.watch();
    const event = nextEvent(reg);
    const temp = join(dir.path, '.server-types.yaml.tmp');
    writeFileSync(temp, exampleText + extraType + '\n');
    renameSync(temp, file);
    const [kind] = await event;
    expect(kind).toBe('reloaded');
    expect(reg.get('beelink-ser8')).toBeDefined();
    expect(reg.list()).toHaveLength(3);
  });

  it('recovers with the next valid edit after a rejected one', async () => {
    const reg = (registry = new ServerTypeRegistry(file));
    reg.watch();
    let event = nextEvent(reg);
    writeFileSync(file, 'server_types: [\n');
    expect((await event)[0]).toBe('rejected');
    event = nextEvent(reg);
    writeFileSync(file, exampleText + extraType + '\n');
    expect((await event)[0]).toBe('reloaded');
    expect(reg.get('beelink-ser8')).toBeDefined();
  });
});
