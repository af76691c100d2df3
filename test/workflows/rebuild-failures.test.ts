// Real: Temporal dev server, worker with the real activities, SQLite, Fastify, sshd stand-in Proxmox node.
// Each stage's timeout comes from the workflow's arguments: the stage under test gets a sub-second or one-second
// timer, every other stage keeps shortTimeouts' minute, which no test here lasts.
import { ApplicationFailure } from '@temporalio/common';
import { afterEach, describe, expect, it } from 'vitest';
import type { Activities } from '../../activities';
import { generateRebuildKey } from '../../activities/rebuild-key';
import type { RebuildTimeouts } from '../../src/domain/rebuild';
import { parseMac } from '../../src/domain/mac-address';
import { renderLocalBootScript } from '../../src/boot/ipxe-script';
import { RebuildJanitor } from '../../src/temporal/rebuild-janitor';
import { createLogger } from '../../src/logging';
import { rebuildWorkflowId } from '../../src/domain/rebuild-ids';
import { answerServedSignal, installedSignal, phonedHomeSignal, pxeBootedSignal } from '../../workflows/messages';
import { startStandInNode, type StandInNode } from '../helpers/sshd-node';
import { Resources } from '../helpers/release';
import { buildTestApp, shortTimeouts, type TestApp } from '../helpers/test-app';
import { startTestWorker, testFingerprint } from '../helpers/test-worker';
import { activitiesRun } from '../helpers/history';
import { waitForEvent, waitForState } from '../helpers/wait-for';
import { freePort } from '../setup/temporal-dev-server';

const password = 'peer-root-pw-0c0c';
let t: TestApp;
let node: StandInNode;

async function setup(timeouts: Partial<RebuildTimeouts>, sshPort?: number) {
  t = resources.add(await buildTestApp({ timeouts: { ...shortTimeouts, ...timeouts } }), (app) => app.close());
  node = resources.add(await startStandInNode(password), (n) => n.stop());
  resources.add(await startTestWorker(t, { join: { password, sshPort: sshPort ?? node.port, layout: node.layout, existingNode: '192.0.2.10', fingerprint: testFingerprint } }), (w) => w.stop());
}
const resources = new Resources();
afterEach(() => resources.releaseAll());

