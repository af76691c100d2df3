// Real: Temporal dev server, worker with the real activities, SQLite, Fastify, Debian's sshd as a stand-in
// Proxmox node with the scripted pvecm (test/fixtures/pvecm). Boot events are sent as signals, as the boot
// endpoints will send them.
import { lstatSync } from 'node:fs';
import { temporal } from '@temporalio/proto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Activities } from '../../activities';
import type { JoinSettings } from '../../activities/cluster-join';
import { rebuildWorkflowId } from '../../src/domain/rebuild-ids';
import { answerServedSignal, installedSignal, phonedHomeSignal, pxeBootedSignal } from '../../workflows/messages';
import { activityRunCounts, readableHistory } from '../helpers/history';
import { startStandInNode, type StandInNode } from '../helpers/sshd-node';
import { Resources } from '../helpers/release';
import { buildTestApp, shortTimeouts, type TestApp } from '../helpers/test-app';
import { startTestWorker, testFingerprint } from '../helpers/test-worker';
import { waitForState } from '../helpers/wait-for';
import { ProxmoxApi } from '../../src/proxmox/api-client';
import { requestClusterLock } from '../../activities/cluster-lock';
import { proxmoxLayout } from '../../activities/cluster-join';
import { auditorToken, startProxmoxApiStandIn } from '../helpers/proxmox-api-standin';

const password = 'peer-root-pw-5e2a9c';
const joinDefaults: JoinSettings = { existingNode: '192.0.2.10', fingerprint: testFingerprint, password, sshPort: 22, layout: proxmoxLayout };
let t: TestApp;
let node: StandInNode;

/** The test app, a stand-in node and a worker; `maxCachedWorkflows` as temporal.max_cached_workflows, `settings` over the worker's join settings. */
async function setUp(maxCachedWorkflows?: number, settings: Partial<JoinSettings> = {}) {
  t = resources.add(await buildTestApp({ timeouts: { ...shortTimeouts, join: '20s' } }), (app) => app.close());
  node = resources.add(await startStandInNode(password), (n) => n.stop());
  const join = { password, sshPort: node.port, layout: node.layout, existingNode: '192.0.2.10', fingerprint: testFingerprint, ...settings };
  resources.add(await startTestWorker(t, { join, maxCachedWorkflows }), (w) => w.stop());
}
const resources = new Resources();
afterEach(() => resources.releaseAll());

