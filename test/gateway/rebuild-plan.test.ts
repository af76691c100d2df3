// GET /api/hosts/:id/rebuild-plan and POST /api/hosts/:id/rebuild with the plan (issue 16 item 4).
// Real: Fastify (inject), SQLite file, the Temporal client on the suite's dev server (no worker polls the task queue,
// so a started rebuild stays at its start), planRebuild against the HTTPS stand-in Proxmox API. Nothing faked.
import { defaultPayloadConverter } from '@temporalio/common';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rebuildWorkflowId } from '../../src/domain/rebuild-ids';
import type { RebuildInput } from '../../src/domain/rebuild';
import { ProxmoxApi } from '../../src/proxmox/api-client';
import { planRebuild, uncheckedPlanner, type RebuildPlanner } from '../../src/proxmox/rebuild-plan';
import { auditorToken, startProxmoxApiStandIn, type ProxmoxApiStandIn, type ProxmoxApiStandInOptions } from '../helpers/proxmox-api-standin';
import { rebuildStartedHere } from '../helpers/started-here';
import { buildTestApp, type TestApp } from '../helpers/test-app';
import { freePort } from '../setup/temporal-dev-server';

let t: TestApp;
let planner: RebuildPlanner = uncheckedPlanner();
const standIns: ProxmoxApiStandIn[] = [];
beforeEach(async () => {
  planner = uncheckedPlanner();
  t = await buildTestApp({ rebuildPlan: (host, choice) => planner(host, choice) });
});
afterEach(async () => {
  await t.close();
  await Promise.all(standIns.splice(0).map((s) => s.close()));
});

/** Points the gateway's plan at a stand-in cluster whose proxmox.existing_node is 127.0.0.1 (pve1 unless localNode). */
async function cluster(options: ProxmoxApiStandInOptions = {}): Promise<ProxmoxApiStandIn> {
  const s = await startProxmoxApiStandIn(options);
  standIns.push(s);
  const api = new ProxmoxApi({ host: '127.0.0.1', port: s.port, fingerprint: s.fingerprint, apiToken: `${auditorToken.id}=${auditorToken.secret}` });
  planner = (host, choice) => planRebuild(api, host, choice, { existingNode: '127.0.0.1', fingerprint: s.fingerprint });
  return s;
}

const register = async (hostname: string, n = 3) =>
  (await t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname, mac: `aa:bb:cc:dd:ee:0${n}`, server_type: 'minisforum-ms-01' } })).json().id as number;
const withGuests = { guests: [{ vmid: 100, name: 'web', node: 'pve3', status: 'running' as const }, { vmid: 200, name: 'dns', node: 'pve1', status: 'running' as const }] };

/** The input the rebuild workflow was started with. */
async function startedInput(hostId: number): Promise<RebuildInput> {
  const history = await t.client.workflow.getHandle(rebuildWorkflowId(hostId)).fetchHistory();
  const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  return defaultPayloadConverter.fromPayload(payload!) as RebuildInput;
}

