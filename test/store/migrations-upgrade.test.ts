// Migrations are forward-only: a database of every earlier schema version, with the data that version wrote, opens
// at today's schema with that data intact. The fixtures (test/fixtures/databases/vN.db and what the stores must read
// back, vN.json) are made by make-fixtures.mjs there from the migrations as committed then, not from today's file.
// Real: copies of the fixture files in a temp dir, openDatabase and the stores.
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { Host } from '../../src/domain/host';
import { parseMac } from '../../src/domain/mac-address';
import { openDatabase, type Database } from '../../src/store/database';
import { FeedStore, type FeedRow } from '../../src/store/feed-store';
import { HostStore } from '../../src/store/host-store';
import { migrations } from '../../src/store/migrations';
import { OperationStore, type Operation, type OperationEvent } from '../../src/store/operation-store';
import type { PowerSettings } from '../../src/power/types';
import { PowerStore } from '../../src/store/power-store';
import { PxeAllowList, type PxeAllowance } from '../../src/store/pxe-allow-list';
import { RebuildKeyStore, type RebuildKeyRecord } from '../../src/store/rebuild-key-store';
import { AuditStore, type AuditEntry } from '../../src/store/audit-store';
import { StreamStore, type StreamEvent } from '../../src/store/stream-store';
import { tempDir } from '../helpers/temp-dir';

/** vN.json: what the version-N database holds, as the stores return it. */
interface Fixture {
  version: number;
  madeBy: string; // the commit whose migrations made the schema
  keyEncryptionKey: string; // hex; the rebuild keys are encrypted under it
  hosts: Host[]; // by hostname, as HostStore.list() returns them
  deletedHostIds: number[];
  operations: Record<string, Operation[]>; // by host id, newest first
  events: Record<string, OperationEvent[]>; // by operation id, oldest first
  hostEvents: Record<string, OperationEvent[]>; // by host id: events of no operation
  rebuildKeys: Array<RebuildKeyRecord & { privateKey: string }>;
  pxeAllowList: PxeAllowance[];
  feed: FeedRow[] | null; // from v2
  images: unknown[] | null; // v1 to v3; migration 4 drops the table nothing used
  power?: Array<{ hostId: number; settings: PowerSettings; password: string | null }> | null; // from v5 (absent before)
  audit?: AuditEntry[] | null; // from v6, newest first
  stream?: StreamEvent[] | null; // from v6, oldest first
}

const fixtures = resolve('test/fixtures/databases');
const latest = migrations.at(-1)!.version;
const versions = Array.from({ length: latest }, (_, i) => i + 1);
const readFixture = (version: number) => JSON.parse(readFileSync(join(fixtures, `v${version}.json`), 'utf8')) as Fixture;

let dir: ReturnType<typeof tempDir> | undefined;
let db: Database | undefined;
afterEach(() => {
  db?.close();
  db = undefined;
  dir?.remove();
});

/** A copy of vN.db in a temp dir, opened (and so upgraded) the way the service opens its database. */
function upgradedCopy(version: number): Database {
  dir = tempDir();
  const path = join(dir.path, 'provisioning.db');
  copyFileSync(join(fixtures, `v${version}.db`), path);
  db = openDatabase(path);
  return db;
}

/** The schema objects (tables, indexes, triggers) of a database, with the SQL that made them. */
function schemaOf(database: BetterSqlite3.Database): Array<{ type: string; name: string; sql: string | null }> {
  return database.prepare<[], { type: string; name: string; sql: string | null }>('SELECT type, name, sql FROM sqlite_master ORDER BY type, name').all();
}

describe('the database fixtures', () => {
  it(`cover every schema version up to today's (${latest}): a new migration needs a fixture of its own`, () => {
    const missing = versions.filter((v) => !existsSync(join(fixtures, `v${v}.db`)) || !existsSync(join(fixtures, `v${v}.json`)));
    expect(missing, 'run node test/fixtures/databases/make-fixtures.mjs (see its header)').toEqual([]);
  });

  it.each(versions)('v%i.db holds a schema that version wrote, with hosts in several states and rebuilds that ran, finished and failed', (version) => {
    const f = readFixture(version);
    // A copy: even a read-only connection leaves -wal and -shm files beside a WAL database.
    dir = tempDir();
    copyFileSync(join(fixtures, `v${version}.db`), join(dir.path, 'raw.db'));
    const raw = new BetterSqlite3(join(dir.path, 'raw.db'), { readonly: true, fileMustExist: true });
    try {
      expect(raw.pragma('user_version', { simple: true })).toBe(version);
      // The same objects, with the same SQL, as today's migrations 1..N make: a released migration was never edited.
      const today = openDatabase(':memory:', migrations.filter((m) => m.version <= version));
      expect(schemaOf(raw)).toEqual(schemaOf(today));
      today.close();
    } finally {
      raw.close();
    }
    expect(f.version).toBe(version);
    expect(new Set(f.hosts.map((h) => h.state))).toEqual(new Set(['registered', 'installing', 'ready', 'failed']));
    expect(new Set(Object.values(f.operations).flat().map((o) => o.status))).toEqual(new Set(['running', 'succeeded', 'failed']));
    expect(Object.values(f.events).flat().some((e) => e.details !== null)).toBe(true);
    expect(f.rebuildKeys.length).toBeGreaterThan(0);
    expect(f.pxeAllowList.length).toBeGreaterThan(0);
    expect(f.feed !== null).toBe(version >= 2);
    expect(f.images !== null).toBe(version <= 3);
    expect((f.power ?? null) !== null).toBe(version >= 5);
  });
});

