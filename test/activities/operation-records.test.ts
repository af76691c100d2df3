// The state records of a rebuild run at least once: a worker killed before the workflow task that ran them
// completed runs them again on replay, possibly after later states were recorded.
import { MockActivityEnvironment } from '@temporalio/testing';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { finishRebuild, recordHostState } from '../../activities/operation-records';
import { parseMac } from '../../src/domain/mac-address';
import { openDatabase, type Database } from '../../src/store/database';
import { HostStore } from '../../src/store/host-store';
import { OperationStore } from '../../src/store/operation-store';
import { tempDir } from '../helpers/temp-dir';

let dir: ReturnType<typeof tempDir>;
let db: Database;
let hosts: HostStore;
let operations: OperationStore;
let hostId: number;
const env = new MockActivityEnvironment({ workflowExecution: { workflowId: 'rebuild-node1', runId: 'run-1' } });

beforeEach(() => {
  dir = tempDir();
  db = openDatabase(join(dir.path, 'provisioning.db'));
  hosts = new HostStore(db);
  operations = new OperationStore(db);
  hostId = hosts.create({ hostname: 'node1', mac: parseMac('52:54:00:00:00:01'), serverType: 'ms-01' }).id;
});

afterEach(() => {
  db.close();
  dir.remove();
});

const record = (state: Parameters<ReturnType<typeof recordHostState>>[0]['state']) =>
  env.run(recordHostState({ hosts, operations }), { hostId, state, message: `now ${state}` });

const states = () =>
  operations
    .events(operations.byRunId('run-1')!.id)
    .filter((e) => e.kind === 'state')
    .map((e) => e.state);

describe('recordHostState', () => {
  it('moves the host and records each state once', async () => {
    await record('pxe_ready');
    await record('pxe_booted');
    expect(hosts.get(hostId).state).toBe('pxe_booted');
    expect(states()).toEqual(['pxe_ready', 'pxe_booted']);
  });

  it('is a no-op for a state this rebuild already reached or passed (run again on replay)', async () => {
    await record('pxe_ready');
    await record('pxe_booted');
    await record('installing');
    await record('pxe_booted'); // replayed after the worker was killed
    await record('installing');
    expect(hosts.get(hostId).state).toBe('installing');
    expect(states()).toEqual(['pxe_ready', 'pxe_booted', 'installing']);
    await record('installed');
    expect(hosts.get(hostId).state).toBe('installed');
  });

  it('does not move the host once the rebuild has finished', async () => {
    await record('pxe_ready');
    await record('pxe_booted');
    await env.run(finishRebuild({ hosts, operations }), { hostId, outcome: 'failed' as const, stage: 'pxe_booted' as const, reason: 'cancelled' as const, message: 'cancelled' });
    await record('pxe_booted');
    await record('installing');
    expect(hosts.get(hostId).state).toBe('failed');
    expect(operations.byRunId('run-1')!.status).toBe('failed');
  });

  it('still refuses a transition the state machine forbids', async () => {
    await record('pxe_ready');
    await expect(record('installed')).rejects.toThrow('host cannot go from pxe_ready to installed');
  });
});
