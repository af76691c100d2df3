import { EventEmitter } from 'node:events';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { parseDocument } from 'yaml';
import { hostnameProblem } from '../domain/hostname';
import { btrfsRaidLevels, filesystems, minDisks, raidLevels, type Filesystem, type RaidLevel } from '../domain/installer-rules';
import { ConfigError, Reader, yamlErrorLines } from './reader';

/** One kind of hardware, as in server-types.yaml. */
export interface ServerType {
  key: string; // minisforum-ms-01
  displayName: string; // Minisforum MS-01
  bootDisks: string[]; // ["/dev/nvme0n1"] (boot_disk: one disk or a list)
  managementNic: string; // enp2s0
  gpu: boolean;
  hostnamePrefix: string; // pve-ms
  filesystem: Filesystem; // ext4 unless set
  raid: RaidLevel | null; // zfs/btrfs only; raid0 with one disk unless set
  image: string | null; // name of the boot image under the images directory; null → the newest
}

/** Parses server-types.yaml text; throws ConfigError naming the file and every bad key. */
export function parseServerTypes(text: string, file: string): ServerType[] {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(file, yamlErrorLines(doc.errors));
  }
  const problems: string[] = [];
  const root = Reader.root(doc.toJS(), problems, 'deploy/server-types.example.yaml');
  const types = root.section('server_types');
  root.rejectUnknown();
  const result: ServerType[] = [];
  for (const key of types.keys()) {
    if (!/^[a-z0-9][a-z0-9._-]{0,62}$/.test(key)) {
      types.problem(key, 'server type keys must be lower-case letters, digits, ".", "_" or "-" (at most 63)');
      types.raw(key);
      continue;
    }
    const t = types.section(key);
    const displayName = t.string('display_name', key);
    const rawDisks = t.raw('boot_disk');
    let bootDisks: string[] = [];
    if (typeof rawDisks === 'string' && rawDisks.trim() !== '') bootDisks = [rawDisks.trim()];
    else if (Array.isArray(rawDisks) && rawDisks.length > 0 && rawDisks.every((d) => typeof d === 'string' && d.trim() !== '')) {
      bootDisks = rawDisks.map((d: string) => d.trim());
      if (new Set(bootDisks).size !== bootDisks.length) t.problem('boot_disk', 'lists the same disk twice');
    } else {
      t.problem('boot_disk', `required: a disk like /dev/nvme0n1, or a list of disks for ZFS/Btrfs RAID, got ${JSON.stringify(rawDisks ?? null)}`);
    }
    const managementNic = t.string('management_nic', '', (v) =>
      /^[A-Za-z0-9_.-]{1,15}$/.test(v) ? null : `expected an interface name like enp2s0, got ${JSON.stringify(v)}`,
    );
    if (managementNic === '' && !t.hasProblem('management_nic')) t.problem('management_nic', 'required: the NIC name on this hardware, e.g. enp2s0');
    const gpu = t.boolean('gpu', false);
    const hostnamePrefix = t.string('hostname_prefix', '', (v) => {
      const problem = hostnameProblem(v);
      return problem === null ? null : `${problem}, got ${JSON.stringify(v)}`;
    });
    const filesystem = t.oneOf('filesystem', filesystems, 'ext4');
    const raidRaw = t.raw('raid');
    let raid: RaidLevel | null = null;
    if (filesystem === 'zfs' || filesystem === 'btrfs') {
      raid = t.oneOf('raid', filesystem === 'btrfs' ? btrfsRaidLevels : raidLevels, 'raid0');
      const need = minDisks[raid];
      if (bootDisks.length > 0 && bootDisks.length < need) {
        t.problem('raid', `${raid} needs at least ${need} disks in boot_disk, got ${bootDisks.length}`);
      }
    } else {
      if (raidRaw !== undefined) t.problem('raid', `only applies to filesystem zfs or btrfs, not ${filesystem}`);
      if (bootDisks.length > 1) t.problem('boot_disk', `${filesystem} installs to exactly one disk; use zfs or btrfs for several`);
    }
    const image = t.string('image', '') || null;
    t.rejectUnknown();
    result.push({ key, displayName, bootDisks, managementNic, gpu, hostnamePrefix, filesystem, raid, image });
  }
  if (problems.length > 0) throw new ConfigError(file, problems);
  return result;
}

/** Reads and parses a server-types file; throws ConfigError. */
export function loadServerTypes(file: string): ServerType[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read the file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  return parseServerTypes(text, file);
}

interface RegistryEvents {
  reloaded: [types: ServerType[]];
  rejected: [error: ConfigError];
}

/**
 * The live set of server types. watch() reloads the file when it changes; a bad edit is reported
 * through 'rejected' and the last good set stays in force.
 */
export class ServerTypeRegistry extends EventEmitter<RegistryEvents> {
  private types: ReadonlyMap<string, ServerType>;
  private watcher: FSWatcher | null = null;
  private pending: NodeJS.Timeout | null = null;
  private lastText: string | null = null;

  constructor(
    readonly file: string,
    initial: ServerType[] = loadServerTypes(file),
  ) {
    super();
    this.types = new Map(initial.map((t) => [t.key, t]));
  }

  /** Every server type, sorted by key. */
  list(): ServerType[] {
    return [...this.types.values()].sort((a, b) => a.key.localeCompare(b.key));
  }

  get(key: string): ServerType | undefined {
    return this.types.get(key);
  }

  /** Re-reads the file now; swaps the set only if it is valid. */
  reload(): void {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      this.emit('rejected', new ConfigError(this.file, [`cannot read the file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]));
      return;
    }
    if (text === this.lastText) return;
    this.lastText = text;
    try {
      const types = parseServerTypes(text, this.file);
      this.types = new Map(types.map((t) => [t.key, t]));
      this.emit('reloaded', this.list());
    } catch (err) {
      if (err instanceof ConfigError) this.emit('rejected', err);
      else throw err;
    }
  }

  /** Watches the file's directory (editors replace files by rename) and reloads shortly after a change. */
  watch(): void {
    if (this.watcher) return;
    this.lastText = safeRead(this.file);
    const name = basename(this.file);
    this.watcher = watch(dirname(this.file), (_event, changed) => {
      if (changed !== null && changed !== name) return;
      if (this.pending) clearTimeout(this.pending);
      this.pending = setTimeout(() => {
        this.pending = null;
        this.reload();
      }, 100);
    });
    // The folder vanishing (or similar) must not crash the service: keep the last good set.
    this.watcher.on('error', (err) => this.emit('rejected', new ConfigError(this.file, [`cannot watch the file any more: ${err.message}`])));
  }

  close(): void {
    this.watcher?.close();
    this.watcher = null;
    if (this.pending) clearTimeout(this.pending);
    this.pending = null;
  }
}

function safeRead(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}
