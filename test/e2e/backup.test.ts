// `provisioning backup <file>` and the restore steps of deploy/README.md, as an operator runs them: the built service
// (dist/src/main.js) as a process, backed up while it is being written to, killed, restored by the shell commands
// copied out of deploy/README.md, started again. The embedded Temporal server's database, saved and put back the
// way deploy/README.md says. The command's refusals. backupDatabase on its own, next to an open write transaction.
// Real: everything (service processes from dist/, the suite's Temporal server or the embedded one, SQLite, sh).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { stringify } from 'yaml';
import { parseMac } from '../../src/domain/mac-address';
import { backupDatabase } from '../../src/store/database-backup';
import { openDatabase } from '../../src/store/database';
import { HostStore } from '../../src/store/host-store';
import { migrations } from '../../src/store/migrations';
import { Resources } from '../helpers/release';
import { startService, stopService, type ServiceProcess } from '../helpers/service-process';
import { tempDir } from '../helpers/temp-dir';
import { testPasswordHash } from '../helpers/test-app';
import { testFingerprint } from '../helpers/test-worker';
import { freePort, testNamespace } from '../setup/temporal-dev-server';

const entry = resolve('dist/src/main.js');
const latest = migrations.at(-1)!.version;

beforeAll(() => {
  if (!existsSync(entry)) expect(spawnSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' }).status).toBe(0);
}, 120_000);

const resources = new Resources();
afterEach(() => resources.releaseAll());
afterAll(() => resources.releaseAll());

interface ApiHost {
  id: number;
  hostname: string;
  mac: string;
  state: string;
}

/** The shell commands of the restore steps in deploy/README.md (the sh block under "Restore the service database"). */
function restoreCommands(): string {
  const doc = readFileSync(resolve('deploy/README.md'), 'utf8');
  const section = doc.slice(doc.indexOf('### Restore the service database'));
  const block = /```sh\n([\s\S]*?)\n\s*```/.exec(section);
  if (!block) throw new Error('deploy/README.md: no sh block under "Restore the service database"');
  return block[1]!.split('\n').map((line) => line.trim()).join('\n');
}

/** A working directory with provisioning.yaml (data_dir ./data), server-types.yaml, a boot image and free ports. */
async function serviceDir(temporal: Record<string, unknown>): Promise<{ dir: string; base: string }> {
  const dir = resources.add(tempDir(), async (d) => d.remove()).path;
  const port = await freePort();
  mkdirSync(join(dir, 'data/images/pve-9.1'), { recursive: true });
  for (const f of ['vmlinuz', 'initrd.img', 'proxmox-ve_9.1.iso']) writeFileSync(join(dir, 'data/images/pve-9.1', f), f);
  writeFileSync(join(dir, 'server-types.yaml'), readFileSync(resolve('deploy/server-types.example.yaml')));
  writeFileSync(
    join(dir, 'provisioning.yaml'),
    stringify({
      data_dir: './data',
      server: { listen: `127.0.0.1:${port}`, public_url: `http://127.0.0.1:${port}` },
      proxmox: { existing_node: '192.0.2.10', join_fingerprint: testFingerprint, join_password: 'backup-peer-pw' },
      credentials: { root_password_hash: testPasswordHash },
      temporal,
    }),
  );
  return { dir, base: `http://127.0.0.1:${port}` };
}

function start(dir: string): ServiceProcess {
  return resources.add(startService(['--config', join(dir, 'provisioning.yaml')]), stopService);
}

async function register(base: string, hostname: string, n: number): Promise<ApiHost> {
  const mac = `02:00:00:00:${((n >> 8) & 255).toString(16).padStart(2, '0')}:${(n & 255).toString(16).padStart(2, '0')}`;
  const res = await fetch(`${base}/api/hosts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ hostname, mac, server_type: 'minisforum-ms-01' }) });
  expect(res.status).toBe(201);
  return (await res.json()) as ApiHost;
}

async function listHosts(base: string): Promise<ApiHost[]> {
  const { hosts } = (await (await fetch(`${base}/api/hosts`)).json()) as { hosts: ApiHost[] };
  return hosts.sort((a, b) => a.id - b.id);
}

/** Runs `node dist/src/main.js …args` in `cwd` to its end. */
function runCli(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [entry, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b));
    child.stderr.on('data', (b: Buffer) => (stderr += b));
    child.once('error', reject);
    child.once('exit', (code) => resolveRun({ code, stdout, stderr }));
  });
}

/** The event ids and types of a workflow's history on the Temporal server at `address`. */
async function historyOf(address: string, workflowId: string): Promise<string[]> {
  const connection = await Connection.connect({ address });
  try {
    const history = await new Client({ connection }).workflow.getHandle(workflowId).fetchHistory();
    return (history.events ?? []).map((e) => `${String(e.eventId)} ${String(e.eventType)}`);
  } finally {
    await connection.close();
  }
}

describe('backup and restore of the service database (deploy/README.md)', () => {
  it('backs up a running service while it registers hosts; the restore steps bring back exactly that state', async () => {
    const { dir, base } = await serviceDir({ address: inject('temporalAddress'), namespace: testNamespace(), task_queue: `backup-${randomBytes(4).toString('hex')}` });
    const first = start(dir);
    await first.waitFor(/Role: +all/);
    for (let n = 1; n <= 3; n++) await register(base, `pve-ms-0${n}`, n);
    const keyFile = readFileSync(join(dir, 'data/rebuild-key-encryption.key'), 'utf8');

    // One writer registering host after host for as long as the backup command runs.
    const created: ApiHost[] = [];
    let writing = true;
    const writer = (async () => {
      for (let n = 100; writing; n++) created.push(await register(base, `pve-load-${n}`, n));
    })();
    const restore = restoreCommands();
    const backupFile = /^BACKUP=(\S+)$/m.exec(restore)![1]!;
    const before = created.length;
    const backup = await runCli(['backup', backupFile, '--config', 'provisioning.yaml'], dir);
    const after = created.length;
    writing = false;
    await writer;
    expect(backup.stderr).toBe('');
    expect(backup.code).toBe(0);
    const wrote = /^wrote (.+): (\d+) bytes, schema version (\d+), (\d+) hosts \(a consistent copy of (.+)\)$/m.exec(backup.stdout);
    expect(wrote, backup.stdout).not.toBeNull();
    const [, path, bytes, version, hostCount, source] = wrote!;
    expect([path, Number(bytes), Number(version), source]).toEqual([join(dir, backupFile), readFileSync(join(dir, backupFile)).length, latest, join(dir, 'data/provisioning.db')]);
    expect(backup.stdout).toContain(`not in it: the key-encryption key (${join(dir, 'data/rebuild-key-encryption.key')})`);
    expect(after).toBeGreaterThan(before); // hosts were registered while the command ran
    const inBackup = Number(hostCount);
    expect(inBackup).toBeGreaterThanOrEqual(3 + before);
    expect(inBackup).toBeLessThanOrEqual(3 + after);
    expect(readdirSync(join(dir, 'backups'))).toEqual([backupFile.split('/').pop()]); // no temporary file left

    await register(base, 'pve-after-backup', 99);
    const live = await listHosts(base);
    // The worst stop: killed, with its -wal and -shm beside the database.
    first.child.kill('SIGKILL');
    await first.exit;
    expect(existsSync(join(dir, 'data/provisioning.db-wal'))).toBe(true);

    const sh = spawnSync('sh', ['-ec', restore], { cwd: dir, encoding: 'utf8' });
    expect(sh.stderr).toBe('');
    expect(sh.status).toBe(0);
    expect(readdirSync(join(dir, 'data/before-restore')).sort()).toEqual(['provisioning.db', 'provisioning.db-shm', 'provisioning.db-wal']);

    const second = start(dir);
    await second.waitFor(/Role: +all/);
    // A consistent backup: the hosts registered up to one moment, in order, with nothing half-written.
    expect(await listHosts(base)).toEqual(live.slice(0, inBackup));
    expect(readFileSync(join(dir, 'data/rebuild-key-encryption.key'), 'utf8')).toBe(keyFile);
    expect(second.output.join('\n')).not.toContain('generated the key-encryption key');
    const next = await register(base, 'pve-after-restore', 98);
    expect(next.id).toBeGreaterThan(live[inBackup - 1]!.id);
    await stopService(second);
    expect(await second.exit).toEqual({ code: 0, signal: null });
  }, 120_000);

  it('brings back a running rebuild from the embedded Temporal database saved while stopped', async () => {
    const [grpc, ui] = [await freePort(), await freePort()];
    const { dir, base } = await serviceDir({ address: '', dev_server: { port: grpc, ui_port: ui } });
    const first = start(dir);
    await first.waitFor(/Role: +all/, 90_000);
    const host = await register(base, 'pve-ms-07', 7);
    const rebuild = await fetch(`${base}/api/hosts/${host.id}/rebuild`, { method: 'POST' });
    expect(rebuild.status, await rebuild.text()).toBe(202);
    const state = async () => ((await (await fetch(`${base}/api/hosts/${host.id}`)).json()) as ApiHost).state;
    await expect.poll(state, { timeout: 30_000 }).toBe('pxe_ready');
    const recorded = await historyOf(`127.0.0.1:${grpc}`, `rebuild-${host.id}`);
    await stopService(first);

    const saved = spawnSync('sh', ['-ec', 'mkdir -p backups/temporal-saved && cp -p data/temporal.db* backups/temporal-saved/'], { cwd: dir, encoding: 'utf8' });
    expect(saved.status, saved.stderr).toBe(0);
    // The loss, then the restore: the current files aside, the saved ones back.
    const restored = spawnSync('sh', ['-ec', 'rm data/temporal.db* && mkdir -p data/before-restore && cp -p backups/temporal-saved/temporal.db* data/'], { cwd: dir, encoding: 'utf8' });
    expect(restored.status, restored.stderr).toBe(0);

    const second = start(dir);
    await second.waitFor(/Role: +all/, 90_000);
    const again = await fetch(`${base}/api/hosts/${host.id}/rebuild`, { method: 'POST' });
    expect(again.status).toBe(409); // the rebuild's workflow is running in the restored Temporal database
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe('rebuild_in_progress');
    expect(await state()).toBe('pxe_ready');
    expect((await historyOf(`127.0.0.1:${grpc}`, `rebuild-${host.id}`)).slice(0, recorded.length)).toEqual(recorded);
    expect((await fetch(`${base}/api/hosts/${host.id}/rebuild/cancel`, { method: 'POST' })).status).toBe(202);
    await expect.poll(state, { timeout: 30_000 }).toBe('failed');
  }, 240_000);
});

describe('provisioning backup refuses', () => {
  it('a missing database, naming its path, and creates nothing', async () => {
    const { dir } = await serviceDir({ address: '' });
    const run = await runCli(['backup', 'out.db', '--config', 'provisioning.yaml'], dir);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`provisioning: no backup written: ${join(dir, 'data/provisioning.db')}: no database there, nothing to back up (database.path in the config says where it is)\n`);
    expect(readdirSync(dir).sort()).toEqual(['data', 'provisioning.yaml', 'server-types.yaml']);
    expect(readdirSync(join(dir, 'data'))).toEqual(['images']);
  });

  it('a missing config file, without creating one from the example', async () => {
    const dir = resources.add(tempDir(), async (d) => d.remove()).path;
    const run = await runCli(['backup', 'out.db'], dir);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('provisioning.yaml: cannot read the file: ENOENT\nprovisioning: no backup written: fix the configuration above\n');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('an existing target file, naming it and leaving it as it was', async () => {
    const { dir } = await serviceDir({ address: '' });
    openDatabase(join(dir, 'data/provisioning.db')).close();
    writeFileSync(join(dir, 'keep.db'), 'an earlier backup');
    const run = await runCli(['backup', 'keep.db', '--config', 'provisioning.yaml'], dir);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`provisioning: no backup written: ${join(dir, 'keep.db')}: already exists; a backup never overwrites a file, give a new name\n`);
    expect(readFileSync(join(dir, 'keep.db'), 'utf8')).toBe('an earlier backup');
  });

  it('a file that is not an SQLite database', async () => {
    const { dir } = await serviceDir({ address: '' });
    writeFileSync(join(dir, 'data/provisioning.db'), 'not a database, but long enough to look like a header..........................................');
    const run = await runCli(['backup', 'out.db', '--config', 'provisioning.yaml'], dir);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`provisioning: no backup written: ${join(dir, 'data/provisioning.db')}: not an SQLite database\n`);
    expect(existsSync(join(dir, 'out.db'))).toBe(false);
  });

  it.each([
    [['backup'], 'backup needs the file to write, e.g. backup backups/provisioning.db'],
    [['backup', 'a.db', 'b.db'], 'backup writes one file, got 2: a.db b.db'],
    [['backup', 'a.db', '--role', 'worker'], '--role does not apply to backup'],
  ])('bad usage %j with status 2 and the usage', async (args, message) => {
    const run = await runCli(args, resolve('.'));
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`provisioning: ${message}\nusage: provisioning [--config provisioning.yaml] [--role gateway|worker|all] [--listen host:port]\n       provisioning backup <file> [--config provisioning.yaml]\n`);
  });
});

describe('backupDatabase', () => {
  const newHost = (n: number) => ({ hostname: `pve-${n}`, mac: parseMac(`aa:bb:cc:dd:ee:0${n}`), serverType: 'minisforum-ms-01' });

  it('copies the last committed state without waiting for a write transaction that is open', async () => {
    const dir = resources.add(tempDir(), async (d) => d.remove()).path;
    const db = resources.add(openDatabase(join(dir, 'p.db')), async (d) => void d.close());
    const hosts = new HostStore(db);
    hosts.create(newHost(1));
    hosts.create(newHost(2));
    db.exec('BEGIN IMMEDIATE');
    hosts.create(newHost(3));
    const report = await backupDatabase(join(dir, 'p.db'), join(dir, 'copy.db'));
    db.exec('COMMIT');
    expect(report).toMatchObject({ target: join(dir, 'copy.db'), schemaVersion: latest, hosts: 2 });
    const copy = new BetterSqlite3(join(dir, 'copy.db'), { readonly: true });
    expect(copy.prepare('SELECT hostname FROM hosts ORDER BY id').pluck().all()).toEqual(['pve-1', 'pve-2']);
    expect(copy.pragma('journal_mode', { simple: true })).toBe('delete'); // one self-contained file
    copy.close();
    expect(readdirSync(dir).sort()).toEqual(['copy.db', 'p.db', 'p.db-shm', 'p.db-wal']);
  });

  it('copies a database of an older schema as it is, without migrating it (a backup before an upgrade)', async () => {
    const dir = resources.add(tempDir(), async (d) => d.remove()).path;
    const old = openDatabase(join(dir, 'old.db'), migrations.filter((m) => m.version <= 2));
    old.close();
    const report = await backupDatabase(join(dir, 'old.db'), join(dir, 'copy.db'));
    expect(report.schemaVersion).toBe(2);
    for (const file of ['old.db', 'copy.db']) {
      const db = new BetterSqlite3(join(dir, file), { readonly: true });
      expect(db.pragma('user_version', { simple: true })).toBe(2);
      db.close();
    }
  });
});