async function start() {
  const res = await t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname: 'pve-ms-05', mac: 'aa:bb:cc:dd:ee:05', server_type: 'minisforum-ms-01' } });
  const id: number = res.json().id;
  const started = await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild` });
  await waitForState(t.operations, id, 'pxe_ready');
  const key = t.keys.list()[0]!;
  node.authorize(key.publicKey);
  return { id, handle: t.client.workflow.getHandle(rebuildWorkflowId(id)), publicKey: key.publicKey, operationId: started.json().operation_id as number };
}

const at = () => new Date().toISOString();

const installed = () => ({ at: at(), managementAddress: '127.0.0.1/8', sshHostKeys: { ed25519: node.hostKey }, machineId: 'm-1' });

describe('rebuild stage timeouts', () => {
  it('fails at installing when no post-installation webhook arrives, and stops allowing PXE', async () => {
    await setup({ install: '300ms' }); // starts after the test's last event: nothing to race
    const { id, handle } = await start();
    await handle.signal(pxeBootedSignal, { at: at() });
    await handle.signal(answerServedSignal, { at: at() });
    const result = await handle.result();
    expect(result.failure).toEqual({ stage: 'installing', reason: 'stage_timeout', message: 'no post-installation webhook from aa:bb:cc:dd:ee:05 within 300ms of serving its answer file' });
    expect(t.hosts.get(id).state).toBe('failed');
    expect(t.pxeAllowList.list()).toEqual([]);
    expect(t.keys.list()).toEqual([]);
  });

  it('fails at installed when the host never phones home, and removes the key from the host anyway', async () => {
    await setup({ phoneHome: '300ms' });
    const { id, handle, publicKey } = await start();
    await handle.signal(pxeBootedSignal, { at: at() });
    await handle.signal(answerServedSignal, { at: at() });
    await handle.signal(installedSignal, installed());
    await waitForEvent(t.operations, id, (e) => e.kind === 'pxe_revoked');
    expect(t.pxeAllowList.find(parseMac('aa:bb:cc:dd:ee:05'))).toBeUndefined(); // revoked before the host reboots
    const result = await handle.result();
    expect(result.failure).toEqual({ stage: 'installed', reason: 'stage_timeout', message: 'no phone-home from aa:bb:cc:dd:ee:05 within 300ms of its installation finishing' });
    expect(node.authorizedKeys()).not.toContain(publicKey);
    expect(node.authorizedKeys().join('\n')).toContain('operator@laptop');
    expect(t.keys.list()).toEqual([]);
  });

  it('fails at joining naming the join timeout when the host never accepts SSH connections', async () => {
    // A refused connection fails at once and the first retry (after 2 s) would end past the deadline, so the join
    // ends after one attempt; 2 s leaves that attempt time to run.
    await setup({ join: '2s' }, await freePort() /* nothing listens there */);
    const { handle } = await start();
    await handle.signal(pxeBootedSignal, { at: at() });
    await handle.signal(answerServedSignal, { at: at() });
    await handle.signal(installedSignal, installed());
    await handle.signal(phonedHomeSignal, { at: at(), remoteAddress: '127.0.0.1', ip: '127.0.0.1', hardwareId: null });
    const result = await handle.result();
    expect(result.failure).toMatchObject({ stage: 'joining', reason: 'stage_timeout' });
    expect(result.failure!.message).toMatch(/^cluster join did not finish within 2s: cannot reach 127\.0\.0\.1:\d+ over SSH: /);
    expect(t.keys.list()).toEqual([]);
    // Cleanup tried to remove the key from the unreachable host three times (its retry policy) and said so.
    const removals = t.operations.events(t.operations.listForHost(result.hostId)[0]!.id).filter((e) => e.kind === 'activity_failed' && e.details?.activity === 'removeRebuildKeyFromHost');
    expect(removals.map((e) => e.message.replace(/: .*/, ''))).toEqual([
      'removeRebuildKeyFromHost attempt 1 failed (will retry)',
      'removeRebuildKeyFromHost attempt 2 failed (will retry)',
      'removeRebuildKeyFromHost attempt 3 failed (last attempt)',
    ]);
    expect(removals.map((e) => e.details?.retrying)).toEqual([true, true, false]);
  });

  it('lets the operator delete a host whose failed rebuild is still cleaning up, and the cleanup still finishes', async () => {
    await setup({ join: '2s' }, await freePort() /* nothing listens there */);
    const { id, handle } = await start();
    await handle.signal(pxeBootedSignal, { at: at() });
    await handle.signal(answerServedSignal, { at: at() });
    await handle.signal(installedSignal, installed());
    await handle.signal(phonedHomeSignal, { at: at(), remoteAddress: '127.0.0.1', ip: '127.0.0.1', hardwareId: null });
    await waitForState(t.operations, id, 'failed', 30_000);
    // The cleanup is now retrying the key removal against the unreachable host.
    expect((await t.app.inject({ method: 'DELETE', url: `/api/hosts/${id}` })).statusCode).toBe(204);

    const result = await handle.result();
    expect(result.failure).toMatchObject({ stage: 'joining', reason: 'stage_timeout' });
    expect(t.keys.list()).toEqual([]); // the private key was still destroyed
    expect(t.operations.listForHost(id)).toEqual([]); // and nothing was written for the deleted host
  }, 60_000);
});

describe('rebuild key generation', () => {
  it('fails with key_generation_failed when the key cannot be stored, leaving the host as it was and allowing no PXE boot', async () => {
    t = resources.add(await buildTestApp(), (app) => app.close());
    // The real activity on the real store, whose SQLite file refuses every new rebuild key, as a full disk would.
    t.db.exec("CREATE TRIGGER full_disk BEFORE INSERT ON rebuild_keys BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END");
    const generate = generateRebuildKey({ keys: t.keys, operations: t.operations });
    // The workflow retries a failing key generation 10 times over about 65 s; the test makes the failure definite
    // so the rebuild fails at the first attempt, with the outcome of the last.
    const override: Partial<Activities> = {
      async generateRebuildKey(input) {
        try {
          return await generate(input);
        } catch (err) {
          throw ApplicationFailure.nonRetryable((err as Error).message, 'SqliteError');
        }
      },
    };
    resources.add(await startTestWorker(t, { override }), (w) => w.stop());
    const id: number = (await t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname: 'pve-ms-05', mac: 'aa:bb:cc:dd:ee:05', server_type: 'minisforum-ms-01' } })).json().id;
    const started = await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild` });
    expect(started.statusCode).toBe(202);
    const operationId: number = started.json().operation_id;
    const handle = t.client.workflow.getHandle(rebuildWorkflowId(id));

    const message = 'could not generate the rebuild key: database or disk is full';
    expect(await handle.result()).toEqual({ hostId: id, state: 'failed', failure: { stage: 'pxe_ready', reason: 'key_generation_failed', message } });
    expect(t.operations.find(operationId)).toMatchObject({ status: 'failed', failureReason: 'key_generation_failed', failureMessage: message });
    expect(t.hosts.get(id).state).toBe('registered'); // it never reached pxe_ready
    const events = t.operations.events(operationId);
    expect(events.filter((e) => e.kind === 'state').map((e) => e.state)).toEqual(['registered']);
    expect(events.find((e) => e.kind === 'state')?.message).toContain(message);
    expect(events.filter((e) => e.kind === 'activity_failed').map((e) => e.message)).toEqual(['generateRebuildKey attempt 1 failed: database or disk is full']);
    expect(t.keys.list()).toEqual([]);
    expect(t.pxeAllowList.list()).toEqual([]);
    expect(activitiesRun(await handle.fetchHistory())).not.toContain('allowPxeBoot');

    // Once keys can be stored again, the next rebuild of the host starts normally.
    t.db.exec('DROP TRIGGER full_disk');
    const again = await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild` });
    expect(again.statusCode).toBe(202);
    await waitForEvent(t.operations, id, (e) => e.kind === 'state' && e.state === 'pxe_ready' && e.operationId === again.json().operation_id);
    expect(t.keys.list()).toHaveLength(1);
  });
});

describe('rebuild cancel and out-of-order events', () => {
  it('cancels while waiting for phone-home: failed/cancelled, key removed from the host and from the database', async () => {
    await setup({});
    const { id, handle, publicKey, operationId } = await start();
    await handle.signal(pxeBootedSignal, { at: at() });
    await handle.signal(answerServedSignal, { at: at() });
    await handle.signal(installedSignal, installed());
    await waitForState(t.operations, id, 'installed');
    expect((await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild/cancel` })).statusCode).toBe(202);
    const result = await handle.result();
    expect(result.failure).toEqual({ stage: 'installed', reason: 'cancelled', message: 'rebuild cancelled by an operator while installed' });
    expect(node.authorizedKeys()).not.toContain(publicKey);
    expect(t.keys.list()).toEqual([]);
    const cleanup = t.operations.events(operationId).find((e) => e.kind === 'key_cleanup');
    expect(cleanup?.message).toContain('rebuild key removed from 127.0.0.1');
  });

  it('moves past a stage whose event never came when a later event arrives, and records it', async () => {
    await setup({});
    const { id, handle, operationId } = await start();
    await handle.signal(answerServedSignal, { at: at(), remoteAddress: '127.0.0.1' }); // no pxeBooted first
    await waitForState(t.operations, id, 'installing');
    const states = t.operations.events(operationId).filter((e) => e.kind === 'state');
    expect(states.map((e) => [e.state, e.message])).toEqual([
      ['pxe_ready', 'rebuild key ready; waiting for aa:bb:cc:dd:ee:05 to PXE boot'],
      ['pxe_booted', 'pxeBooted was not seen, but answerServed arrived; moving on'],
      ['installing', 'answer file served from 127.0.0.1; installing'],
    ]);
    await handle.cancel();
    await handle.result();
  });
});

