// Real: SQLite file and the stores over it, the image folder, boot tokens. Fake: the server types (a map, so a test
// can define one the YAML loader would refuse or remove one) and `rebuilds.deliver`, the boundary to Temporal, which
// records each delivery with what the stores held at that moment.
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parse } from 'smol-toml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BootService, type BootRequest, type BootServiceDeps } from '../../src/boot/boot-service';
import { renderLocalBootScript } from '../../src/boot/ipxe-script';
import type { InstallSettings } from '../../src/config/load-config';
import type { ServerType } from '../../src/config/server-types';
import { InvalidInputError, NoActiveRebuildError } from '../../src/domain/errors';
import type { HostState } from '../../src/domain/host-state-machine';
import { parseMac } from '../../src/domain/mac-address';
import { rebuildKeyId, rebuildWorkflowId } from '../../src/domain/rebuild-ids';
import { BootTokens } from '../../src/gateway/boot-tokens';
import { ImageLibrary, imageMetadataFile, imageMetadataJson } from '../../src/images/image-library';
import { imageTokenSha256 } from '../../src/images/image-token';
import { createLogger } from '../../src/logging';
import type { BootSignalArgs } from '../../src/domain/rebuild';
import { openDatabase, type Database } from '../../src/store/database';
import { HostStore } from '../../src/store/host-store';
import { OperationStore } from '../../src/store/operation-store';
import { PxeAllowList } from '../../src/store/pxe-allow-list';
import { RebuildKeyStore } from '../../src/store/rebuild-key-store';
import { tempDir } from '../helpers/temp-dir';

const publicKey = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests0000000000000000000000000000 provisioning-rebuild';
const msOne: ServerType = {
  key: 'minisforum-ms-01',
  displayName: 'Minisforum MS-01',
  bootDisks: ['/dev/nvme0n1'],
  managementNic: 'enp2s0',
  gpu: false,
  hostnamePrefix: 'pve-ms',
  filesystem: 'zfs',
  raid: null,
  image: null,
};
const goodInstall: InstallSettings = { domain: 'lab.example', country: 'us', keyboard: 'en-us', timezone: 'UTC', mailto: 'ops@lab.example' };

interface Delivery {
  hostId: number;
  kind: keyof BootSignalArgs;
  payload: unknown;
  pxeAllowed: boolean; // the host's MAC was still on the PXE allow-list when the signal went out
  ipAddress: string | null; // the host's recorded IP when the signal went out
}

let dir: ReturnType<typeof tempDir>;
let db: Database;
let hosts: HostStore;
let operations: OperationStore;
let keys: RebuildKeyStore;
let pxeAllowList: PxeAllowList;
let images: ImageLibrary;
let tokens: BootTokens;
let types: Map<string, ServerType>;
let delivered: Delivery[];
let deliverFailure: Error | null;
let logLines: Record<string, unknown>[];
let req: BootRequest;

function service(overrides: Partial<BootServiceDeps> = {}): BootService {
  return new BootService(
    {
      hosts,
      operations,
      pxeAllowList,
      keys,
      serverTypes: { get: (key) => types.get(key) },
      images,
      tokens,
      rebuilds: {
        deliver: async (hostId, kind, payload) => {
          if (deliverFailure) throw deliverFailure;
          const host = hosts.get(hostId);
          delivered.push({ hostId, kind, payload, pxeAllowed: pxeAllowList.find(host.mac) !== undefined, ipAddress: host.ipAddress });
        },
      },
      publicUrl: 'http://192.168.1.100:8080',
      install: goodInstall,
      rootPasswordHash: '$6$salt$hash',
      firstBootDeadlineSeconds: 60,
      ...overrides,
    },
    () => new Date('2026-03-01T12:00:00.000Z'),
  );
}

beforeEach(() => {
  dir = tempDir();
  db = openDatabase(join(dir.path, 'provisioning.db'));
  hosts = new HostStore(db);
  operations = new OperationStore(db);
  const secret = randomBytes(32);
  keys = new RebuildKeyStore(db, secret);
  pxeAllowList = new PxeAllowList(db);
  mkdirSync(join(dir.path, 'images'));
  images = new ImageLibrary(join(dir.path, 'images'), 0);
  addImage('pve-9.1');
  tokens = new BootTokens(secret);
  types = new Map([[msOne.key, msOne]]);
  delivered = [];
  deliverFailure = null;
  logLines = [];
  const sink = new Writable({ write: (chunk, _enc, done) => { logLines.push(JSON.parse(chunk.toString())); done(); } });
  req = { log: createLogger('debug', sink), remoteAddress: '192.168.1.53' };
});

