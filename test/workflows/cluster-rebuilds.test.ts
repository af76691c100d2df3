// Cluster-aware rebuilds (issue 16 items 3–4), end to end on the Temporal dev server with the real activities:
// Debian's sshd as the installed machines (each on its own loopback address, port 22 for all as on a real network),
// their scripted pvecm joining through the Proxmox API stand-in, which holds the cluster's member list, quorum and
// the corosync.conf lock (a join that overlaps another fails after lockTimeoutMs, as Proxmox's does).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { joinCluster, type JoinSettings } from '../../activities/cluster-join';
import { removeRebuildKeyFromHost } from '../../activities/key-cleanup';
import { removeOldNodeKey } from '../../activities/member-rebuild';
import type { Activities } from '../../activities';
import { rebuildWorkflowId } from '../../src/domain/rebuild-ids';
import type { RebuildTimeouts } from '../../src/domain/rebuild';
import { ProxmoxApi } from '../../src/proxmox/api-client';
import {
  acquireClusterLockSignal,
  answerServedSignal,
  clusterLockWorkflowId,
  installedSignal,
  phonedHomeSignal,
  pxeBootedSignal,
  rebuildProgressQuery,
  type ClusterLockRequest,
} from '../../workflows/messages';
import type { clusterLockWorkflow } from '../../workflows/cluster-lock';
import { freePort } from '../setup/temporal-dev-server';
import { planRebuild, type RebuildPlanner } from '../../src/proxmox/rebuild-plan';
import { operatorToken, startProxmoxApiStandIn, type ProxmoxApiStandIn, type ProxmoxApiStandInOptions } from '../helpers/proxmox-api-standin';
import { Resources } from '../helpers/release';
import { standInRootPublicKey, startStandInNode, type StandInNode } from '../helpers/sshd-node';
import { buildTestApp, shortTimeouts, type TestApp } from '../helpers/test-app';
import { startTestWorker } from '../helpers/test-worker';
import { waitForEvent, waitForState } from '../helpers/wait-for';

const password = 'cluster-root-pw-7c1d';
const resources = new Resources();
afterEach(() => resources.releaseAll());

interface Lab {
  t: TestApp;
  standIn: ProxmoxApiStandIn;
  sshPort: number;
  machines: Map<string, StandInNode>; // by address
}

/** The test app, the cluster's API stand-in and a worker whose join goes through it. */
async function lab(options: ProxmoxApiStandInOptions = {}, timeouts: Partial<RebuildTimeouts> = {}): Promise<Lab> {
  const standIn: ProxmoxApiStandIn = resources.add(await startProxmoxApiStandIn({ rootPassword: password, ...options }), (s) => s.close());
  const apiOf = (host: string, fingerprint: string) =>
    new ProxmoxApi({ host, port: standIn.port, fingerprint, apiToken: `${operatorToken.id}=${operatorToken.secret}`, rootPassword: password });
  // The gateway plans a rebuild through proxmox.existing_node's API, as the gateway role does with proxmox.api_token.
  const configured = { existingNode: '192.0.2.11', fingerprint: standIn.fingerprint };
  const rebuildPlan: RebuildPlanner = (host, choice) => planRebuild(apiOf('127.0.0.1', standIn.fingerprint), host, choice, configured);
  const t = resources.add(await buildTestApp({ timeouts: { ...shortTimeouts, join: '30s', ...timeouts }, rebuildPlan }), (app) => app.close());
  const sshPort = await freePort();
  const machines = new Map<string, StandInNode>();
  const join: JoinSettings = {
    existingNode: '192.0.2.11', // pve1, the member the stand-in plays
    fingerprint: standIn.fingerprint,
    password,
    sshPort,
    layout: { corosyncConf: '/etc/pve/corosync.conf', authorizedKeysFiles: ['/root/.ssh/authorized_keys', '/etc/pve/priv/authorized_keys'] },
    cluster: apiOf('127.0.0.1', standIn.fingerprint),
    // Every member's API is the stand-in's one address here; the certificate pinned is the member's own pve_fp.
    memberApi: (via) => apiOf('127.0.0.1', via.fingerprint),
  };
  // The machines' files live in each stand-in's own folder (on real machines: the same paths on every one).
  const on = (address: string | null): JoinSettings => ({ ...join, layout: machines.get(address ?? '')?.layout ?? join.layout });
  const deps = { hosts: t.hosts, operations: t.operations, keys: t.keys };
  const override: Partial<Activities> = {
    joinCluster: (input) => joinCluster({ ...deps, join: on(input.address) })(input),
    removeRebuildKeyFromHost: (input) => removeRebuildKeyFromHost({ ...deps, join: on(input.address) })(input),
    removeOldNodeKey: (input) => removeOldNodeKey({ ...deps, join: on(input.address) })(input),
  };
  resources.add(await startTestWorker(t, { join, override }), (w) => w.stop());
  return { t, standIn, sshPort, machines };
}