describe.each(versions)('a v%i database, opened by this build', (version) => {
  it(`is upgraded to schema version ${latest}, whole and consistent`, () => {
    const upgraded = upgradedCopy(version);
    expect(upgraded.pragma('user_version', { simple: true })).toBe(latest);
    expect(upgraded.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(upgraded.pragma('foreign_key_check')).toEqual([]);
    const fresh = openDatabase(':memory:');
    expect(schemaOf(upgraded)).toEqual(schemaOf(fresh));
    fresh.close();
  });

  it('keeps every host with its state and facts, every operation and its history', () => {
    const f = readFixture(version);
    const upgraded = upgradedCopy(version);
    const hosts = new HostStore(upgraded);
    const operations = new OperationStore(upgraded);
    expect(hosts.list()).toMatchObject(f.hosts);
    for (const id of f.deletedHostIds) expect(hosts.find(id)).toBeUndefined();
    for (const host of f.hosts) {
      expect(operations.listForHost(host.id)).toMatchObject(f.operations[host.id]!);
      expect(operations.hostEvents(host.id)).toMatchObject(f.hostEvents[host.id]!);
    }
    for (const [operationId, events] of Object.entries(f.events)) expect(operations.events(Number(operationId))).toMatchObject(events);
    expect(operations.listRunning().map((o) => o.runId)).toEqual(Object.values(f.operations).flat().filter((o) => o.status === 'running').map((o) => o.runId));
  });

  it("keeps the rebuild keys, readable with that install's key-encryption key, and the PXE allow-list", () => {
    const f = readFixture(version);
    const upgraded = upgradedCopy(version);
    const keys = new RebuildKeyStore(upgraded, Buffer.from(f.keyEncryptionKey, 'hex'));
    expect(keys.list()).toMatchObject(f.rebuildKeys.map(({ privateKey: _, ...record }) => record));
    for (const key of f.rebuildKeys) {
      expect(keys.privateKey(key.id)).toBe(key.privateKey);
      expect(key.privateKey).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----/);
    }
    expect(new PxeAllowList(upgraded).list()).toMatchObject(f.pxeAllowList);
  });

  it('keeps the dashboard feed (from v2), and loses only the images table nothing used (migration 4)', () => {
    const f = readFixture(version);
    const upgraded = upgradedCopy(version);
    const feed = new FeedStore(upgraded);
    if (f.feed) expect(feed.since(0, 10_000).slice(0, f.feed.length)).toEqual(f.feed); // a later migration may add rows
    else expect(feed.maxId()).toBe(0);
    expect(upgraded.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'images'").get()).toBeUndefined();
  });

  it("keeps the power settings (from v5), the BMC passwords readable with that install's key-encryption key", () => {
    const f = readFixture(version);
    const upgraded = upgradedCopy(version);
    const power = new PowerStore(upgraded, Buffer.from(f.keyEncryptionKey, 'hex'), { pxeSubnet: '192.168.1.0/24' });
    const hosts = new HostStore(upgraded);
    expect(power.settingsByHost()).toEqual(new Map((f.power ?? []).map((p) => [p.hostId, p.settings])));
    for (const p of f.power ?? []) {
      const target = power.target(p.hostId, hosts.get(p.hostId));
      if (p.password !== null) expect(target).toMatchObject({ password: p.password });
    }
    for (const host of f.hosts) if (!f.power?.some((p) => p.hostId === host.id)) expect(power.settings(host.id)).toEqual({ method: 'manual' });
  });

  it('keeps the audit trail and the event stream (from v6); before v6 both start empty and fill from then on', () => {
    const f = readFixture(version);
    const upgraded = upgradedCopy(version);
    const audit = new AuditStore(upgraded);
    const stream = new StreamStore(upgraded);
    expect(audit.list({ limit: 100 }).entries).toEqual(f.audit ?? []);
    expect(stream.since(0, 1000)).toEqual(f.stream ?? []);
    const created = new HostStore(upgraded).create({ hostname: 'pve-new', mac: parseMac('aa:bb:cc:dd:ee:99'), serverType: 'minisforum-ms-01' });
    expect(stream.since(stream.maxId() - 1, 10)).toEqual([expect.objectContaining({ name: 'host.registered', host_id: created.id, hostname: 'pve-new' })]);
  });

  it('gives a new host an id above every host the database has seen', () => {
    const f = readFixture(version);
    const upgraded = upgradedCopy(version);
    const created = new HostStore(upgraded).create({ hostname: 'pve-new', mac: parseMac('aa:bb:cc:dd:ee:99'), serverType: 'minisforum-ms-01' });
    // A v1 database kept no trace of deleted hosts (the feed came with v2): migration 3 can only start above the hosts
    // it still holds, so there the id of the deleted newest host comes round once more.
    const seen = [...f.hosts.map((h) => h.id), ...(version >= 2 ? f.deletedHostIds : [])];
    expect(created.id).toBe(Math.max(...seen) + 1);
    const next = new HostStore(upgraded).create({ hostname: 'pve-newer', mac: parseMac('aa:bb:cc:dd:ee:98'), serverType: 'minisforum-ms-01' });
    new HostStore(upgraded).delete(next.id);
    expect(new HostStore(upgraded).create({ hostname: 'pve-newest', mac: parseMac('aa:bb:cc:dd:ee:97'), serverType: 'minisforum-ms-01' }).id).toBe(next.id + 1);
  });
});