afterEach(() => {
  db.close();
  dir.remove();
});

function addImage(name: string) {
  mkdirSync(join(images.dir, name));
  for (const f of ['vmlinuz', 'initrd.img', `proxmox-ve_${name}-auto-from-http.iso`]) writeFileSync(join(images.dir, name, f), f);
}

/** An image as prepareImage leaves it for a 9.2+ ISO: its image.json keeps the SHA-256 of the answer token. */
function addTokenImage(name: string, token: string) {
  addImage(name);
  const iso = `proxmox-ve_${name}-auto-from-http.iso`;
  writeFileSync(
    join(images.dir, name, imageMetadataFile),
    imageMetadataJson({
      product: 'pve', productLong: 'Proxmox VE', release: '9.2', isorelease: '1', isoUuid: null,
      source: { file: 'proxmox-ve_9.2-1.iso', size: 1, sha256: '0'.repeat(64) }, preparedAt: '2026-03-01T12:00:00.000Z',
      answerUrl: 'http://192.168.1.100:8080/api/boot/answer', certFingerprint: null, tokenSha256: imageTokenSha256(token),
      files: { kernel: 'vmlinuz', initrd: 'initrd.img', iso },
    }),
  );
}

/** A host in a running rebuild at `state`, as the workflow leaves it: operation, rebuild key, PXE allowance. */
function rebuilding(hostname: string, mac: string, state: HostState = 'pxe_ready', options: { key?: false; operation?: false } = {}) {
  const host = hosts.create({ hostname, mac: parseMac(mac), serverType: msOne.key });
  const runId = `run-${hostname}`;
  const operation = options.operation === false ? undefined : operations.ensure(host.id, rebuildWorkflowId(host.id), runId);
  if (operation && options.key !== false) keys.save({ id: rebuildKeyId(runId), workflowId: rebuildWorkflowId(host.id), operationId: operation.id, publicKey, privateKey: 'x' });
  hosts.transition(host.id, 'pxe_ready');
  const path: HostState[] = ['pxe_booted', 'installing', 'installed', 'first_boot'];
  for (const s of path.slice(0, path.indexOf(state) + 1)) hosts.transition(host.id, s);
  if (state === 'pxe_ready' || state === 'pxe_booted') pxeAllowList.allow(parseMac(mac), host.id, rebuildWorkflowId(host.id));
  return { id: host.id, operationId: operation?.id, token: tokens.tokenFor(runId) };
}

/** Every history entry of the host: its operations' and its own. */
const historyOf = (hostId: number) =>
  operations
    .listForHost(hostId)
    .flatMap((o) => operations.events(o.id))
    .concat(operations.hostEvents(hostId))
    .map((e) => ({ kind: e.kind, message: e.message }));

