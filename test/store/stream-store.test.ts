// The event stream's table and the audit trail (migration 6). Real: SQLite file, the triggers of the migration.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseMac } from '../../src/domain/mac-address';
import { AuditStore } from '../../src/store/audit-store';
import { openDatabase } from '../../src/store/database';
import { HostStore } from '../../src/store/host-store';
import { OperationStore } from '../../src/store/operation-store';
import { StreamStore } from '../../src/store/stream-store';
import { tempDir } from '../helpers/temp-dir';

let dir: ReturnType<typeof tempDir>;
afterEach(() => dir.remove());

function setup(now?: () => Date) {
  dir = tempDir();
  const db = openDatabase(join(dir.path, 'p.db'));
  return { db, hosts: new HostStore(db), operations: new OperationStore(db), stream: new StreamStore(db), audit: new AuditStore(db, now) };
}

const names = (stream: StreamStore, after = 0) => stream.since(after, 100).map((e) => `${e.name} ${e.state ?? '-'}`);

describe('StreamStore', () => {
  it('gets a rebuild\'s events from the tables any process writes: registered, started, each stage, ready, deleted', () => {
    const { db, hosts, operations, stream } = setup();
    const host = hosts.create({ hostname: 'pve-1', mac: parseMac('aa:bb:cc:dd:ee:01'), serverType: 'minisforum-ms-01' });
    const op = operations.ensure(host.id, 'rebuild-1', 'run-a');
    for (const state of ['pxe_ready', 'pxe_booted'] as const) {
      hosts.transition(host.id, state);
      operations.append({ hostId: host.id, operationId: op.id, kind: 'state', state, message: `now ${state}` });
    }
    operations.append({ hostId: host.id, operationId: op.id, kind: 'boot_request', message: 'not a stage' });
    operations.setStage(op.id, 'pxe_booted');
    operations.finish(op.id, { status: 'succeeded' });
    hosts.delete(host.id);
    expect(names(stream)).toEqual(['host.registered registered', 'rebuild.started registered', 'rebuild.stage pxe_ready', 'rebuild.stage pxe_booted', 'rebuild.ready pxe_booted', 'host.deleted pxe_booted']);
    const [registered, started, stage] = stream.since(0, 3);
    expect(registered).toMatchObject({ host_id: host.id, mac: 'aa:bb:cc:dd:ee:01', hostname: 'pve-1', data: { server_type: 'minisforum-ms-01' } });
    expect(started!.data).toEqual({ operation_id: op.id, workflow_id: 'rebuild-1', run_id: 'run-a' });
    expect(stage!.data).toEqual({ operation_id: op.id, state: 'pxe_ready', message: 'now pxe_ready' });
    expect(stage!.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    db.close();
  });

  it('says why a rebuild failed, and filters by host and resumes after an id', () => {
    const { db, hosts, operations, stream } = setup();
    const a = hosts.create({ hostname: 'pve-1', mac: parseMac('aa:bb:cc:dd:ee:01'), serverType: 't' });
    const b = hosts.create({ hostname: 'pve-2', mac: parseMac('aa:bb:cc:dd:ee:02'), serverType: 't' });
    const op = operations.ensure(a.id, 'rebuild-1', 'run-a');
    operations.setStage(op.id, 'pxe_ready');
    operations.finish(op.id, { status: 'failed', reason: 'stage_timeout', message: 'no PXE request from aa:bb:cc:dd:ee:01 within 20m' });
    operations.finish(op.id, { status: 'failed', reason: 'cancelled', message: 'again' }); // no second event
    const failed = stream.since(0, 100).filter((e) => e.name === 'rebuild.failed');
    expect(failed.map((e) => e.data)).toEqual([{ operation_id: op.id, stage: 'pxe_ready', reason: 'stage_timeout', message: 'no PXE request from aa:bb:cc:dd:ee:01 within 20m' }]);
    expect(stream.since(0, 100, b.id).map((e) => e.name)).toEqual(['host.registered']);
    const first = stream.since(0, 1)[0]!;
    expect(stream.since(first.id, 100).map((e) => e.id)).toEqual(stream.since(0, 100).slice(1).map((e) => e.id));
    expect(stream.maxId()).toBe(stream.since(0, 100).at(-1)!.id);
    db.close();
  });

  it('turns a recorded boot decision into boot.decision, and appends image progress without a host', () => {
    const { db, hosts, stream, audit } = setup();
    const host = hosts.create({ hostname: 'pve-1', mac: parseMac('aa:bb:cc:dd:ee:01'), serverType: 't' });
    audit.record({ kind: 'boot.decision', actor: 'host', address: '192.0.2.7', host_id: host.id, mac: host.mac, hostname: host.hostname, result: 'ok', message: 'boot from local disk', details: { endpoint: 'ipxe', action: 'local-disk', code: 'not_rebuilding', reason: 'no rebuild allows PXE' } });
    audit.record({ kind: 'host.register', actor: 'the API token', address: '192.0.2.8', host_id: host.id, mac: host.mac, hostname: host.hostname, result: 'ok', message: 'registered', details: null });
    stream.append('image.progress', { image: 'pve-9.1', status: 'running', percent: 40 });
    const events = stream.since(1, 100);
    expect(events.map((e) => e.name)).toEqual(['boot.decision', 'image.progress']);
    expect(events[0]).toMatchObject({ host_id: host.id, state: 'registered', data: { endpoint: 'ipxe', action: 'local-disk', code: 'not_rebuilding', reason: 'no rebuild allows PXE' } });
    expect(events[1]).toMatchObject({ host_id: null, mac: null, data: { image: 'pve-9.1', status: 'running', percent: 40 } });
    db.close();
  });
});

describe('AuditStore', () => {
  it('filters by host, MAC, kind (or a kind prefix) and time, pages newest first, and prunes by age', () => {
    let now = new Date('2026-11-01T00:00:00.000Z');
    const { db, audit } = setup(() => now);
    const entry = (kind: string, hostId: number | null, mac: string | null) => ({ kind, actor: 'the API token', address: '192.0.2.8', host_id: hostId, mac, hostname: null, result: 'ok' as const, message: kind, details: null });
    audit.record(entry('host.register', 1, 'aa:bb:cc:dd:ee:01'));
    now = new Date('2026-11-20T00:00:00.000Z');
    audit.record(entry('power.cycle', 1, 'aa:bb:cc:dd:ee:01'));
    audit.record(entry('power.on', 2, 'aa:bb:cc:dd:ee:02'));
    audit.record(entry('login.failed', null, null));
    expect(audit.list({ limit: 10 }).entries.map((e) => e.kind)).toEqual(['login.failed', 'power.on', 'power.cycle', 'host.register']);
    expect(audit.list({ hostId: 1, limit: 10 }).entries.map((e) => e.kind)).toEqual(['power.cycle', 'host.register']);
    expect(audit.list({ mac: 'aa:bb:cc:dd:ee:02', limit: 10 }).entries.map((e) => e.kind)).toEqual(['power.on']);
    expect(audit.list({ kind: 'power.', limit: 10 }).entries.map((e) => e.kind)).toEqual(['power.on', 'power.cycle']);
    expect(audit.list({ kind: 'power', limit: 10 }).entries).toEqual([]);
    expect(audit.list({ since: '2026-11-10T00:00:00.000Z', until: '2026-12-01T00:00:00.000Z', kind: 'host.register', limit: 10 }).entries).toEqual([]);
    const page1 = audit.list({ limit: 3 });
    expect(page1.nextBefore).not.toBeNull();
    const page2 = audit.list({ limit: 3, before: page1.nextBefore! });
    expect(page2).toEqual({ entries: [expect.objectContaining({ kind: 'host.register' })], nextBefore: null });
    now = new Date('2026-12-05T00:00:00.000Z');
    expect(audit.prune(30 * 86_400_000)).toBe(1); // the one of 1 November
    expect(audit.list({ limit: 10 }).entries).toHaveLength(3);
    expect(audit.prune(30 * 86_400_000, 2)).toBe(1); // beyond the newest two
    expect(audit.list({ limit: 10 }).entries.map((e) => e.kind)).toEqual(['login.failed', 'power.on']);
    db.close();
  });
});