/** Registers and starts a rebuild, installs the rebuild key on the stand-in as the installer would, and drives the boot events. */
async function driveToFirstBoot(hostKeys: Record<string, string> = { ed25519: node.hostKey }, observed: { webhook?: string; phoneHome?: string; answers?: number } = {}) {
  const res = await t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname: 'pve-ms-03', mac: 'aa:bb:cc:dd:ee:03', server_type: 'minisforum-ms-01' } });
  const id: number = res.json().id;
  const started = await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild` });
  expect(started.statusCode).toBe(202);
  await waitForState(t.operations, id, 'pxe_ready');
  const key = t.keys.list()[0]!;
  node.authorize(key.publicKey);
  const handle = t.client.workflow.getHandle(rebuildWorkflowId(id));
  const at = () => new Date().toISOString();
  await handle.signal(pxeBootedSignal, { at: at(), remoteAddress: '127.0.0.1' });
  await handle.signal(answerServedSignal, { at: at(), remoteAddress: '127.0.0.1' });
  // What the boot service records each time it serves the answer file.
  for (let i = 0; i < (observed.answers ?? 1); i++) t.operations.append({ hostId: id, operationId: started.json().operation_id, kind: 'answer_served', message: 'answer file served to 127.0.0.1', details: { remoteAddress: i === 0 ? '127.0.0.1' : '127.0.0.66' } });
  await handle.signal(installedSignal, { at: at(), remoteAddress: observed.webhook ?? '127.0.0.1', managementAddress: '127.0.0.1/8', sshHostKeys: hostKeys, machineId: '3f2a0c9d8e7b6a5f4e3d2c1b0a998877' });
  await handle.signal(phonedHomeSignal, { at: at(), remoteAddress: observed.phoneHome ?? '127.0.0.1', ip: '127.0.0.1', hardwareId: '4c4c4544-0042-3510-8052-b4c04f4e3732' });
  return { id, handle, publicKey: key.publicKey, operationId: started.json().operation_id as number };
}

describe('rebuild cluster join', () => {
  beforeEach(() => setUp());

  it('joins over SSH with the rebuild key, removes the key from the node, and ends ready', async () => {
    const { id, handle, publicKey, operationId } = await driveToFirstBoot();
    const result = await handle.result();
    expect(result).toEqual({ hostId: id, state: 'ready', failure: null });

    expect(t.hosts.get(id).state).toBe('ready');
    expect(node.pvecmArgs()).toEqual([`add 192.0.2.10 --fingerprint ${testFingerprint}`]);
    expect(node.pvecmPassword()).toBe(password);
    // The key is gone from both files; the operator's own key is untouched; the symlink survived.
    expect(node.authorizedKeys()).not.toContain(publicKey);
    expect(node.privAuthorizedKeys()).not.toContain(publicKey);
    expect(node.privAuthorizedKeys().join('\n')).toContain('operator@laptop');
    expect(lstatSync(node.layout.authorizedKeysFiles[0]!).isSymbolicLink()).toBe(true);
    expect(t.keys.list()).toEqual([]);

    const events = t.operations.events(operationId);
    expect(events.filter((e) => e.kind === 'state').map((e) => e.state)).toEqual([
      'pxe_ready', 'pxe_booted', 'installing', 'installed', 'first_boot', 'joining', 'ready',
    ]);
    const pvecm = events.find((e) => e.kind === 'pvecm_output')!;
    expect(pvecm.details?.stdout).toContain("successfully added node");
    expect(events.find((e) => e.kind === 'key_cleanup')?.message).toMatch(/rebuild key removed from 127\.0\.0\.1 \(.*authorized_keys: 1 line removed/);
    expect(events.find((e) => e.kind === 'infrastructure_skipped')?.message).toBe('Infrastructure registration skipped: infrastructure.base_url is empty');
    expect(t.operations.find(operationId)).toMatchObject({ status: 'succeeded', stage: 'ready' });

    // The Web UI shows the SSH activities on their own task queue, the others on the rebuild queue.
    const raw = await handle.fetchHistory();
    const queues = Object.fromEntries(
      raw.events!.flatMap((e) => {
        const a = e.activityTaskScheduledEventAttributes;
        return a ? [[a.activityType!.name!, a.taskQueue!.name!]] : [];
      }),
    );
    expect(queues).toEqual({
      requestClusterLock: t.taskQueue,
      joinCluster: `${t.taskQueue}-ssh`,
      checkClusterMembership: t.taskQueue,
      removeRebuildKeyFromHost: `${t.taskQueue}-ssh`,
      registerInInfrastructure: t.taskQueue,
    });

    // The join password is nowhere an operator could read it.
    const history = readableHistory(raw);
    expect(history).not.toContain(password);
    expect(JSON.stringify(events)).not.toContain(password);
    const api = await t.app.inject({ method: 'GET', url: `/api/hosts/${id}` });
    expect(api.body).not.toContain(password);
  });

  it('fails with host_key_mismatch and runs no command when the host key is not the one reported', async () => {
    const other = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBtH5n5TqQ2y0rj6ZcVbQx1Hn0wq9m3WmCz9o0yq3XyZ impostor';
    const { id, handle } = await driveToFirstBoot({ ed25519: other });
    const result = await handle.result();
    expect(result.failure).toMatchObject({ stage: 'joining', reason: 'host_key_mismatch' });
    expect(result.failure!.message).toMatch(/host key of 127\.0\.0\.1 .* is not one the installer reported/);
    expect(node.pvecmArgs()).toEqual([]);
    expect(t.hosts.get(id).state).toBe('failed');
    expect(t.keys.list()).toEqual([]);
  });

  it.each([
    ['fingerprint', `pvecm add failed: fingerprint '${testFingerprint}' not verified, abort!`],
    ['existing-node', "pvecm add failed: An error occurred on the cluster node: can't add existing node"],
    ['no-quorum', 'pvecm add failed: An error occurred on the cluster node: cluster not ready - no quorum?; Cluster join aborted!'],
    ['claims-success', 'pvecm add reported success but'],
  ] as const)('fails with join_rejected and Proxmox\'s message when pvecm says %s', async (mode, message) => {
    node.setMode(mode);
    const { id, handle, publicKey } = await driveToFirstBoot();
    const result = await handle.result();
    expect(result.failure).toMatchObject({ stage: 'joining', reason: 'join_rejected' });
    expect(result.failure!.message).toContain(message);
    expect(node.pvecmArgs()).toHaveLength(1); // definite: not retried
    expect(t.hosts.get(id).state).toBe('failed');
    expect(node.authorizedKeys()).not.toContain(publicKey);
    expect(t.keys.list()).toEqual([]);
  });
});

describe('the join password goes only to the machine that installed', () => {
  beforeEach(() => setUp());

  it.each([
    ['the phone-home came from another address than it claims', { phoneHome: '127.0.0.9' }, 'the join would connect to 127.0.0.1, the address the phone-home claims, but the phone-home came from 127.0.0.9'],
    ['the installer\'s webhook came from another address', { webhook: '127.0.0.7' }, "the join would connect to 127.0.0.1, but the installer's webhook came from 127.0.0.7"],
    ['the answer file was served twice', { answers: 2 }, 'the answer file was served 2 times for this rebuild (to 127.0.0.1, 127.0.0.66): only the one installer it was served to may join'],
  ] as const)('fails with identity_mismatch and sends no password when %s', async (_name, observed, message) => {
    const { handle, operationId } = await driveToFirstBoot(undefined, observed);
    const result = await handle.result();
    expect(result.failure).toMatchObject({ stage: 'joining', reason: 'identity_mismatch', message });
    expect(node.pvecmArgs()).toEqual([]);
    expect(node.pvecmPassword()).toBeNull();
    expect(t.operations.events(operationId).find((e) => e.kind === 'identity_mismatch')?.message).toBe(`no password sent: ${message}`);
  });

  it('joins when both came from the address it joins, written as an IPv4-mapped IPv6 address too', async () => {
    const { handle } = await driveToFirstBoot(undefined, { webhook: '::ffff:127.0.0.1', phoneHome: '::ffff:127.0.0.1' });
    expect((await handle.result()).state).toBe('ready');
    expect(node.pvecmArgs()).toHaveLength(1);
  });
});

describe('rebuild joining through a member chosen from the cluster (proxmox.api_token)', () => {
  const cluster = async (layout: 'three-node' | 'standalone' = 'three-node') => {
    const standIn = resources.add(await startProxmoxApiStandIn({ layout, rootPassword: password }), (s) => s.close());
    const api = new ProxmoxApi({ host: '127.0.0.1', port: standIn.port, fingerprint: standIn.fingerprint, apiToken: `${auditorToken.id}=${auditorToken.secret}` });
    return { standIn, api };
  };

  it('joins through another online member with that member\'s fingerprint when existing_node is offline', async () => {
    const { standIn, api } = await cluster(); // the API is pve1's (the local node of the stand-in)
    await setUp(undefined, { existingNode: '192.0.2.13', cluster: api });
    node.joinsThrough({ apiUrl: standIn.url, hostname: 'pve-ms-03', ip: '127.0.0.1' });
    standIn.cluster.setOnline('pve3', false);
    const { handle, operationId } = await driveToFirstBoot();
    expect((await handle.result()).failure).toBeNull();
    // The cluster's own list has it, online: what the check after the join read before calling it ready.
    expect(standIn.cluster.nodes.find((n) => n.name === 'pve-ms-03')).toMatchObject({ ip: '127.0.0.1', online: true });
    const pve1 = standIn.cluster.nodes.find((n) => n.name === 'pve1')!;
    expect(pve1.fingerprint).toBe(standIn.fingerprint);
    expect(node.pvecmArgs()).toEqual([`add 192.0.2.11 --fingerprint ${pve1.fingerprint}`]);
    const events = t.operations.events(operationId);
    expect(events.find((e) => e.kind === 'join_peer')?.message).toBe('joining through pve1 (192.0.2.11): proxmox.existing_node 192.0.2.13 is offline or is the host being rebuilt; pve1 is an online member');
    expect(events.find((e) => e.kind === 'joined')?.message).toBe('pve-ms-03 joined the cluster via pve1');
    expect(events.find((e) => e.kind === 'cluster_checked')?.message).toBe('pve-ms-03 is in the nodelist and online; cluster lab is quorate with 4 members (3 of 4 votes)');
  });

  it('fails with join_rejected and sends no password when the member is standalone', async () => {
    const { api } = await cluster('standalone');
    await setUp(undefined, { cluster: api });
    const { handle } = await driveToFirstBoot();
    const result = await handle.result();
    expect(result.failure).toMatchObject({ stage: 'joining', reason: 'join_rejected' });
    expect(result.failure!.message).toBe(`${api.address} is a standalone node, in no cluster: create the cluster first with pvecm create on it`);
    expect(node.pvecmArgs()).toEqual([]);
  });
});

// The gateway refuses such a rebuild up front when its own settings are empty (rebuild-preconditions.test.ts); this
// is a worker whose settings are empty while the gateway's are not (--role worker with its own config file).
describe('rebuild with the cluster join not configured on the worker', () => {
  it.each([
    ['proxmox.existing_node', { existingNode: '' }],
    ['proxmox.join_fingerprint', { fingerprint: '' }],
    ['proxmox.join_password', { password: '' }],
  ] as const)('fails at joining with join_rejected naming the settings when %s is empty, and runs no command', async (_setting, settings) => {
    await setUp(undefined, settings);
    const { id, handle, publicKey, operationId } = await driveToFirstBoot();
    const result = await handle.result();
    expect(result.failure).toEqual({
      stage: 'joining',
      reason: 'join_rejected',
      message: 'cluster join is not configured: set proxmox.existing_node, proxmox.join_fingerprint and proxmox.join_password',
    });
    expect(node.pvecmArgs()).toEqual([]);
    expect(t.hosts.get(id).state).toBe('failed');
    expect(t.operations.find(operationId)).toMatchObject({ status: 'failed', failureReason: 'join_rejected' });
    // Definite: one attempt, not retried until the join timeout.
    const attempts = t.operations.events(operationId).filter((e) => e.kind === 'activity_failed' && e.details?.activity === 'joinCluster');
    expect(attempts.map((e) => [e.message, e.details?.retrying])).toEqual([
      ['joinCluster attempt 1 failed: cluster join is not configured: set proxmox.existing_node, proxmox.join_fingerprint and proxmox.join_password', false],
    ]);
    // Cleanup still took the rebuild key off the host and destroyed it.
    expect(node.authorizedKeys()).not.toContain(publicKey);
    expect(t.keys.list()).toEqual([]);
  });
});

describe('rebuild with the workflow cache off (temporal.max_cached_workflows: 0)', () => {
  beforeEach(() => setUp(0));

  it('replays the history at every event and still ends ready, running each step once', async () => {
    const { id, handle, operationId } = await driveToFirstBoot();
    expect(await handle.result()).toEqual({ hostId: id, state: 'ready', failure: null });

    expect(t.operations.events(operationId).filter((e) => e.kind === 'state').map((e) => e.state)).toEqual([
      'pxe_ready', 'pxe_booted', 'installing', 'installed', 'first_boot', 'joining', 'ready',
    ]);
    expect(node.pvecmArgs()).toHaveLength(1);
    const history = await handle.fetchHistory();
    // No workflow task went to the worker's sticky queue: each one was served by replaying the history.
    const taskQueueKinds = history.events!.flatMap((e) => (e.workflowTaskScheduledEventAttributes ? [e.workflowTaskScheduledEventAttributes.taskQueue?.kind] : []));
    expect(taskQueueKinds.length).toBeGreaterThan(2);
    expect(taskQueueKinds).not.toContain(temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_STICKY);
    const count = activityRunCounts(history);
    expect(count('generateRebuildKey')).toBe(1);
    expect(count('joinCluster')).toBe(1);
    expect(count('recordHostState')).toBe(6);
    expect(t.keys.list()).toEqual([]);
  });
});

describe('joins at once across clusters (proxmox.max_parallel_joins)', () => {
  it('runs at most max_parallel_joins joins together; the others wait their turn and still end ready', async () => {
    t = resources.add(await buildTestApp({ timeouts: { ...shortTimeouts, join: '20s' } }), (app) => app.close());
    // Joins held open until the test releases them one by one, to see how many run at once.
    const running: number[] = [];
    const started: number[] = [];
    let most = 0;
    const release = new Map<number, () => void>();
    const startedWaiters: Array<{ count: number; resolve: () => void }> = [];
    const override: Partial<Activities> = {
      async joinCluster(input) {
        running.push(input.hostId);
        started.push(input.hostId);
        most = Math.max(most, running.length);
        for (const w of startedWaiters.filter((w) => started.length >= w.count)) w.resolve();
        await new Promise<void>((resolve) => release.set(input.hostId, resolve));
        running.splice(running.indexOf(input.hostId), 1);
        return { alreadyMember: false };
      },
      removeRebuildKeyFromHost: async () => ({ outcome: 'removed', files: {} }),
      // Each host joins a cluster of its own (one lock each): joins to one cluster run one at a time anyway.
      requestClusterLock: (input) => requestClusterLock({ join: { ...joinDefaults, existingNode: `192.0.2.1${input.hostname.slice(-1)}` } })(input),
    };
    const startedCount = (count: number) =>
      new Promise<void>((resolve) => (started.length >= count ? resolve() : startedWaiters.push({ count, resolve })));
    resources.add(await startTestWorker(t, { override, maxParallelJoins: 2 }), (w) => w.stop());
    // Released before the worker stops, so a failed assertion does not leave joins holding its shutdown.
    resources.add(release, async (gates) => gates.forEach((open) => open()));

    const ids: number[] = [];
    for (const i of [1, 2, 3]) {
      const res = await t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname: `pve-ms-1${i}`, mac: `aa:bb:cc:dd:ee:1${i}`, server_type: 'minisforum-ms-01' } });
      const id: number = res.json().id;
      ids.push(id);
      expect((await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild` })).statusCode).toBe(202);
      await waitForState(t.operations, id, 'pxe_ready');
      const handle = t.client.workflow.getHandle(rebuildWorkflowId(id));
      const at = () => new Date().toISOString();
      await handle.signal(pxeBootedSignal, { at: at(), remoteAddress: '127.0.0.1' });
      await handle.signal(answerServedSignal, { at: at(), remoteAddress: '127.0.0.1' });
      await handle.signal(installedSignal, { at: at(), managementAddress: `127.0.1.${i}/8`, sshHostKeys: { ed25519: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeHostKeyForTheCapTest0000000000000' }, machineId: null });
      await handle.signal(phonedHomeSignal, { at: at(), remoteAddress: `127.0.1.${i}`, ip: `127.0.1.${i}`, hardwareId: null });
    }
    // All three wait in joining with their join scheduled; two of them run.
    for (const id of ids) await waitForState(t.operations, id, 'joining');
    for (const id of ids) {
      await vi.waitFor(async () => {
        const { raw } = await t.client.workflow.getHandle(rebuildWorkflowId(id)).describe();
        expect(raw.pendingActivities?.map((a) => a.activityType?.name)).toEqual(['joinCluster']);
      });
    }
    await startedCount(2);
    expect(running).toHaveLength(2);
    const waiting = ids.find((id) => !started.includes(id))!;
    const pending = (await t.client.workflow.getHandle(rebuildWorkflowId(waiting)).describe()).raw.pendingActivities![0]!;
    expect(pending.state).toBe(temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED);

    // Releasing one lets the third start.
    release.get(started[0]!)!();
    await startedCount(3);
    expect(started[2]).toBe(waiting);
    for (const id of started.slice(1)) release.get(id)!();
    for (const id of ids) {
      expect(await t.client.workflow.getHandle(rebuildWorkflowId(id)).result()).toEqual({ hostId: id, state: 'ready', failure: null });
    }
    expect(most).toBe(2);
  });
});