describe('BootService.pxeScript', () => {
  it('boots the local disk for an unknown MAC, says why, and delivers nothing', async () => {
    const result = await service().pxeScript('aa:bb:cc:dd:ee:99', req);
    expect(result).toEqual({ kind: 'local-disk', script: renderLocalBootScript(), reason: 'unknown MAC' });
    expect(delivered).toEqual([]);
    expect(logLines.at(-1)).toMatchObject({ msg: 'PXE request answered with local boot', mac: 'aa:bb:cc:dd:ee:99', reason: 'unknown MAC' });
  });

  it('boots the local disk for a path that is not a MAC, quoting it in the reason', async () => {
    const result = await service().pxeScript('not-a-mac', req);
    expect(result).toEqual({ kind: 'local-disk', script: renderLocalBootScript(), reason: 'not a MAC address: "not-a-mac"' });
  });

  it('serves the installer with the image URLs to a host whose rebuild awaits PXE, and delivers pxeBooted once', async () => {
    const { id } = rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03');
    const result = await service().pxeScript('AA-BB-CC-DD-EE-03', req);
    expect(result.kind).toBe('install');
    expect(result.script).toContain('kernel http://192.168.1.100:8080/images/pve-9.1/vmlinuz ramdisk_size=16777216');
    expect(result.script).toContain('initrd http://192.168.1.100:8080/images/pve-9.1/initrd.img\n');
    expect(result.script).toContain('initrd http://192.168.1.100:8080/images/pve-9.1/proxmox-ve_pve-9.1-auto-from-http.iso proxmox.iso');
    expect(delivered).toEqual([{ hostId: id, kind: 'pxeBooted', payload: { at: '2026-03-01T12:00:00.000Z', remoteAddress: '192.168.1.53' }, pxeAllowed: true, ipAddress: null }]);
    hosts.transition(id, 'pxe_booted'); // the rebuild recorded the boot; a firmware retry is not news
    expect((await service().pxeScript('aa:bb:cc:dd:ee:03', req)).kind).toBe('install');
    expect(delivered).toHaveLength(1);
  });

  it('boots the local disk for a host whose PXE allowance belongs to another rebuild', async () => {
    const { id } = rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03');
    pxeAllowList.allow(parseMac('aa:bb:cc:dd:ee:03'), id, rebuildWorkflowId(id + 1)); // a stale allowance
    const result = await service().pxeScript('aa:bb:cc:dd:ee:03', req);
    expect(result).toMatchObject({ kind: 'local-disk', reason: `PXE allowance belongs to ${rebuildWorkflowId(id + 1)}, not to pve-ms-03's rebuild` });
    expect(delivered).toEqual([]);
  });

  it("boots the local disk when the server type's image is missing, naming the image in the history", async () => {
    const { id } = rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03');
    types.set(msOne.key, { ...msOne, image: 'pve-8.4' });
    const result = await service().pxeScript('aa:bb:cc:dd:ee:03', req);
    const reason = `no boot image named pve-8.4 in ${images.dir}`;
    expect(result).toEqual({ kind: 'local-disk', script: renderLocalBootScript(), reason });
    expect(historyOf(id)).toContainEqual({ kind: 'boot_local', message: `PXE request from aa:bb:cc:dd:ee:03 answered with "boot from local disk": ${reason}` });
    expect(delivered).toEqual([]);
  });

  it('boots the local disk when the rebuild cannot be told about the boot', async () => {
    rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03');
    deliverFailure = new NoActiveRebuildError(1);
    const result = await service().pxeScript('aa:bb:cc:dd:ee:03', req);
    expect(result).toMatchObject({ kind: 'local-disk', script: renderLocalBootScript() });
    expect(logLines.at(-1)).toMatchObject({ level: 50, msg: 'could not deliver pxeBooted; answering with local boot' });
  });
});

