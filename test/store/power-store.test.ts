// Real: SQLite file (migrated), node:crypto. Nothing faked.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/domain/errors';
import { parseMac } from '../../src/domain/mac-address';
import { PowerError } from '../../src/power/types';
import { openDatabase, type Database } from '../../src/store/database';
import { FeedStore } from '../../src/store/feed-store';
import { HostStore } from '../../src/store/host-store';
import { OperationStore } from '../../src/store/operation-store';
import { PowerStore, powerEventKind } from '../../src/store/power-store';
import { tempDir } from '../helpers/temp-dir';

let dir: ReturnType<typeof tempDir>;
let db: Database;
afterEach(() => {
  db.close();
  dir.remove();
});

function setup(options: { pxeSubnet?: string } = {}) {
  dir = tempDir();
  const path = join(dir.path, 'p.db');
  db = openDatabase(path);
  const key = randomBytes(32);
  const hosts = new HostStore(db);
  const host = hosts.create({ hostname: 'pve-ms-03', mac: parseMac('aa:bb:cc:dd:ee:03'), serverType: 'minisforum-ms-01' });
  return { path, key, hosts, host, operations: new OperationStore(db), store: new PowerStore(db, key, options) };
}

const bmcPassword = 'Ex4mple-BMC-pw!';
const ipmi = { method: 'ipmi' as const, address: '192.168.1.210', port: 623, username: 'admin' };

