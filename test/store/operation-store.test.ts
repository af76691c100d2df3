// Real: SQLite file.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseMac } from '../../src/domain/mac-address';
import { openDatabase } from '../../src/store/database';
import { HostStore } from '../../src/store/host-store';
import { OperationStore, type OperationEvent } from '../../src/store/operation-store';
import { tempDir } from '../helpers/temp-dir';

let dir: ReturnType<typeof tempDir>;
afterEach(() => dir.remove());

function setup() {
  dir = tempDir();
  const db = openDatabase(join(dir.path, 'p.db'));
  const hosts = new HostStore(db);
  const host = hosts.create({ hostname: 'pve-1', mac: parseMac('aa:bb:cc:dd:ee:01'), serverType: 'minisforum-ms-01' });
  return { db, hosts, host, operations: new OperationStore(db) };
}

describe('OperationStore', () => {
  it('creates one operation per run however often ensure() is called', () => {
    const { db, host, operations } = setup();
    const a = operations.ensure(host.id, 'rebuild-1', 'run-a');
    const b = operations.ensure(host.id, 'rebuild-1', 'run-a');
    expect(b).toEqual(a);
    expect(a).toMatchObject({ hostId: host.id, status: 'running', workflowId: 'rebuild-1', runId: 'run-a', stage: null });
    expect(operations.listForHost(host.id)).toHaveLength(1);
    expect(operations.running(host.id)?.id).toBe(a.id);
    db.close();
  });

  it('keeps the first outcome when finish() is repeated', () => {
    const { db, host, operations } = setup();
    const op = operations.ensure(host.id, 'rebuild-1', 'run-a');
    operations.finish(op.id, { status: 'failed', reason: 'stage_timeout', message: 'no PXE request' });
    const again = operations.finish(op.id, { status: 'succeeded' });
    expect(again).toMatchObject({ status: 'failed', failureReason: 'stage_timeout', failureMessage: 'no PXE request' });
    expect(again.finishedAt).not.toBeNull();
    expect(operations.running(host.id)).toBeUndefined();
    db.close();
  });

  it('appends events in order, tells subscribers, and lists them per operation', () => {
    const { db, host, operations } = setup();
    const op = operations.ensure(host.id, 'rebuild-1', 'run-a');
    const seen: OperationEvent[] = [];
    const unsubscribe = operations.subscribe((e) => seen.push(e));
    operations.append({ hostId: host.id, operationId: op.id, kind: 'state', state: 'pxe_ready', message: 'waiting' });
    operations.append({ hostId: host.id, operationId: op.id, kind: 'note', message: 'hello', details: { a: 1 } });
    unsubscribe();
    operations.append({ hostId: host.id, operationId: null, kind: 'boot_request', message: 'refused' });
    expect(seen.map((e) => e.message)).toEqual(['waiting', 'hello']);
    expect(operations.events(op.id).map((e) => [e.kind, e.state, e.message, e.details])).toEqual([
      ['state', 'pxe_ready', 'waiting', null],
      ['note', null, 'hello', { a: 1 }],
    ]);
    expect(operations.hostEvents(host.id).map((e) => e.message)).toEqual(['refused']);
    db.close();
  });

  it('writes nothing and tells no subscriber when the host was deleted meanwhile', () => {
    const { db, hosts, host, operations } = setup();
    const operation = operations.ensure(host.id, 'rebuild-1', 'run-a');
    const seen: OperationEvent[] = [];
    operations.subscribe((e) => seen.push(e));
    hosts.delete(host.id);
    expect(operations.append({ hostId: host.id, operationId: operation.id, kind: 'key_removed', message: 'rebuild private key deleted' })).toBeNull();
    expect(seen).toEqual([]);
    expect(db.prepare('SELECT count(*) AS n FROM operation_events').get()).toEqual({ n: 0 });
    db.close();
  });

  it('deletes a host together with its operations and events', () => {
    const { db, hosts, host, operations } = setup();
    const op = operations.ensure(host.id, 'rebuild-1', 'run-a');
    operations.append({ hostId: host.id, operationId: op.id, kind: 'note', message: 'x' });
    hosts.delete(host.id);
    expect(operations.find(op.id)).toBeUndefined();
    expect(operations.events(op.id)).toEqual([]);
    db.close();
  });
});