describe('BootService.answer', () => {
  it('serves the answer with the rebuild key and token URLs, and delivers answerServed', async () => {
    const { id, token } = rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03', 'pxe_booted');
    const result = await service().answer(['58:47:CA:00:00:01', 'AA:BB:CC:DD:EE:03'], req);
    if (result.kind !== 'answer') throw new Error(`expected an answer, got ${JSON.stringify(result)}`);
    const answer = parse(result.toml) as Record<string, Record<string, unknown>>;
    expect(answer.global).toMatchObject({ fqdn: 'pve-ms-03.lab.example', 'root-ssh-keys': [publicKey] });
    expect(answer['post-installation-webhook']).toEqual({ url: `http://192.168.1.100:8080/api/hosts/${id}/installed?token=${token}` });
    expect(delivered.map((d) => [d.hostId, d.kind])).toEqual([[id, 'answerServed']]);
    // Each serving is recorded with where it went: the join sends the password only after a single one.
    expect(historyOf(id)).toContainEqual({ kind: 'answer_served', message: 'answer file served to 192.168.1.53' });
  });

  it('refuses with 404 when no registered host has any of the MACs', async () => {
    expect(await service().answer(['aa:bb:cc:dd:ee:20', 'nonsense'], req)).toEqual({
      kind: 'refused',
      status: 404,
      text: 'provisioning: no rebuild is waiting for an answer file for aa:bb:cc:dd:ee:20: no registered host has any of these MACs\n',
    });
  });

  it.each<[string, { operation?: false; key?: false; serverTypeGone?: true }, string]>([
    ['no running operation', { operation: false }, 'its rebuild has no operation record'],
    ['a missing rebuild key', { key: false }, 'its rebuild key is missing'],
    ['a server type no longer defined', { serverTypeGone: true }, 'server type minisforum-ms-01 is no longer defined'],
  ])('refuses with 404 for a host with %s, naming why, and delivers nothing', async (_name, situation, why) => {
    rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03', 'pxe_booted', situation);
    if (situation.serverTypeGone) types.delete(msOne.key);
    expect(await service().answer(['aa:bb:cc:dd:ee:03'], req)).toEqual({ kind: 'refused', status: 404, text: `provisioning: cannot build an answer file for pve-ms-03: ${why}\n` });
    expect(delivered).toEqual([]);
  });

  it.each<[string, Partial<BootServiceDeps>, ServerType, string]>([
    ['install settings the installer rejects', { install: { ...goodInstall, mailto: 'mail@example.invalid' } }, msOne, 'global.mailto: must be an e-mail address other than mail@example.invalid'],
    ['a server type with ext4 on two disks', {}, { ...msOne, filesystem: 'ext4', bootDisks: ['/dev/sda', '/dev/sdb'] }, 'disk-setup.disk-list: ext4 installs to exactly one disk, got 2'],
  ])('refuses with 500 an answer built from %s, records answer_invalid and delivers nothing', async (_name, overrides, serverType, problem) => {
    const { id } = rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03', 'pxe_booted');
    types.set(msOne.key, serverType);
    const result = await service(overrides).answer(['aa:bb:cc:dd:ee:03'], req);
    expect(result).toEqual({ kind: 'refused', status: 500, text: `provisioning: the answer file for pve-ms-03 is invalid: ${problem}\n` });
    expect(historyOf(id)).toContainEqual({ kind: 'answer_invalid', message: `answer file for pve-ms-03 failed validation: ${problem}` });
    expect(delivered).toEqual([]);
  });
});

