// Real: Temporal dev server (global setup), worker with the real activities, SQLite file, Fastify gateway.
// Fake: nothing. Boot events are sent as the boot endpoints will send them: signals to the running rebuild.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pxeBootedSignal, rebuildProgressQuery } from '../../workflows/messages';
import { rebuildWorkflowId } from '../../src/domain/rebuild-ids';
import { rebuildStartedHere } from '../helpers/started-here';
import { Resources } from '../helpers/release';
import { buildTestApp, shortTimeouts, type TestApp } from '../helpers/test-app';
import { startTestWorker } from '../helpers/test-worker';
import { waitForState } from '../helpers/wait-for';
import { parseMac } from '../../src/domain/mac-address';
import { readableHistory } from '../helpers/history';

let t: TestApp;

async function setup(timeouts = shortTimeouts) {
  t = resources.add(await buildTestApp({ timeouts }), (app) => app.close());
  resources.add(await startTestWorker(t), (w) => w.stop());
}
const resources = new Resources();
afterEach(() => resources.releaseAll());

async function registerHost(hostname = 'pve-ms-03', mac = 'aa:bb:cc:dd:ee:03'): Promise<number> {
  const res = await t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname, mac, server_type: 'minisforum-ms-01' } });
  expect(res.statusCode).toBe(201);
  return res.json().id;
}