/** An installed machine at `address` that will join as `hostname`. */
async function machine(l: Lab, hostname: string, address: string, authorizedKeys?: string[]): Promise<StandInNode> {
  const node = resources.add(
    await startStandInNode(password, { listen: { address, port: l.sshPort }, cluster: { apiUrl: l.standIn.url, hostname, ip: address, authorizedKeys } }),
    (n) => n.stop(),
  );
  l.machines.set(address, node);
  return node;
}

/** Registers `hostname` and starts its rebuild (POST /api/hosts/{id}/rebuild with `body`); returns its id. */
async function startRebuild(l: Lab, hostname: string, mac: string, body?: Record<string, unknown>): Promise<number> {
  const res = await l.t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname, mac, server_type: 'minisforum-ms-01' } });
  expect(res.statusCode).toBe(201);
  const id: number = res.json().id;
  const started = await l.t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild`, ...(body ? { payload: body } : {}) });
  expect(started.statusCode, started.body).toBe(202);
  return id;
}

/** What the installed machine does: PXE boot, answer, webhook and phone-home, all from `node`'s address. */
async function install(l: Lab, id: number, node: StandInNode, address: string): Promise<void> {
  await waitForState(l.t.operations, id, 'pxe_ready');
  const key = l.t.keys.list().find((k) => k.workflowId === rebuildWorkflowId(id))!;
  node.authorize(key.publicKey);
  const handle = l.t.client.workflow.getHandle(rebuildWorkflowId(id));
  const at = () => new Date().toISOString();
  await handle.signal(pxeBootedSignal, { at: at(), remoteAddress: address });
  await handle.signal(answerServedSignal, { at: at(), remoteAddress: address });
  await handle.signal(installedSignal, { at: at(), remoteAddress: address, managementAddress: `${address}/8`, sshHostKeys: { ed25519: node.hostKey }, machineId: null });
  await handle.signal(phonedHomeSignal, { at: at(), remoteAddress: address, ip: address, hardwareId: null });
}

const result = (l: Lab, id: number) => l.t.client.workflow.getHandle(rebuildWorkflowId(id)).result();
const eventsOf = (l: Lab, id: number) => l.t.operations.listForHost(id).flatMap((o) => l.t.operations.events(o.id));

describe('one join at a time per cluster', () => {
  it('ten hosts reaching first boot together join one after another, with zero failures and the lock visible', async () => {
    // A join holds the corosync.conf lock for 300 ms; a second one waiting 50 ms for it fails, as on Proxmox.
    const l = await lab({ joinDurationMs: 300, lockTimeoutMs: 50 });
    const hosts = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const hostname = `pve-ms-${10 + i}`;
        const address = `127.0.0.${21 + i}`;
        const node = await machine(l, hostname, address);
        return { hostname, address, node, id: await startRebuild(l, hostname, `aa:bb:cc:dd:ee:${(0x20 + i).toString(16)}`) };
      }),
    );
    await Promise.all(hosts.map((h) => install(l, h.id, h.node, h.address)));
    const results = await Promise.all(hosts.map((h) => result(l, h.id)));
    expect(results.map((r) => r.failure)).toEqual(hosts.map(() => null));

    // The cluster has all ten, online; every addnode succeeded (no lock timeout anywhere).
    expect(l.standIn.cluster.nodes.map((n) => n.name).sort()).toEqual(['pve1', 'pve2', 'pve3', ...hosts.map((h) => h.hostname)].sort());
    const addnodes = l.standIn.requests.filter((r) => r.method === 'POST' && r.path.startsWith('/api2/json/cluster/config/nodes/'));
    expect(addnodes.map((r) => r.status)).toEqual(hosts.map(() => 200));
    for (const h of hosts) expect(h.node.pvecmArgs()).toHaveLength(1);

    // One after another: each join ran between taking and releasing the lock, and no two of those spans overlap.
    const spans = hosts
      .map((h) => {
        const events = eventsOf(l, h.id);
        const acquired = events.find((e) => e.kind === 'cluster_lock_acquired')!;
        const checked = events.find((e) => e.kind === 'cluster_checked')!;
        expect(acquired.message).toBe('holding the lock of cluster lab to join');
        return { hostname: h.hostname, from: acquired.id, to: checked.id, events };
      })
      .sort((a, b) => a.from - b.from);
    for (let i = 1; i < spans.length; i++) expect(spans[i]!.from).toBeGreaterThan(spans[i - 1]!.to);
    // Those who waited were told behind whom, by name.
    const waiting = spans.flatMap((s) => s.events.filter((e) => e.kind === 'cluster_lock_waiting'));
    expect(waiting.length).toBeGreaterThan(0);
    for (const w of waiting) expect(w.message).toMatch(/^waiting for the cluster lock behind pve-ms-1\d( \(\d+ ahead\))? to join$/);
    // The membership check counted one more member each time.
    const counts = spans.map((s) => s.events.find((e) => e.kind === 'cluster_checked')!.details!.members);
    expect(counts).toEqual(hosts.map((_, i) => 4 + i));
  });
});

describe('rebuilding a cluster member', () => {
  const oldKey = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQColdPve2RootKeyFromBeforeTheReinstall000000000000000 root@pve2';
  const otherMembersKey = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCpve1RootKeyStaysInTheCluster000000000000000000 root@pve1';

  it('plans, reboots it, sees it offline, removes it, installs, joins, checks the cluster and removes the old key', async () => {
    const l = await lab();
    const node = await machine(l, 'pve2', '127.0.0.32', [otherMembersKey, oldKey]);
    const plan = await l.t.app.inject({ method: 'GET', url: `/api/hosts/${await registered(l, 'pve2', 'aa:bb:cc:dd:ee:32')}/rebuild-plan` });
    expect(plan.statusCode).toBe(200);
    expect(plan.json()).toMatchObject({ member: true, refusals: [], via: { name: 'pve1' } });

    const id = await rebuildRegistered(l, 'pve2');
    // Out of the cluster before the machine installs: rebooted through pve1's API, seen offline, removed.
    await waitForEvent(l.t.operations, id, (e) => e.kind === 'member_removed');
    expect(l.standIn.cluster.nodes.map((n) => n.name)).toEqual(['pve1', 'pve3']);
    await install(l, id, node, '127.0.0.32');
    expect(await result(l, id)).toEqual({ hostId: id, state: 'ready', failure: null });

    const events = eventsOf(l, id);
    const steps = events.filter((e) => ['member_rebooting', 'member_offline', 'member_removed', 'joined', 'cluster_checked', 'old_key_removed'].includes(e.kind) || (e.kind === 'state' && e.state === 'ready'));
    expect(steps.map((e) => e.kind)).toEqual(['member_rebooting', 'member_offline', 'member_removed', 'joined', 'cluster_checked', 'old_key_removed', 'state']);
    expect(events.find((e) => e.kind === 'member_rebooting')!.message).toBe("reboot of pve2 sent through pve1's API; the machine must network-boot first to reach the installer");
    expect(events.find((e) => e.kind === 'member_removed')!.message).toBe('pve2 removed from the cluster through pve1 (delnode); the install may reuse its name and address');
    expect(events.find((e) => e.kind === 'cluster_checked')!.message).toBe('pve2 is in the nodelist and online; cluster lab is quorate with 3 members (3 of 3 votes)');
    // The API calls the steps made: the reboot with the token, delnode with a root@pam ticket.
    const calls = l.standIn.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path} ${r.auth} ${r.status}`);
    expect(calls).toContain('POST /api2/json/nodes/pve2/status token 200');
    expect(calls).toContain('DELETE /api2/json/cluster/config/nodes/pve2 ticket 200');
    // Back in the cluster under its name, online; the old root@pve2 line is gone, the new one and pve1's stay.
    expect(l.standIn.cluster.nodes.find((n) => n.name === 'pve2')).toMatchObject({ ip: '127.0.0.32', online: true });
    const keys = node.privAuthorizedKeys();
    expect(keys).not.toContain(oldKey);
    expect(keys).toContain(standInRootPublicKey('pve2'));
    expect(keys).toContain(otherMembersKey);
    expect(node.pvecmArgs()).toContain('updatecerts');

    // The host page shows the member's steps, each done, in the plan's order.
    const page = (await l.t.app.inject({ method: 'GET', url: `/hosts/${id}` })).body;
    const shown = [...page.matchAll(/<li class="step step-(\w+)" data-step="(\w+)"/g)].map((m) => `${m[2]}:${m[1]}`);
    expect(shown).toEqual(['reboot:done', 'wait_offline:done', 'remove_node:done', 'install:done', 'join:done', 'check_member:done', 'remove_old_key:done']);
    expect(page).toContain('rebuilding cluster member pve2 of cluster lab through pve1: reboot, remove, install, join, check');
  });

  it('refuses a member with guests on it, and with "migrate" moves them first', async () => {
    const l = await lab({ guests: [{ vmid: 100, name: 'web', node: 'pve2', status: 'running' }, { vmid: 101, name: 'db', node: 'pve2', status: 'running' }, { vmid: 102, name: 'dns', node: 'pve3', status: 'running' }] });
    const node = await machine(l, 'pve2', '127.0.0.33');
    const id = await registered(l, 'pve2', 'aa:bb:cc:dd:ee:33');
    const refused = await l.t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild` });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error.code).toBe('guests_on_node');
    expect(l.t.operations.listForHost(id)).toEqual([]); // nothing started

    const started = await l.t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild`, payload: { migrate_guests: true } });
    expect(started.statusCode, started.body).toBe(202);
    await waitForEvent(l.t.operations, id, (e) => e.kind === 'member_removed');
    // Moved to the least loaded member (pve1 has none, pve3 has one), before the reboot.
    expect(l.standIn.cluster.guests.map((g) => `${g.vmid}@${g.node}`)).toEqual(['100@pve1', '101@pve1', '102@pve3']);
    const kinds = eventsOf(l, id).map((e) => e.kind);
    expect(kinds.indexOf('guests_migrated')).toBeLessThan(kinds.indexOf('member_rebooting'));
    // Not allowed to network-boot the installer while its guests were still on it.
    expect(kinds.indexOf('guests_migrated')).toBeLessThan(kinds.indexOf('pxe_allowed'));
    expect(kinds.indexOf('pxe_allowed')).toBeLessThan(kinds.indexOf('member_rebooting'));
    expect(eventsOf(l, id).find((e) => e.kind === 'guests_migrated')!.message).toBe('2 guests moved from pve2 to pve1');
    await install(l, id, node, '127.0.0.33');
    expect((await result(l, id)).failure).toBeNull();
  });

  it('refuses a member of a 2-node cluster with quorum_at_risk, and starts nothing', async () => {
    const l = await lab({ layout: 'two-node' });
    const id = await registered(l, 'pve2', 'aa:bb:cc:dd:ee:35');
    const refused = await l.t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild` });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error.code).toBe('quorum_at_risk');
    expect(l.t.operations.listForHost(id)).toEqual([]);
    expect(l.standIn.requests.filter((r) => r.method !== 'GET')).toEqual([]); // read-only: nothing rebooted or removed
  });

  it('fails before the reboot when the root@pam password that delnode will need is refused, and never installs', async () => {
    const l = await lab();
    const id = await registered(l, 'pve2', 'aa:bb:cc:dd:ee:34');
    l.standIn.cluster.rootPassword = 'changed-since'; // the ticket login for delnode fails
    expect((await l.t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild` })).statusCode).toBe(202);
    const r = await result(l, id);
    expect(r.failure).toMatchObject({ stage: 'pxe_ready', reason: 'reboot_failed' });
    expect(r.failure!.message).toMatch(/^removing pve2 from the cluster will need the root@pam password \(proxmox\.join_password\), and pve1 refused it; nothing was rebooted/);
    // Never rebooted, still a member, online; its MAC no longer allowed to network-boot the installer.
    expect(l.standIn.requests.filter((r) => r.method === 'POST' && r.path.includes('/status'))).toEqual([]);
    expect(l.standIn.cluster.nodes.find((n) => n.name === 'pve2')).toMatchObject({ online: true });
    expect(l.t.pxeAllowList.list()).toEqual([]);
  });
});