describe('GET /api/hosts/:id/rebuild-plan', () => {
  it('says the cluster is not read without proxmox.api_token: a fresh-host plan', async () => {
    const id = await register('pve3');
    const res = await t.app.inject({ method: 'GET', url: `/api/hosts/${id}/rebuild-plan` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ configured: false, member: false, cluster: null, refusals: [], via: null, quorum_without: null });
    expect(res.json().message).toMatch(/^the cluster is not read: without proxmox.api_token/);
  });

  it('shows a member with guests refused as guests_on_node, in snake_case', async () => {
    const s = await cluster(withGuests);
    const id = await register('pve3');
    const res = await t.app.inject({ method: 'GET', url: `/api/hosts/${id}/rebuild-plan` });
    expect(res.statusCode).toBe(200);
    const plan = res.json();
    expect(plan).toMatchObject({
      configured: true,
      member: true,
      node: { name: 'pve3', nodeid: 3, online: true, ip: '192.0.2.13' },
      quorum_without: { total_votes: 3, online_votes: 2, needed: 2, quorate: true },
      guests: [{ vmid: 100, name: 'web', node: 'pve3', status: 'running', type: 'qemu', hastate: null }],
      ha_resources: [],
      qdevice: false,
      replication: [],
      via: { name: 'pve1', address: '127.0.0.1', fingerprint: s.fingerprint },
      migrate_to: null,
      allow_quorum_loss: false,
    });
    expect(plan.refusals.map((r: { code: string; override?: string }) => [r.code, r.override])).toEqual([['guests_on_node', 'migrate']]);
    expect(plan.cluster.members.map((m: { name: string; guests: number }) => [m.name, m.guests])).toEqual([['pve1', 1], ['pve2', 0], ['pve3', 1]]);
    expect(plan.steps.map((step: { name: string }) => step.name)).toEqual(['reboot', 'wait_offline', 'remove_node', 'install', 'join', 'check_member', 'remove_old_key']);
  });

  it('plans the migration to the least loaded member with ?migrate=true, or to migrate_target', async () => {
    await cluster(withGuests);
    const id = await register('pve3');
    const least = (await t.app.inject({ method: 'GET', url: `/api/hosts/${id}/rebuild-plan?migrate=true` })).json();
    expect({ migrate_to: least.migrate_to, refusals: least.refusals }).toEqual({ migrate_to: 'pve2', refusals: [] });
    expect(least.steps[0].name).toBe('migrate_guests');
    const picked = (await t.app.inject({ method: 'GET', url: `/api/hosts/${id}/rebuild-plan?migrate=true&migrate_target=pve1` })).json();
    expect(picked.migrate_to).toBe('pve1');
  });

  it.each([
    ['migrate=true&migrate_target=pve9', 'migrate_target', 'migrate_target: pve9 is not a member of cluster lab; the online members other than pve3: pve1, pve2'],
    ['migrate=maybe', 'migrate', undefined],
    ['allow_quorum_loss=yes', 'allow_quorum_loss', undefined],
    ['force=true', 'force', undefined],
  ])('answers ?%s with 400 naming %s', async (query, field, message) => {
    await cluster(withGuests);
    const id = await register('pve3');
    const res = await t.app.inject({ method: 'GET', url: `/api/hosts/${id}/rebuild-plan?${query}` });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'invalid_request', field, ...(message ? { message } : {}) });
  });

  it('answers 503 cluster_unreachable when the cluster API does not answer', async () => {
    const port = await freePort();
    const api = new ProxmoxApi({ host: '127.0.0.1', port, fingerprint: 'AB'.repeat(32), apiToken: `${auditorToken.id}=${auditorToken.secret}` });
    planner = (host, choice) => planRebuild(api, host, choice, { existingNode: '127.0.0.1', fingerprint: 'AB'.repeat(32) });
    const id = await register('pve3');
    const res = await t.app.inject({ method: 'GET', url: `/api/hosts/${id}/rebuild-plan` });
    expect(res.statusCode).toBe(503);
    expect(res.json().error).toEqual({
      code: 'cluster_unreachable',
      message: `cannot read the cluster through proxmox.existing_node 127.0.0.1:${port}, so whether pve3 is a member is unknown and nothing was started: 127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`,
    });
  });

  it('answers an unknown host with 404 host_not_found', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/hosts/999/rebuild-plan' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('host_not_found');
  });

  it('is in the OpenAPI document', async () => {
    const doc = (await t.app.inject({ method: 'GET', url: '/docs/json' })).json();
    expect(Object.keys(doc.paths)).toContain('/api/hosts/{id}/rebuild-plan');
    expect(Object.keys(doc.paths['/api/hosts/{id}/rebuild'].post.requestBody.content['application/json'].schema.properties)).toEqual(['migrate_guests', 'migrate_target', 'allow_quorum_loss']);
  });
});

