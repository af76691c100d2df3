// Real: SQLite files in a temp dir.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { migrate, openDatabase } from '../../src/store/database';
import { parseMac } from '../../src/domain/mac-address';
import { HostStore } from '../../src/store/host-store';
import { migrations } from '../../src/store/migrations';
import { tempDir } from '../helpers/temp-dir';

let dir: ReturnType<typeof tempDir>;
afterEach(() => dir.remove());

describe('openDatabase', () => {
  it('creates the file in WAL mode with foreign keys on and every migration applied', () => {
    dir = tempDir();
    const db = openDatabase(join(dir.path, 'nested/provisioning.db'));
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('user_version', { simple: true })).toBe(migrations.at(-1)!.version);
    const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all().map((r) => r.name);
    expect(tables).toEqual(expect.arrayContaining(['hosts', 'operations', 'operation_events', 'rebuild_keys', 'pxe_allow']));
    expect(tables).not.toContain('images');
    db.close();
  });

  it('applies nothing twice when reopened', () => {
    dir = tempDir();
    const path = join(dir.path, 'p.db');
    openDatabase(path).close();
    const db = openDatabase(path);
    expect(migrate(db, migrations)).toBe(migrations.at(-1)!.version);
    db.close();
  });

  it('refuses a database written by a newer build instead of touching it', () => {
    dir = tempDir();
    const path = join(dir.path, 'p.db');
    const raw = new BetterSqlite3(path);
    raw.pragma('user_version = 999');
    raw.close();
    expect(() => openDatabase(path)).toThrow(`database schema version 999 is newer than this build knows (${migrations.at(-1)!.version}); refusing to touch it`);
  });

  it('rolls back a failing migration as a whole', () => {
    dir = tempDir();
    const path = join(dir.path, 'p.db');
    openDatabase(path).close();
    const db = new BetterSqlite3(path);
    const broken = [...migrations, { version: migrations.length + 1, name: 'broken', sql: 'CREATE TABLE extra (id INTEGER); SELECT * FROM no_such_table;' }];
    expect(() => migrate(db, broken)).toThrow(/no such table/);
    expect(db.pragma('user_version', { simple: true })).toBe(migrations.length);
    expect(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'extra'").get()).toEqual({ n: 0 });
    db.close();
    expect(readFileSync(path).length).toBeGreaterThan(0);
  });
});

describe('host ids', () => {
  const newHost = (n: number) => ({ hostname: `pve-${n}`, mac: parseMac(`aa:bb:cc:dd:ee:0${n}`), serverType: 'minisforum-ms-01' });

  it('never gives a deleted host\'s id to a new host (its rebuilds have workflow id rebuild-<id>)', () => {
    dir = tempDir();
    const hosts = new HostStore(openDatabase(join(dir.path, 'p.db')));
    expect(hosts.create(newHost(1)).id).toBe(1);
    const second = hosts.create(newHost(2));
    hosts.delete(second.id);
    expect(hosts.create(newHost(3)).id).toBe(3);
  });

  it('starts above the ids a database from before the fix has seen, deleted hosts included', () => {
    dir = tempDir();
    const path = join(dir.path, 'p.db');
    const old = openDatabase(path, migrations.filter((m) => m.version <= 2));
    const oldHosts = old.prepare("INSERT INTO hosts (hostname, mac, server_type, created_at, updated_at) VALUES (?, ?, 'x', 'now', 'now') RETURNING id");
    oldHosts.get('pve-1', 'aa:bb:cc:dd:ee:01');
    const { id } = oldHosts.get('pve-2', 'aa:bb:cc:dd:ee:02') as { id: number };
    old.prepare('DELETE FROM hosts WHERE id = ?').run(id);
    old.close();
    const hosts = new HostStore(openDatabase(path));
    expect(hosts.create(newHost(3)).id).toBe(id + 1);
  });
});

describe('openDatabase from two processes at once', () => {
  it('lets them take turns on a new file: both open it, the schema is applied once', async () => {
    dir = tempDir();
    const path = join(dir.path, 'shared.db');
    // Every process loads first, then all open the file at the same instant.
    const startAt = Date.now() + 1500;
    const script = `const { openDatabase } = require(${JSON.stringify(require.resolve('../../dist/src/store/database'))}); while (Date.now() < ${startAt}); const db = openDatabase(process.argv[1]); console.log(db.pragma('user_version', { simple: true })); db.close();`;
    const { spawn } = await import('node:child_process');
    const run = () =>
      new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, ['-e', script, path]);
        let out = '';
        let err = '';
        child.stdout.on('data', (b: Buffer) => (out += b));
        child.stderr.on('data', (b: Buffer) => (err += b));
        child.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(err))));
      });
    const results = await Promise.all(Array.from({ length: 8 }, run));
    expect(results).toEqual(Array(8).fill(String(migrations.at(-1)!.version)));
    expect(readFileSync(path).subarray(18, 20)).toEqual(Buffer.from([2, 2])); // the file header says WAL
  });
});
