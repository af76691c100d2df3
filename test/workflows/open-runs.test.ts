// Rebuilds left open at each wait: the runs an upgrade meets. Each test drives a rebuild to one wait and checks it is
// waiting there; the test app's close records the open run when `npm run histories:record` runs (named
// `…--open-at-<state>.json`), and the replay suite replays those histories against every later workflow bundle.
// Real: Temporal dev server, worker with the real activities, SQLite, Fastify, sshd stand-in Proxmox node, an HTTP
// stand-in for Infrastructure.
import type { WorkflowHandle } from '@temporalio/client';
import { afterEach, describe, expect, it } from 'vitest';
import type { Activities } from '../../activities';
import { rebuildWorkflowId } from '../../src/domain/rebuild-ids';
import { answerServedSignal, installedSignal, phonedHomeSignal, pxeBootedSignal, rebuildProgressQuery } from '../../workflows/messages';
import { startInfrastructureStandIn, type InfrastructureStandIn } from '../helpers/infrastructure-standin';
import { Resources } from '../helpers/release';
import { startStandInNode, type StandInNode } from '../helpers/sshd-node';
import { buildTestApp, shortTimeouts, type TestApp } from '../helpers/test-app';
import { startTestWorker, testFingerprint } from '../helpers/test-worker';
import { waitForEvent, waitForState } from '../helpers/wait-for';
import { freePort } from '../setup/temporal-dev-server';

const password = 'peer-root-pw-open';
const mac = 'aa:bb:cc:dd:ee:0f';
const resources = new Resources();
afterEach(() => resources.releaseAll());

let t: TestApp;
let node: StandInNode;
let infra: InfrastructureStandIn;

/** Starts the app, the stand-ins and a worker; returns the worker's stop (once, however often it is called). */
async function setup(o: { sshPort?: number; override?: Partial<Activities> } = {}): Promise<() => Promise<void>> {
  // Stage timeouts far beyond any test: nothing here may end the run it leaves open.
  t = resources.add(await buildTestApp({ timeouts: { ...shortTimeouts, join: '10m' } }), (app) => app.close());
  node = resources.add(await startStandInNode(password), (n) => n.stop());
  infra = resources.add(await startInfrastructureStandIn(), (i) => i.stop());
  const worker = await startTestWorker(t, {
    join: { password, sshPort: o.sshPort ?? node.port, layout: node.layout, existingNode: '192.0.2.10', fingerprint: testFingerprint },
    infrastructure: { baseUrl: infra.baseUrl, serverTypeMap: { 'minisforum-ms-01': 'ms-01' } },
    override: o.override,
  });
  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= worker.stop());
  return resources.add(stop, (s) => s());
}