const startRebuild = (id: number) => t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild` });

describe('rebuildHostWorkflow start', () => {
  beforeEach(() => setup());

  it('returns 202 with the operation, generates a rebuild key, records pxe_ready and allows PXE for the MAC', async () => {
    const id = await registerHost();
    const res = await startRebuild(id);
    expect(res.statusCode).toBe(202);
    const started = res.json();
    expect(started.workflow_id).toBe(`rebuild-${id}`);
    expect(started.run_id).toEqual(expect.any(String));

    await waitForState(t.operations, id, 'pxe_ready');
    expect(t.hosts.get(id).state).toBe('pxe_ready');
    const keys = t.keys.list();
    expect(keys).toHaveLength(1);
    expect(keys[0]!.publicKey).toMatch(/^ssh-ed25519 AAAA[0-9A-Za-z+/=]+ provisioning-rebuild-pve-ms-03$/);
    expect(t.keys.privateKey(keys[0]!.id)).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----/);
    // Allowed once the workflow has run its next step.
    const handle = t.client.workflow.getHandle(rebuildWorkflowId(id));
    await expect.poll(() => t.pxeAllowList.find(parseMac('aa:bb:cc:dd:ee:03'))?.workflowId).toBe(`rebuild-${id}`);
    const progress = await handle.query(rebuildProgressQuery);
    expect(progress.state).toBe('pxe_ready');

    const detail = (await t.app.inject({ method: 'GET', url: `/api/hosts/${id}` })).json();
    expect(detail.current_operation).toMatchObject({ id: started.operation_id, status: 'running', stage: 'pxe_ready' });
    expect(detail.current_operation.events.map((e: { kind: string }) => e.kind)).toEqual(
      expect.arrayContaining(['rebuild_started', 'state', 'pxe_allowed']),
    );
    await handle.cancel();
    await handle.result();
  });

  it('answers a second rebuild while one runs with 409 naming the running operation', async () => {
    const id = await registerHost();
    const first = (await startRebuild(id)).json();
    const second = await startRebuild(id);
    expect(second.statusCode).toBe(409);
    expect(second.json().error.code).toBe('rebuild_in_progress');
    expect(second.json().error.message).toBe(`host ${id} already has a rebuild running (workflow rebuild-${id}, operation ${first.operation_id})`);
    const handle = t.client.workflow.getHandle(rebuildWorkflowId(id));
    await handle.cancel();
    await handle.result();
  });

  it('answers a rebuild of an unknown host with 404 and starts nothing', async () => {
    const res = await startRebuild(4242);
    expect(res.statusCode).toBe(404);
    expect(await rebuildStartedHere(t, 4242)).toBe(false);
  });

  it('never puts the private key into the workflow history', async () => {
    const id = await registerHost();
    await startRebuild(id);
    await waitForState(t.operations, id, 'pxe_ready');
    const keyId = t.keys.list()[0]!.id;
    const privateKey = t.keys.privateKey(keyId)!;
    const handle = t.client.workflow.getHandle(rebuildWorkflowId(id));
    await handle.cancel();
    await handle.result();
    const history = readableHistory(await handle.fetchHistory());
    const secretLines = privateKey.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'));
    expect(secretLines.length).toBeGreaterThan(3);
    for (const line of secretLines) expect(history).not.toContain(line);
    expect(history).toContain(keyId); // the reference is there, the secret is not
  });
});

describe('rebuildHostWorkflow cancel', () => {
  beforeEach(() => setup());

  it('ends failed with reason cancelled, deletes the private key and revokes PXE', async () => {
    const id = await registerHost();
    const { operation_id: operationId } = (await startRebuild(id)).json();
    await waitForState(t.operations, id, 'pxe_ready');
    await expect.poll(() => t.pxeAllowList.list().length).toBe(1);

    const res = await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild/cancel` });
    expect(res.statusCode).toBe(202);
    const result = await t.client.workflow.getHandle(rebuildWorkflowId(id)).result();

    expect(result.state).toBe('failed');
    expect(result.failure).toMatchObject({ stage: 'pxe_ready', reason: 'cancelled' });
    expect(t.hosts.get(id).state).toBe('failed');
    expect(t.operations.find(operationId)).toMatchObject({ status: 'failed', failureReason: 'cancelled', failureMessage: 'rebuild cancelled by an operator while pxe_ready' });
    expect(t.keys.list()).toEqual([]);
    expect(t.pxeAllowList.list()).toEqual([]);
  });

  it('answers cancel with no rebuild running with 409 no_active_rebuild', async () => {
    const id = await registerHost();
    const res = await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild/cancel` });
    expect(res.statusCode).toBe(409);
    expect(res.json().error.code).toBe('no_active_rebuild');
  });
});

// The stage under test gets a short timer; every other stage keeps shortTimeouts' minute, which no test here
// lasts. A timer that starts after the test's last event can be 300 ms; one the test must beat gets a second.
describe('rebuildHostWorkflow stage timeouts', () => {
  it('fails naming the stage and the MAC when no PXE request arrives in time', async () => {
    await setup({ ...shortTimeouts, pxeBoot: '300ms' });
    const id = await registerHost();
    const { operation_id: operationId } = (await startRebuild(id)).json();
    const result = await t.client.workflow.getHandle(rebuildWorkflowId(id)).result();
    expect(result.failure).toEqual({ stage: 'pxe_ready', reason: 'stage_timeout', message: 'no PXE request from aa:bb:cc:dd:ee:03 within 300ms' });
    expect(t.hosts.get(id).state).toBe('failed');
    expect(t.operations.find(operationId)?.failureMessage).toBe('no PXE request from aa:bb:cc:dd:ee:03 within 300ms');
    expect(t.keys.list()).toEqual([]);
    expect(t.pxeAllowList.list()).toEqual([]);
  });

  it('records pxe_booted on the signal, ignores a duplicate, then times out waiting for the answer file', async () => {
    // 1 s: the duplicate must reach the server before this timer fires to be recorded at the wait it ends.
    await setup({ ...shortTimeouts, answerFetch: '1s' });
    const id = await registerHost();
    await startRebuild(id);
    await waitForState(t.operations, id, 'pxe_ready');
    const handle = t.client.workflow.getHandle(rebuildWorkflowId(id));
    await handle.signal(pxeBootedSignal, { at: new Date().toISOString(), remoteAddress: '192.0.2.53' });
    await handle.signal(pxeBootedSignal, { at: new Date().toISOString(), remoteAddress: '192.0.2.53' });
    const result = await handle.result();
    expect(result.failure).toEqual({
      stage: 'pxe_booted',
      reason: 'stage_timeout',
      message: 'no answer-file request from aa:bb:cc:dd:ee:03 within 1s of its PXE boot',
    });
    const events = t.operations.events(t.operations.listForHost(id)[0]!.id);
    const states = events.filter((e) => e.kind === 'state').map((e) => e.state);
    expect(states).toEqual(['pxe_ready', 'pxe_booted', 'failed']);
    expect(events.find((e) => e.state === 'pxe_booted')?.message).toBe('PXE boot script served from 192.0.2.53');
    // The duplicate lands in the same workflow task as the first signal or in the next one, after pxe_booted.
    const ignored = events.filter((e) => e.kind === 'boot_event_ignored').map((e) => e.message);
    expect(ignored).toHaveLength(1);
    expect(ignored[0]).toMatch(/^pxeBooted received again while pxe_(ready|booted); ignored$/);
  });
});