describe('PowerStore', () => {
  it("answers 'manual' for a host whose power was never set", () => {
    const { store, host } = setup();
    expect(store.settings(host.id)).toEqual({ method: 'manual' });
    expect(store.target(host.id, host)).toEqual({ method: 'manual' });
    expect(store.settingsByHost().size).toBe(0);
  });

  it('stores IPMI settings: settings() says only that a password is set, target() decrypts it', () => {
    const { store, host } = setup();
    expect(store.set(host.id, { ...ipmi, password: bmcPassword })).toEqual({ ...ipmi, passwordSet: true });
    expect(store.settings(host.id)).toEqual({ ...ipmi, passwordSet: true });
    expect(JSON.stringify(store.settings(host.id))).not.toContain(bmcPassword);
    expect(store.target(host.id, host)).toEqual({ ...ipmi, password: bmcPassword });
    expect(store.settingsByHost()).toEqual(new Map([[host.id, { ...ipmi, passwordSet: true }]]));
  });

  it('keeps only ciphertext of the password in the database file', () => {
    const { store, host, path } = setup();
    store.set(host.id, { ...ipmi, password: bmcPassword });
    db.pragma('wal_checkpoint(TRUNCATE)');
    const onDisk = readFileSync(path).toString('latin1');
    expect(onDisk).toContain('192.168.1.210');
    expect(onDisk).not.toContain(bmcPassword);
    expect(onDisk).not.toContain(Buffer.from(bmcPassword).toString('base64'));
  });

  it('keeps the stored password when an update omits it, also across a change of address or to redfish', () => {
    const { store, host } = setup();
    store.set(host.id, { ...ipmi, password: bmcPassword });
    store.set(host.id, { ...ipmi, address: '192.168.1.211' });
    expect(store.target(host.id, host)).toEqual({ ...ipmi, address: '192.168.1.211', password: bmcPassword });
    store.set(host.id, { method: 'redfish', url: 'https://192.168.1.211', username: 'root', systemId: null, fingerprint: null, caFile: null });
    expect(store.target(host.id, host)).toMatchObject({ method: 'redfish', password: bmcPassword });
    store.set(host.id, { ...ipmi, password: 'new-password' });
    expect(store.target(host.id, host)).toMatchObject({ password: 'new-password' });
  });

  it('clears the password when the method changes to one without it', () => {
    const { store, host } = setup({ pxeSubnet: '192.168.1.0/24' });
    store.set(host.id, { ...ipmi, password: bmcPassword });
    expect(store.set(host.id, { method: 'wol', broadcast: null, port: 9 })).toEqual({ method: 'wol', broadcast: null, port: 9 });
    expect(db.prepare('SELECT password_enc FROM host_power WHERE host_id = ?').get(host.id)).toEqual({ password_enc: null });
    expect(() => store.set(host.id, ipmi)).toThrow(InvalidInputError);
  });

  it('refuses IPMI or Redfish without a password when none is stored, naming power.password', () => {
    const { store, host } = setup();
    let thrown: unknown;
    try {
      store.set(host.id, ipmi);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(InvalidInputError);
    expect(thrown).toMatchObject({ field: 'power.password', message: 'power.password: required for method ipmi (none is stored for this host)' });
    expect(store.settings(host.id)).toEqual({ method: 'manual' });
  });

  it("gives a WoL target the broadcast of pxe.subnet when none is set, and the host's MAC", () => {
    const { store, host } = setup({ pxeSubnet: '192.168.1.0/24' });
    store.set(host.id, { method: 'wol', broadcast: null, port: 9 });
    expect(store.target(host.id, host)).toEqual({ method: 'wol', mac: 'aa:bb:cc:dd:ee:03', broadcast: '192.168.1.255', port: 9 });
    store.set(host.id, { method: 'wol', broadcast: '192.168.1.127', port: 7 });
    expect(store.target(host.id, host)).toEqual({ method: 'wol', mac: 'aa:bb:cc:dd:ee:03', broadcast: '192.168.1.127', port: 7 });
  });

  it('fails a WoL target with neither a broadcast nor pxe.subnet as invalid_settings naming the host', () => {
    const { store, host } = setup();
    store.set(host.id, { method: 'wol', broadcast: null, port: 9 });
    expect(() => store.target(host.id, host)).toThrow(new PowerError('invalid_settings', 'pve-ms-03 (wol): no broadcast address: set power.broadcast or pxe.subnet'));
  });

  it("gives a proxmox target the host's hostname as node unless one is set", () => {
    const { store, host } = setup();
    store.set(host.id, { method: 'proxmox', node: null });
    expect(store.target(host.id, host)).toEqual({ method: 'proxmox', node: 'pve-ms-03' });
    store.set(host.id, { method: 'proxmox', node: 'pve3' });
    expect(store.target(host.id, host)).toEqual({ method: 'proxmox', node: 'pve3' });
  });

  it('goes back to manual', () => {
    const { store, host } = setup();
    store.set(host.id, { ...ipmi, password: bmcPassword });
    expect(store.set(host.id, { method: 'manual' })).toEqual({ method: 'manual' });
    expect(store.target(host.id, host)).toEqual({ method: 'manual' });
  });

  it('forgets the settings of a deleted host (cascade)', () => {
    const { store, host, hosts } = setup();
    store.set(host.id, { ...ipmi, password: bmcPassword });
    hosts.delete(host.id);
    expect(db.prepare('SELECT count(*) AS n FROM host_power').get()).toEqual({ n: 0 });
  });

  it('does not decrypt under another key-encryption key, nor a password copied to another host', () => {
    const { store, host, hosts, key } = setup();
    store.set(host.id, { ...ipmi, password: bmcPassword });
    expect(() => new PowerStore(db, randomBytes(32)).target(host.id, host)).toThrow(PowerError);
    expect(() => new PowerStore(db, randomBytes(32)).target(host.id, host)).toThrow(/does not decrypt under this key-encryption key/);
    const other = hosts.create({ hostname: 'pve-ms-04', mac: parseMac('aa:bb:cc:dd:ee:04'), serverType: 'minisforum-ms-01' });
    store.set(other.id, { ...ipmi, password: 'other' });
    db.prepare('UPDATE host_power SET password_enc = (SELECT password_enc FROM host_power WHERE host_id = ?) WHERE host_id = ?').run(host.id, other.id);
    expect(() => new PowerStore(db, key).target(other.id, other)).toThrow(/does not decrypt/);
  });

  it('tells the dashboard feed when the settings change', () => {
    const { store, host } = setup();
    const feed = new FeedStore(db);
    const before = feed.maxId();
    store.set(host.id, { method: 'proxmox', node: null });
    store.set(host.id, { method: 'manual' });
    expect(feed.since(before, 10).map((r) => [r.hostId, r.kind])).toEqual([
      [host.id, 'changed'],
      [host.id, 'changed'],
    ]);
  });

  describe('lastState', () => {
    it('is the on/off state of the latest power event that recorded one', () => {
      const { store, host, operations } = setup();
      expect(store.lastState(host.id)).toBeNull();
      operations.append({ hostId: host.id, kind: powerEventKind, message: 'power test', details: { action: 'test', powerState: 'off' } });
      expect(store.lastState(host.id)).toMatchObject({ state: 'off' });
      operations.append({ hostId: host.id, kind: 'state', message: 'something else', details: { powerState: 'on' } });
      expect(store.lastState(host.id)).toMatchObject({ state: 'off' });
      const on = operations.append({ hostId: host.id, kind: powerEventKind, message: 'power on', details: { action: 'on', powerState: 'on' } })!;
      operations.append({ hostId: host.id, kind: powerEventKind, message: 'power cycle failed', details: { action: 'cycle', result: 'failed' } });
      expect(store.lastState(host.id)).toEqual({ state: 'on', at: on.at });
    });

    it('is null when the latest power event could not tell (WoL)', () => {
      const { store, host, operations } = setup();
      operations.append({ hostId: host.id, kind: powerEventKind, message: 'power off', details: { powerState: 'off' } });
      operations.append({ hostId: host.id, kind: powerEventKind, message: 'magic packet sent', details: { powerState: 'unknown' } });
      expect(store.lastState(host.id)).toBeNull();
    });
  });
});