async function start(): Promise<{ id: number; handle: WorkflowHandle }> {
  const id: number = (await t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname: 'pve-ms-15', mac, server_type: 'minisforum-ms-01' } })).json().id;
  expect((await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild` })).statusCode).toBe(202);
  await waitForState(t.operations, id, 'pxe_ready');
  node.authorize(t.keys.list()[0]!.publicKey);
  return { id, handle: t.client.workflow.getHandle(rebuildWorkflowId(id)) };
}

const at = () => new Date().toISOString();
const installed = () => ({ at: at(), remoteAddress: '127.0.0.1', managementAddress: '127.0.0.1/8', sshHostKeys: { ed25519: node.hostKey }, machineId: 'm-15' });
const phonedHome = () => ({ at: at(), remoteAddress: '127.0.0.1', ip: '127.0.0.1', hardwareId: 'uuid-15' });

/** Signals boot events in order up to and including `last`. */
async function bootUpTo(handle: WorkflowHandle, last: 'pxeBooted' | 'answerServed' | 'installed' | 'phonedHome'): Promise<void> {
  await handle.signal(pxeBootedSignal, { at: at(), remoteAddress: '127.0.0.1' });
  if (last === 'pxeBooted') return;
  await handle.signal(answerServedSignal, { at: at(), remoteAddress: '127.0.0.1' });
  if (last === 'answerServed') return;
  await handle.signal(installedSignal, installed());
  if (last === 'installed') return;
  await handle.signal(phonedHomeSignal, phonedHome());
}

/** The run is open, in `state`, and (when given) has `activity` scheduled. */
async function expectOpen(handle: WorkflowHandle, state: string, activity?: keyof Activities): Promise<void> {
  const description = await handle.describe();
  expect(description.status.name).toBe('RUNNING');
  expect((await handle.query(rebuildProgressQuery)).state).toBe(state);
  const pending = (description.raw.pendingActivities ?? []).map((a) => a.activityType?.name);
  expect(pending).toEqual(activity ? [activity] : []);
}

describe('rebuilds left open at each wait', () => {
  it('waits for the PXE boot', async () => {
    await setup();
    const { handle } = await start();
    await expectOpen(handle, 'pxe_ready');
    expect(t.pxeAllowList.list().map((a) => a.mac)).toEqual([mac]);
  });

  it('waits for the PXE boot with the signal delivered while no worker runs', async () => {
    const stopWorker = await setup();
    const { id, handle } = await start();
    await stopWorker(); // the service is being upgraded; the host PXE boots meanwhile (split roles: the gateway runs)
    await handle.signal(pxeBootedSignal, { at: at(), remoteAddress: '127.0.0.1' });
    expect((await handle.describe()).status.name).toBe('RUNNING');
    expect(t.hosts.get(id).state).toBe('pxe_ready');
  });

  it('waits for the answer-file fetch', async () => {
    await setup();
    const { id, handle } = await start();
    await bootUpTo(handle, 'pxeBooted');
    await waitForState(t.operations, id, 'pxe_booted');
    await expectOpen(handle, 'pxe_booted');
  });

  it('waits for the installer webhook', async () => {
    await setup();
    const { id, handle } = await start();
    await bootUpTo(handle, 'answerServed');
    await waitForState(t.operations, id, 'installing');
    await expectOpen(handle, 'installing');
  });

  it('waits for the phone-home', async () => {
    await setup();
    const { id, handle } = await start();
    await bootUpTo(handle, 'installed');
    await waitForState(t.operations, id, 'installed');
    await expectOpen(handle, 'installed');
    expect(t.pxeAllowList.list()).toEqual([]);
  });

  it('is joining the cluster while the host refuses SSH connections', async () => {
    await setup({ sshPort: await freePort() /* nothing listens there: every SSH attempt is refused, and retried */ });
    const { id, handle } = await start();
    await bootUpTo(handle, 'phonedHome');
    await waitForEvent(t.operations, id, (e) => e.kind === 'activity_failed' && e.message.includes('joinCluster'));
    await expectOpen(handle, 'joining', 'joinCluster');
  });

  it('is registering in Infrastructure while it answers 503', async () => {
    await setup();
    infra.failNext(1000, 503);
    const { id, handle } = await start();
    await bootUpTo(handle, 'phonedHome');
    await waitForEvent(t.operations, id, (e) => e.kind === 'activity_failed' && e.message.includes('registerInInfrastructure'));
    await expectOpen(handle, 'joining', 'registerInInfrastructure');
    expect(node.pvecmArgs()).toHaveLength(1);
  });

  it('is removing the key from the host in its cleanup after a cancel', async () => {
    // The removal hangs until the test ends; then its attempt fails (a retry is due in seconds), so the worker stops
    // at once and the run is still open in its cleanup when the app records and terminates it.
    let entered!: () => void;
    const removing = new Promise<void>((r) => (entered = r));
    let end!: (err: Error) => void;
    const hanging = new Promise<void>((_, reject) => (end = reject));
    hanging.catch(() => undefined);
    await setup({ override: { removeRebuildKeyFromHost: async () => { entered(); await hanging; throw new Error('unreachable'); } } });
    resources.add(null, async () => end(new Error('the test finished'))); // released before the worker stops
    const { id, handle } = await start();
    await bootUpTo(handle, 'installed');
    await waitForState(t.operations, id, 'installed');
    await handle.cancel();
    await removing;
    await expectOpen(handle, 'failed', 'removeRebuildKeyFromHost');
  });
});