describe('rebuilds left open in the cluster steps (the runs an upgrade meets)', () => {
  it('waits for the cluster lock behind the rebuild holding it', async () => {
    const l = await lab({}, { join: '10m' });
    // Another rebuild holds the lock of cluster lab (as while it joins); this one reaches first boot meanwhile.
    const holder = await rebuildRegistered(l, 'pve-ms-40', undefined, 'aa:bb:cc:dd:ee:40');
    await waitForState(l.t.operations, holder, 'pxe_ready');
    const { runId } = await l.t.client.workflow.getHandle(rebuildWorkflowId(holder)).describe();
    await l.t.client.workflow.signalWithStart<typeof clusterLockWorkflow, [ClusterLockRequest]>('clusterLockWorkflow', {
      workflowId: clusterLockWorkflowId(l.t.taskQueue, 'lab'),
      taskQueue: l.t.taskQueue,
      args: [{ cluster: 'lab' }],
      signal: acquireClusterLockSignal,
      signalArgs: [{ workflowId: rebuildWorkflowId(holder), runId, hostname: 'pve-ms-40', purpose: 'join', leaseMs: 600_000 }],
    });
    const node = await machine(l, 'pve-ms-41', '127.0.0.41');
    const id = await rebuildRegistered(l, 'pve-ms-41', undefined, 'aa:bb:cc:dd:ee:41');
    await install(l, id, node, '127.0.0.41');
    const waiting = await waitForEvent(l.t.operations, id, (e) => e.kind === 'cluster_lock_waiting');
    expect(waiting.message).toBe('waiting for the cluster lock behind pve-ms-40 to join');
    // The grid's tile says so while it waits.
    const tile = (await l.t.app.inject({ method: 'GET', url: '/' })).body;
    expect(tile).toContain('<p class="waiting">waiting for the cluster lock behind pve-ms-40 to join</p>');
    const handle = l.t.client.workflow.getHandle(rebuildWorkflowId(id));
    expect((await handle.query(rebuildProgressQuery)).state).toBe('joining');
    expect(node.pvecmArgs()).toEqual([]); // no join while another holds the lock
  });

  it('waits until the cluster sees a rebooted member offline, and fails with still_online when it never does', async () => {
    // The machine comes straight back up (it booted its disk, not the network): the cluster keeps seeing it online.
    const ref: { standIn?: ProxmoxApiStandIn } = {};
    const l = await lab({ onReboot: (name) => ref.standIn!.cluster.setOnline(name, true) }, { leaveCluster: '4s' });
    ref.standIn = l.standIn;
    const id = await rebuildRegistered(l, 'pve2', undefined, 'aa:bb:cc:dd:ee:42');
    const r = await result(l, id);
    expect(r.failure).toMatchObject({ stage: 'pxe_ready', reason: 'still_online' });
    expect(r.failure!.message).toMatch(/^waiting until the cluster sees pve2 offline did not finish within \d+ s: pve2 is still online in \/cluster\/status$/);
    expect(l.standIn.cluster.nodes.map((n) => n.name)).toEqual(['pve1', 'pve2', 'pve3']); // never removed
    expect(l.t.pxeAllowList.list()).toEqual([]);
  });

  it('is waiting for a rebooted member to go offline', async () => {
    const ref: { standIn?: ProxmoxApiStandIn } = {};
    const l = await lab({ onReboot: (name) => ref.standIn!.cluster.setOnline(name, true) }, { leaveCluster: '10m' });
    ref.standIn = l.standIn;
    const id = await rebuildRegistered(l, 'pve2', undefined, 'aa:bb:cc:dd:ee:43');
    await waitForEvent(l.t.operations, id, (e) => e.kind === 'member_rebooting');
    const handle = l.t.client.workflow.getHandle(rebuildWorkflowId(id));
    const page = (await l.t.app.inject({ method: 'GET', url: `/hosts/${id}` })).body;
    expect(page).toMatch(/<li class="step step-done" data-step="reboot"[^>]*><span class="step-label">Reboot through the API<\/span>/);
    expect(page).toContain('<li class="step step-current" data-step="wait_offline" title="">');
    await vi.waitFor(async () => {
      const { raw } = await handle.describe();
      expect(raw.pendingActivities?.map((a) => a.activityType?.name)).toEqual(['awaitMemberOffline']);
    }, { timeout: 15_000, interval: 100 });
    expect((await handle.query(rebuildProgressQuery)).state).toBe('pxe_ready');
  });
});

/** Registers a host; returns its id. */
async function registered(l: Lab, hostname: string, mac: string): Promise<number> {
  const res = await l.t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname, mac, server_type: 'minisforum-ms-01' } });
  expect(res.statusCode).toBe(201);
  return res.json().id;
}
async function rebuildRegistered(l: Lab, hostname: string, body?: Record<string, unknown>, mac?: string): Promise<number> {
  if (mac) await registered(l, hostname, mac);
  const host = l.t.hosts.list().find((h) => h.hostname === hostname)!;
  const started = await l.t.app.inject({ method: 'POST', url: `/api/hosts/${host.id}/rebuild`, ...(body ? { payload: body } : {}) });
  expect(started.statusCode, started.body).toBe(202);
  return host.id;
}