describe('BootService.answer and the image token', () => {
  const tokenA = 'provisioning:secret-of-image-a';
  const tokenB = 'provisioning:secret-of-image-b';
  beforeEach(() => {
    addTokenImage('pve-9.2-a', tokenA);
    types.set(msOne.key, { ...msOne, image: 'pve-9.2-a' });
  });

  it('serves the answer to a host that sends the token of the image it was served', async () => {
    const { id } = rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03');
    expect((await service().pxeScript('aa:bb:cc:dd:ee:03', req)).kind).toBe('install');
    expect(historyOf(id)).toContainEqual({ kind: 'installer_served', message: 'served the installer of image pve-9.2-a' });
    hosts.transition(id, 'pxe_booted');
    const result = await service().answer(['AA:BB:CC:DD:EE:03'], req, { bearerToken: tokenA });
    expect(result.kind).toBe('answer');
  });

  it.each<[string, string | null, string]>([
    ['no Authorization header', null, 'image pve-9.2-a carries an answer token, but the request sent no Authorization: Bearer header'],
    ['the token of another image', tokenB, 'the Bearer token is not the one of image pve-9.2-a'],
    ['a token that is nobody\'s', 'provisioning:guess', 'the Bearer token is not the one of image pve-9.2-a'],
  ])('refuses with 403 "refused" and nothing more for %s; the history says why', async (_name, bearer, why) => {
    addTokenImage('pve-9.2-b', tokenB);
    const { id } = rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03');
    await service().pxeScript('aa:bb:cc:dd:ee:03', req);
    hosts.transition(id, 'pxe_booted');
    delivered = [];
    expect(await service().answer(['AA:BB:CC:DD:EE:03'], req, { bearerToken: bearer })).toEqual({ kind: 'refused', status: 403, text: 'refused\n' });
    expect(historyOf(id)).toContainEqual({ kind: 'answer_refused', message: `answer request for pve-ms-03 refused: ${why}` });
    expect(delivered).toEqual([]);
    expect(JSON.stringify(logLines)).not.toContain('secret-of-image');
  });

  it('holds a host to the image it was served, not the one a newer boot would get', async () => {
    const { id } = rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03');
    await service().pxeScript('aa:bb:cc:dd:ee:03', req);
    hosts.transition(id, 'pxe_booted');
    addTokenImage('pve-9.2-b', tokenB);
    types.set(msOne.key, { ...msOne, image: 'pve-9.2-b' }); // the operator re-pins the type meanwhile
    expect((await service().answer(['aa:bb:cc:dd:ee:03'], req, { bearerToken: tokenB })).kind).toBe('refused');
    expect((await service().answer(['aa:bb:cc:dd:ee:03'], req, { bearerToken: tokenA })).kind).toBe('answer');
  });

  it('records the image again only when a later PXE boot is served another one', async () => {
    const { id } = rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03');
    await service().pxeScript('aa:bb:cc:dd:ee:03', req);
    await service().pxeScript('aa:bb:cc:dd:ee:03', req);
    addTokenImage('pve-9.2-b', tokenB);
    types.set(msOne.key, { ...msOne, image: 'pve-9.2-b' });
    await service().pxeScript('aa:bb:cc:dd:ee:03', req);
    expect(historyOf(id).filter((e) => e.kind === 'installer_served').map((e) => e.message)).toEqual([
      'served the installer of image pve-9.2-a',
      'served the installer of image pve-9.2-b',
    ]);
    hosts.transition(id, 'pxe_booted');
    expect((await service().answer(['aa:bb:cc:dd:ee:03'], req, { bearerToken: tokenB })).kind).toBe('answer');
  });

  it('refuses when the image the host was served is gone', async () => {
    const { id } = rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03');
    await service().pxeScript('aa:bb:cc:dd:ee:03', req);
    hosts.transition(id, 'pxe_booted');
    rmSync(join(images.dir, 'pve-9.2-a'), { recursive: true });
    expect(await service().answer(['aa:bb:cc:dd:ee:03'], req, { bearerToken: tokenA })).toEqual({ kind: 'refused', status: 403, text: 'refused\n' });
    expect(historyOf(id)).toContainEqual({ kind: 'answer_refused', message: 'answer request for pve-ms-03 refused: image pve-9.2-a, which it was served, is gone' });
  });

  it('asks no token for an image without one (made by hand, or older than 9.2), whatever the header says', async () => {
    types.set(msOne.key, { ...msOne, image: 'pve-9.1' });
    const { id } = rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03');
    await service().pxeScript('aa:bb:cc:dd:ee:03', req);
    hosts.transition(id, 'pxe_booted');
    expect((await service().answer(['aa:bb:cc:dd:ee:03'], req)).kind).toBe('answer');
    expect((await service().answer(['aa:bb:cc:dd:ee:03'], req, { bearerToken: 'anything' })).kind).toBe('answer');
  });
});

