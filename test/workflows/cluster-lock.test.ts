// The cluster lock workflow on its own (issue 16 item 3), on the Temporal dev server: requests from real running
// workflows (rebuilds waiting for their PXE boot), grants in order, leases, and the rules the mutex sample lacks.
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { rebuildWorkflowId } from '../../src/domain/rebuild-ids';
import {
  acquireClusterLockSignal,
  clusterLockStateQuery,
  clusterLockWorkflowId,
  releaseClusterLockSignal,
  type ClusterLockRequest,
  type ClusterLockState,
} from '../../workflows/messages';
import type { clusterLockWorkflow } from '../../workflows/cluster-lock';
import { Resources } from '../helpers/release';
import { buildTestApp, type TestApp } from '../helpers/test-app';
import { startTestWorker } from '../helpers/test-worker';
import { waitForState } from '../helpers/wait-for';

let t: TestApp;
const resources = new Resources();
afterEach(() => resources.releaseAll());
beforeEach(async () => {
  t = resources.add(await buildTestApp(), (app) => app.close());
  resources.add(await startTestWorker(t), (w) => w.stop());
});

/** A running workflow to hold or wait for the lock: a rebuild waiting for its PXE boot. */
async function requester(hostname: string, leaseMs = 60_000): Promise<ClusterLockRequest> {
  const mac = `aa:bb:cc:00:00:${(hostname.length * 7 + hostname.charCodeAt(hostname.length - 1)).toString(16).padStart(2, '0').slice(-2)}`;
  const res = await t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname, mac, server_type: 'minisforum-ms-01' } });
  expect(res.statusCode).toBe(201);
  const id: number = res.json().id;
  expect((await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild` })).statusCode).toBe(202);
  await waitForState(t.operations, id, 'pxe_ready');
  const { runId } = await t.client.workflow.getHandle(rebuildWorkflowId(id)).describe();
  return { workflowId: rebuildWorkflowId(id), runId, hostname, purpose: 'join', leaseMs };
}

const lockId = () => clusterLockWorkflowId(t.taskQueue, 'lab');
const acquire = (request: ClusterLockRequest) =>
  t.client.workflow.signalWithStart<typeof clusterLockWorkflow, [ClusterLockRequest]>('clusterLockWorkflow', {
    workflowId: lockId(),
    taskQueue: t.taskQueue,
    args: [{ cluster: 'lab' }],
    signal: acquireClusterLockSignal,
    signalArgs: [request],
  });
const release = (runId: string) => t.client.workflow.getHandle(lockId()).signal(releaseClusterLockSignal, { runId });
const state = () => t.client.workflow.getHandle(lockId()).query(clusterLockStateQuery);
const holderAndQueue = (s: ClusterLockState) => ({ holder: s.holder?.hostname ?? null, waiting: s.waiting.map((w) => w.hostname) });
const eventually = (expected: { holder: string | null; waiting: string[] }) =>
  vi.waitFor(async () => expect(holderAndQueue(await state())).toEqual(expected), { timeout: 15_000, interval: 100 });

/** The names of the signals a workflow received, from its history (what the Web UI lists). */
async function signalsOf(workflowId: string): Promise<string[]> {
  const history = await t.client.workflow.getHandle(workflowId).fetchHistory();
  return history.events!.flatMap((e) => (e.workflowExecutionSignaledEventAttributes ? [e.workflowExecutionSignaledEventAttributes.signalName!] : []));
}

describe('the cluster lock workflow', () => {
  it('grants in request order, one holder at a time, signalling each holder', async () => {
    const [a, b, c] = [await requester('pve-a'), await requester('pve-b'), await requester('pve-c')];
    await acquire(a);
    await acquire(b);
    await acquire(c);
    await eventually({ holder: 'pve-a', waiting: ['pve-b', 'pve-c'] });
    expect(await signalsOf(a.workflowId)).toContain('clusterLockGranted');
    expect(await signalsOf(b.workflowId)).not.toContain('clusterLockGranted');

    await release(a.runId);
    await eventually({ holder: 'pve-b', waiting: ['pve-c'] });
    expect(await signalsOf(b.workflowId)).toContain('clusterLockGranted');
    await release(b.runId);
    await eventually({ holder: 'pve-c', waiting: [] });
    const s = await state();
    expect(s.holder).toMatchObject({ workflowId: c.workflowId, purpose: 'join' });
    expect(Date.parse(s.holder!.leaseUntil) - Date.parse(s.holder!.since)).toBe(60_000);
  });

  it('keeps the place of a repeated request and accepts a release only from the holder', async () => {
    const [a, b, c] = [await requester('pve-a'), await requester('pve-b'), await requester('pve-c')];
    await acquire(a);
    await acquire(b);
    await acquire(b); // an activity retried
    await acquire(a);
    await eventually({ holder: 'pve-a', waiting: ['pve-b'] });
    await release(randomUUID()); // nobody's run
    await acquire(c); // signals are applied in order: once pve-c waits, the release above was handled
    await eventually({ holder: 'pve-a', waiting: ['pve-b', 'pve-c'] });
  });

  it('takes a waiter that gives up (a cancelled rebuild) out of the queue', async () => {
    const [a, b, c] = [await requester('pve-a'), await requester('pve-b'), await requester('pve-c')];
    for (const r of [a, b, c]) await acquire(r);
    await eventually({ holder: 'pve-a', waiting: ['pve-b', 'pve-c'] });
    await release(b.runId);
    await eventually({ holder: 'pve-a', waiting: ['pve-c'] });
    await release(a.runId);
    await eventually({ holder: 'pve-c', waiting: [] });
    expect(await signalsOf(b.workflowId)).not.toContain('clusterLockGranted');
  });

  it('gives the lock to the next in line when the holder lets its lease run out', async () => {
    const a = await requester('pve-a', 5_000);
    const b = await requester('pve-b');
    await acquire(a);
    await acquire(b);
    await eventually({ holder: 'pve-a', waiting: ['pve-b'] });
    // pve-a never releases (a terminated rebuild): its lease ends the hold.
    await eventually({ holder: 'pve-b', waiting: [] });
    expect(await signalsOf(b.workflowId)).toContain('clusterLockGranted');
  });

  it('skips a requester that is gone', async () => {
    const b = await requester('pve-b');
    await acquire({ workflowId: 'rebuild-gone', runId: randomUUID(), hostname: 'pve-gone', purpose: 'join', leaseMs: 60_000 });
    await acquire(b);
    await eventually({ holder: 'pve-b', waiting: [] });
    const { status } = await t.client.workflow.getHandle(lockId()).describe();
    expect(status.name).toBe('RUNNING');
  });
});