describe('RebuildJanitor', () => {
  it('deletes the key and closes the operation of a terminated rebuild, which ran no cleanup', async () => {
    await setup({});
    const { id, handle, operationId } = await start();
    await handle.terminate('operator pulled the plug');
    expect(t.keys.list()).toHaveLength(1); // no workflow code ran
    const janitor = new RebuildJanitor({ client: t.client, hosts: t.hosts, operations: t.operations, keys: t.keys, pxeAllowList: t.pxeAllowList, log: createLogger('silent') });
    const report = await janitor.sweepOnce();
    expect(report.operationsClosed).toEqual([operationId]);
    expect(report.keysDeleted).toHaveLength(1);
    expect(t.keys.list()).toEqual([]);
    expect(t.pxeAllowList.list()).toEqual([]);
    expect(t.hosts.get(id).state).toBe('failed');
    expect(t.operations.find(operationId)).toMatchObject({ status: 'failed', failureReason: 'terminated' });
    expect(t.operations.events(operationId).map((e) => e.kind)).toEqual(expect.arrayContaining(['key_swept']));
    expect(await janitor.sweepOnce()).toEqual({ keysDeleted: [], operationsClosed: [], allowancesRevoked: [] });
  });

  it('refuses a new rebuild while a terminated one left the host mid-rebuild, until the janitor has reset it', async () => {
    await setup({});
    const { id, handle } = await start();
    await handle.terminate('stuck');
    const janitor = new RebuildJanitor({ client: t.client, hosts: t.hosts, operations: t.operations, keys: t.keys, pxeAllowList: t.pxeAllowList, log: createLogger('silent') });
    await janitor.sweepOnce();
    // The janitor closed the run and reset the host: a new rebuild starts normally.
    expect(t.hosts.get(id).state).toBe('failed');
    const again = await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild` });
    expect(again.statusCode).toBe(202);
    await waitForEvent(t.operations, id, (e) => e.kind === 'state' && e.state === 'pxe_ready' && e.operationId === again.json().operation_id);
    await t.client.workflow.getHandle(rebuildWorkflowId(id)).cancel();
  });

  it('answers a rebuild of a host left mid-rebuild by a terminated run with 409, naming why', async () => {
    await setup({});
    const { id, handle } = await start();
    await handle.terminate('stuck');
    t.operations.finish(t.operations.running(id)!.id, { status: 'failed', reason: 'terminated', message: 'closed without touching the host' });
    const res = await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild` });
    expect(res.statusCode).toBe(409);
    expect(res.json().error).toEqual({ code: 'host_busy', message: `host ${id} is still pxe_ready from a rebuild that ended without cleanup; the janitor resets it within a minute` });
  });

  it('leaves a running rebuild alone', async () => {
    await setup({});
    const { handle } = await start();
    const janitor = new RebuildJanitor({ client: t.client, hosts: t.hosts, operations: t.operations, keys: t.keys, pxeAllowList: t.pxeAllowList, log: createLogger('silent') });
    expect(await janitor.sweepOnce()).toEqual({ keysDeleted: [], operationsClosed: [], allowancesRevoked: [] });
    expect(t.keys.list()).toHaveLength(1);
    expect(t.pxeAllowList.list().map((a) => a.mac)).toEqual(['aa:bb:cc:dd:ee:05']);
    await handle.cancel();
    await handle.result();
  });
});