describe('BootService.installed', () => {
  const webhook = (nics: { address?: string; 'is-management'?: boolean }[], hostKeys: Record<string, string> = {}) => ({
    'machine-id': '3f2a0c9d8e7b6a5f4e3d2c1b0a998877',
    'ssh-public-host-keys': hostKeys,
    'network-interfaces': nics,
    dmi: { system: { uuid: '4c4c4544-0042-3510-8052-b4c04f4e3732' } },
  });

  it('records the management address, valid host keys, machine-id and DMI uuid, and revokes PXE before delivering', async () => {
    const { id, token } = rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03', 'pxe_booted');
    const hostKeys = {
      ed25519: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKey root@pve-ms-03',
      ecdsa: 'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY= root@pve-ms-03',
      rsa: 'ssh-rsa',
      junk: 'not a key',
    };
    const nics = [{ address: '10.0.0.7/24' }, { 'is-management': true, address: '10.0.0.53/24' }];
    expect(await service().installed(id, token, webhook(nics, hostKeys), req)).toEqual({ kind: 'recorded' });
    const validKeys = { ed25519: hostKeys.ed25519, ecdsa: hostKeys.ecdsa };
    expect(hosts.get(id)).toMatchObject({ ipAddress: '10.0.0.53', machineId: '3f2a0c9d8e7b6a5f4e3d2c1b0a998877', hardwareId: '4c4c4544-0042-3510-8052-b4c04f4e3732', sshHostKeys: validKeys });
    expect(pxeAllowList.list()).toEqual([]);
    expect(delivered).toEqual([
      {
        hostId: id,
        kind: 'installed',
        payload: { at: '2026-03-01T12:00:00.000Z', remoteAddress: '192.168.1.53', managementAddress: '10.0.0.53/24', sshHostKeys: validKeys, machineId: '3f2a0c9d8e7b6a5f4e3d2c1b0a998877' },
        pxeAllowed: false,
        ipAddress: '10.0.0.53',
      },
    ]);
  });

  it('takes the first NIC with an address when none is marked as management', async () => {
    const { id, token } = rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03', 'installing');
    await service().installed(id, token, webhook([{}, { address: '10.0.0.9/24' }, { address: '10.0.0.10/24' }]), req);
    expect(hosts.get(id).ipAddress).toBe('10.0.0.9');
    expect(delivered[0]?.payload).toMatchObject({ managementAddress: '10.0.0.9/24' });
  });

  it("leaves a PXE allowance that is not this host's own rebuild alone", async () => {
    const { id, token } = rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03', 'installing');
    pxeAllowList.allow(parseMac('aa:bb:cc:dd:ee:03'), id, rebuildWorkflowId(id + 1)); // a stale allowance
    await service().installed(id, token, webhook([{ address: '10.0.0.53/24' }]), req);
    expect(pxeAllowList.list().map((a) => a.workflowId)).toEqual([rebuildWorkflowId(id + 1)]);
  });

  it.each([
    ['a missing token', undefined, 'missing boot token (the ?token= of the answer file URLs)'],
    ['a wrong token', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', "boot token is not the one of pve-ms-03's running rebuild"],
  ])('refuses %s and changes nothing', async (_name, token, message) => {
    const { id } = rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03', 'pxe_booted');
    expect(await service().installed(id, token, webhook([{ address: '10.0.0.53/24' }]), req)).toEqual({ kind: 'token-refused', message });
    expect(hosts.get(id).ipAddress).toBeNull();
    expect(pxeAllowList.list()).toHaveLength(1);
    expect(delivered).toEqual([]);
  });

  it('throws NoActiveRebuildError for a token of a finished rebuild', async () => {
    const { id, token, operationId } = rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03', 'installing');
    operations.finish(operationId!, { status: 'failed', reason: 'cancelled', message: 'x' });
    await expect(service().installed(id, token, webhook([]), req)).rejects.toBeInstanceOf(NoActiveRebuildError);
    expect(delivered).toEqual([]);
  });
});

describe('BootService.firstBootScript and phoneHome', () => {
  it('bakes the phone-home URL with the token into the first-boot script', () => {
    const { id, token } = rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03', 'installing');
    const result = service().firstBootScript(id, token);
    if (result.kind !== 'script') throw new Error(`expected a script, got ${JSON.stringify(result)}`);
    expect(result.script).toContain(`URL='http://192.168.1.100:8080/api/hosts/${id}/phone-home?token=${token}'`);
  });

  it('records the phoned-home IP and hardware id, then delivers phonedHome', async () => {
    const { id, token } = rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03', 'first_boot');
    expect(await service().phoneHome(id, token, { ip: ' 10.0.0.53 ', hardware_id: ' 4c4c4544 ' }, req)).toEqual({ kind: 'recorded' });
    expect(hosts.get(id)).toMatchObject({ ipAddress: '10.0.0.53', hardwareId: '4c4c4544' });
    expect(delivered).toEqual([{ hostId: id, kind: 'phonedHome', payload: { at: '2026-03-01T12:00:00.000Z', remoteAddress: '192.168.1.53', ip: '10.0.0.53', hardwareId: '4c4c4544' }, pxeAllowed: false, ipAddress: '10.0.0.53' }]);
  });

  it('rejects a phone-home whose ip is not an IP address, records nothing and delivers nothing', async () => {
    const { id, token } = rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03', 'first_boot');
    const attempt = service().phoneHome(id, token, { ip: 'pve.lan' }, req);
    await expect(attempt).rejects.toBeInstanceOf(InvalidInputError);
    await expect(attempt).rejects.toMatchObject({ field: 'ip', message: 'ip: expected an IP address, got "pve.lan"' });
    expect(hosts.get(id).ipAddress).toBeNull();
    expect(delivered).toEqual([]);
  });
});