describe('POST /api/hosts/:id/rebuild with the plan', () => {
  it('refuses a member with guests with 409 guests_on_node and the plan, and starts nothing', async () => {
    const s = await cluster(withGuests);
    const id = await register('pve3');
    const res = await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild` });
    expect(res.statusCode).toBe(409);
    expect(res.json().error).toEqual({ code: 'guests_on_node', message: expect.stringMatching(/^1 guest is on pve3 \(100 web\): /) });
    expect(res.json().plan).toMatchObject({ member: true, node: { name: 'pve3' }, refusals: [{ code: 'guests_on_node', override: 'migrate' }] });
    expect(await rebuildStartedHere(t, id)).toBe(false);
    expect(t.hosts.get(id).state).toBe('registered');
    expect(s.requests.every((r) => r.method === 'GET')).toBe(true);
  });

  it('starts a member rebuild with migrate_guests, passing the member to the workflow; the gateway itself changes nothing', async () => {
    const s = await cluster(withGuests);
    const id = await register('pve3');
    const res = await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild`, payload: { migrate_guests: true } });
    expect(res.statusCode).toBe(202);
    expect((await startedInput(id)).member).toEqual({ node: 'pve3', cluster: 'lab', via: { name: 'pve1', address: '127.0.0.1', fingerprint: s.fingerprint }, migrateTo: 'pve2', allowQuorumLoss: false });
    expect(s.requests.every((r) => r.method === 'GET')).toBe(true);
    expect(s.cluster.guests.map((g) => g.node)).toEqual(['pve3', 'pve1']);
  });

  it('starts a member of a 2-node cluster only with allow_quorum_loss, recording the consent', async () => {
    await cluster({ layout: 'two-node' });
    const id = await register('pve2');
    const refused = await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild`, payload: {} });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error.code).toBe('quorum_at_risk');
    const res = await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild`, payload: { allow_quorum_loss: true } });
    expect(res.statusCode).toBe(202);
    expect((await startedInput(id)).member).toMatchObject({ node: 'pve2', via: { name: 'pve1' }, migrateTo: null, allowQuorumLoss: true });
  });

  it('puts every refusal in the message, the first as the code', async () => {
    await cluster({ ...withGuests, qdevice: true });
    const id = await register('pve3');
    const res = await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild`, payload: {} });
    expect(res.statusCode).toBe(409);
    expect(res.json().error.code).toBe('qdevice_present');
    expect(res.json().plan.refusals.map((r: { code: string }) => r.code)).toEqual(['qdevice_present', 'guests_on_node']);
    expect(res.json().error.message).toBe(res.json().plan.refusals.map((r: { message: string }) => r.message).join(' '));
  });

  it('starts a fresh host as before, without member, with or without a body', async () => {
    await cluster(withGuests);
    const id = await register('pve-new');
    expect((await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild` })).statusCode).toBe(202);
    expect(await startedInput(id)).not.toHaveProperty('member');
    const other = await register('pve-new2', 4);
    expect((await t.app.inject({ method: 'POST', url: `/api/hosts/${other}/rebuild`, payload: { migrate_guests: true } })).statusCode).toBe(202);
    expect(await startedInput(other)).not.toHaveProperty('member');
  });

  it('never starts a fresh-host rebuild when the configured cluster API cannot be read: 503 cluster_unreachable', async () => {
    const port = await freePort();
    const api = new ProxmoxApi({ host: '127.0.0.1', port, fingerprint: 'AB'.repeat(32), apiToken: `${auditorToken.id}=${auditorToken.secret}` });
    planner = (host, choice) => planRebuild(api, host, choice, { existingNode: '127.0.0.1', fingerprint: 'AB'.repeat(32) });
    const id = await register('pve3');
    const res = await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild` });
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe('cluster_unreachable');
    expect(await rebuildStartedHere(t, id)).toBe(false);
  });

  it('answers an invalid migrate_target with 400 naming it, and a body field it does not know', async () => {
    await cluster(withGuests);
    const id = await register('pve3');
    const target = await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild`, payload: { migrate_guests: true, migrate_target: 'pve3' } });
    expect(target.statusCode).toBe(400);
    expect(target.json().error).toEqual({ code: 'invalid_request', field: 'migrate_target', message: 'migrate_target: pve3 is the node being rebuilt; the online members other than pve3: pve1, pve2' });
    const extra = await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild`, payload: { migrate: true } });
    expect(extra.statusCode).toBe(400);
    expect(extra.json().error).toMatchObject({ code: 'invalid_request', field: 'migrate' });
    expect(await rebuildStartedHere(t, id)).toBe(false);
  });

  it('answers a second rebuild while one runs with 409 rebuild_in_progress without planning it again', async () => {
    const s = await cluster();
    const id = await register('pve3');
    expect((await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild` })).statusCode).toBe(202);
    t.hosts.transition(id, 'pxe_ready');
    const before = s.requests.length;
    const res = await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild` });
    expect(res.statusCode).toBe(409);
    expect(res.json().error.code).toBe('rebuild_in_progress');
    expect(s.requests.length).toBe(before);
  });
});