describe('bounded rebuilds', () => {
  const janitorOf = (app: TestApp) =>
    new RebuildJanitor({ client: app.client, hosts: app.hosts, operations: app.operations, keys: app.keys, pxeAllowList: app.pxeAllowList, log: createLogger('silent') });

  it('starts every rebuild with a run timeout of its stage timeouts plus an hour, and says so in the Web UI', async () => {
    await setup({ install: '90m' });
    const { handle } = await start();
    const description = await handle.describe();
    // 1m + 1m + 90m + 1m + 1m of stages, plus the hour for Infrastructure, cleanup and a worker restart.
    expect(Number(description.raw.executionConfig?.workflowRunTimeout?.seconds)).toBe((94 + 60) * 60);
    expect(await description.staticDetails()).toContain('ends by itself after 2h34m at most');
    await handle.cancel();
    await handle.result();
  });

  it('closes a rebuild that reached its run timeout as failed with reason timed_out: key deleted, PXE revoked', async () => {
    await setup({});
    const mac = 'aa:bb:cc:dd:ee:06';
    const id: number = (await t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname: 'pve-ms-06', mac, server_type: 'minisforum-ms-01' } })).json().id;
    // A run stuck past its bound, as the server sees it: the same workflow with a run timeout of seconds.
    const handle = await t.client.workflow.start('rebuildHostWorkflow', {
      workflowId: rebuildWorkflowId(id),
      taskQueue: t.taskQueue,
      args: [{ hostId: id, hostname: 'pve-ms-06', mac, serverType: 'minisforum-ms-01', timeouts: shortTimeouts }],
      workflowRunTimeout: '3s',
    });
    await waitForState(t.operations, id, 'pxe_ready');
    await expect(handle.result()).rejects.toThrow('Workflow execution timed out');
    expect(t.pxeAllowList.list().map((a) => a.mac)).toEqual([mac]); // no workflow code ran its cleanup

    const report = await janitorOf(t).sweepOnce();
    expect(report.allowancesRevoked).toEqual([mac]);
    expect(report.keysDeleted).toHaveLength(1);
    expect(t.pxeAllowList.list()).toEqual([]);
    expect(t.keys.list()).toEqual([]);
    expect(t.hosts.get(id).state).toBe('failed');
    const operation = t.operations.find(report.operationsClosed[0]!);
    expect(operation).toMatchObject({ status: 'failed', failureReason: 'timed_out' });
    expect(operation?.failureMessage).toBe(`rebuild workflow rebuild-${id} reached its run timeout without having finished its cleanup; closed by the janitor`);
    expect((await t.app.inject({ method: 'GET', url: `/ipxe/${mac}` })).body).toBe(renderLocalBootScript());
  });

  it('ends a rebuild that an earlier version started without a run timeout once it outlives the bound', async () => {
    await setup({});
    const mac = 'aa:bb:cc:dd:ee:07';
    const id: number = (await t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname: 'pve-ms-07', mac, server_type: 'minisforum-ms-01' } })).json().id;
    // Started as before rebuilds had a run timeout.
    const legacy = await t.client.workflow.start('rebuildHostWorkflow', {
      workflowId: rebuildWorkflowId(id),
      taskQueue: t.taskQueue,
      args: [{ hostId: id, hostname: 'pve-ms-07', mac, serverType: 'minisforum-ms-01', timeouts: shortTimeouts }],
    });
    await waitForState(t.operations, id, 'pxe_ready');
    const bounded = (limitMs: number) =>
      new RebuildJanitor({ client: t.client, hosts: t.hosts, operations: t.operations, keys: t.keys, pxeAllowList: t.pxeAllowList, log: createLogger('silent'), unboundedRunLimitMs: limitMs });
    expect((await bounded(3_600_000).sweepOnce()).operationsClosed).toEqual([]); // within the bound: left alone

    const report = await bounded(1).sweepOnce();
    expect(report).toMatchObject({ allowancesRevoked: [mac], keysDeleted: [expect.any(String)] });
    expect((await legacy.describe()).status.name).toBe('TERMINATED');
    expect(t.hosts.get(id).state).toBe('failed');
    expect(t.operations.find(report.operationsClosed[0]!)).toMatchObject({
      status: 'failed',
      failureReason: 'timed_out',
      failureMessage: `rebuild workflow rebuild-${id} was open for longer than 1m with no run timeout (started by an earlier version) and was terminated without having finished its cleanup; closed by the janitor`,
    });
  });

  it('leaves a rebuild with a run timeout to the server, however old', async () => {
    await setup({});
    const { handle } = await start();
    const janitor = new RebuildJanitor({ client: t.client, hosts: t.hosts, operations: t.operations, keys: t.keys, pxeAllowList: t.pxeAllowList, log: createLogger('silent'), unboundedRunLimitMs: 1 });
    expect(await janitor.sweepOnce()).toEqual({ keysDeleted: [], operationsClosed: [], allowancesRevoked: [] });
    expect((await handle.describe()).status.name).toBe('RUNNING');
    await handle.cancel();
    await handle.result();
  });

  it('revokes a PXE allowance whose rebuild is not running even when no open operation names it', async () => {
    await setup({});
    const { id, handle } = await start();
    await handle.terminate('stuck');
    t.operations.finish(t.operations.running(id)!.id, { status: 'failed', reason: 'terminated', message: 'closed by hand' });
    const report = await janitorOf(t).sweepOnce();
    expect(report).toMatchObject({ operationsClosed: [], allowancesRevoked: ['aa:bb:cc:dd:ee:05'] });
    expect(t.pxeAllowList.list()).toEqual([]);
  });
});
