// ProxmoxApi against the stand-in Proxmox API (test/helpers/proxmox-api-standin.ts) over real HTTPS: the member's
// certificate pinned by join_fingerprint, reads with an API token, root-only writes with a root@pam ticket and its
// CSRF token, and the cluster summary /readyz reports. Real: TLS, HTTP, the stand-in's quorum and permission rules.
import Fastify from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { healthRoutes } from '../../src/gateway/routes/health';
import { clusterProblem, ProxmoxApi, ProxmoxApiError } from '../../src/proxmox/api-client';
import { auditorToken, operatorToken, startProxmoxApiStandIn, type ApiToken, type ProxmoxApiStandIn, type ProxmoxApiStandInOptions } from '../helpers/proxmox-api-standin';
import { freePort } from '../setup/temporal-dev-server';

const running: ProxmoxApiStandIn[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

async function start(options: ProxmoxApiStandInOptions = {}): Promise<ProxmoxApiStandIn> {
  const standIn = await startProxmoxApiStandIn(options);
  running.push(standIn);
  return standIn;
}

const tokenOf = (t: ApiToken) => `${t.id}=${t.secret}`;
const sysAuditOnly: ApiToken = { id: 'root@pam!sys', secret: '5f1c2b1e-0000-4000-8000-0000000005a5', privileges: ['Sys.Audit'] };
const client = (s: ProxmoxApiStandIn, more: Partial<ConstructorParameters<typeof ProxmoxApi>[0]> = {}) =>
  new ProxmoxApi({ host: '127.0.0.1', port: s.port, fingerprint: s.fingerprint, apiToken: tokenOf(auditorToken), rootPassword: s.cluster.rootPassword, ...more });

async function failure(promise: Promise<unknown>): Promise<ProxmoxApiError> {
  const err = await promise.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(ProxmoxApiError);
  return err as ProxmoxApiError;
}

describe('ProxmoxApi', () => {
  it('reads the cluster with an API token: name, members, votes and quorum', async () => {
    const s = await start();
    s.cluster.setOnline('pve3', false);
    expect(await client(s).cluster()).toEqual({
      name: 'lab',
      quorate: true,
      votes: { online: 2, total: 3, needed: 2 },
      members: [
        { name: 'pve1', nodeid: 1, ip: '192.0.2.11', online: true, votes: 1, local: true },
        { name: 'pve2', nodeid: 2, ip: '192.0.2.12', online: true, votes: 1, local: false },
        { name: 'pve3', nodeid: 3, ip: '192.0.2.13', online: false, votes: 1, local: false },
      ],
    });
    expect(s.requests.map((r) => [r.method, r.auth])).toEqual([['GET', 'token'], ['GET', 'token']]);
    expect(await clusterProblem(client(s))).toBeNull();
    expect((await client(s).joinInfo()).nodelist.find((n) => n.name === 'pve1')?.pve_fp).toBe(s.fingerprint);
  });

  it('sends nothing to a member whose certificate is not the pinned one, and names both fingerprints', async () => {
    const s = await start();
    const other = 'AB:'.repeat(31) + 'AB';
    const err = await failure(client(s, { fingerprint: other }).cluster());
    expect(err.code).toBe('fingerprint_mismatch');
    expect(err.message).toBe(`127.0.0.1:${s.port} presents certificate ${s.fingerprint}, not the configured ${other} (proxmox.join_fingerprint; read it with pvenode cert info on the member)`);
    expect(s.requests).toEqual([]); // the token never left
    expect(await clusterProblem(client(s, { fingerprint: other }))).toBe(err.message);
  });

  it('names a wrong token, a missing privilege and an unreachable member', async () => {
    const s = await start();
    const wrong = await failure(client(s, { apiToken: `${auditorToken.id}=not-the-secret` }).clusterStatus());
    expect({ code: wrong.code, status: wrong.status, message: wrong.message }).toEqual({ code: 'unauthorized', status: 401, message: `GET /cluster/status on 127.0.0.1:${s.port} answered 401: authentication failure` });
    const forbidden = await failure(client(s).nodeCommand('pve2', 'reboot'));
    expect(forbidden.code).toBe('forbidden');
    expect(forbidden.message).toContain('Sys.PowerMgmt');
    expect(s.cluster.nodes.find((n) => n.name === 'pve2')?.online).toBe(true);
    await client(s, { apiToken: tokenOf(operatorToken) }).nodeCommand('pve2', 'reboot');
    expect(s.cluster.nodes.find((n) => n.name === 'pve2')?.online).toBe(false);
    const port = await freePort();
    const gone = await failure(new ProxmoxApi({ host: '127.0.0.1', port, fingerprint: s.fingerprint, apiToken: tokenOf(auditorToken) }).cluster());
    expect(gone.code).toBe('unreachable');
    expect(gone.message).toBe(`127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`);
  });

  it('removes a node with a root@pam ticket and its CSRF token, reusing the ticket', async () => {
    const s = await start();
    s.cluster.setOnline('pve3', false);
    const api = client(s, { apiToken: null });
    await api.deleteNode('pve3');
    expect(s.cluster.nodes.map((n) => n.name)).toEqual(['pve1', 'pve2']);
    await expect(api.deleteNode('pve1')).rejects.toThrow('Cannot delete myself from cluster!');
    expect(s.requests.filter((r) => r.path.endsWith('/access/ticket'))).toHaveLength(1);
    expect(s.requests.filter((r) => r.method === 'DELETE').map((r) => r.auth)).toEqual(['ticket', 'ticket']);
    const wrongPassword = await failure(client(s, { rootPassword: 'not-it' }).deleteNode('pve2'));
    expect(wrongPassword.code).toBe('unauthorized');
  });

  it('says what is wrong with a standalone node and a cluster without quorum', async () => {
    const standalone = await start({ layout: 'standalone' });
    expect(await clusterProblem(client(standalone))).toBe(`127.0.0.1:${standalone.port} is a standalone node, in no cluster: create the cluster first with pvecm create on it`);
    expect((await failure(client(standalone).joinInfo())).code).toBe('not_in_cluster');
    const pair = await start({ layout: 'two-node' });
    pair.cluster.setOnline(pair.cluster.nodes[1]!.name, false);
    expect(await clusterProblem(client(pair))).toBe(`cluster ${pair.cluster.name} is not quorate: 1 of 2 votes online, 2 needed`);
  });

  it('lists the guests with their member, status, type and HA state', async () => {
    const s = await start({
      guests: [
        { vmid: 100, name: 'web', node: 'pve2', status: 'running' },
        { vmid: 101, name: 'dns', node: 'pve3', status: 'stopped', type: 'lxc' },
      ],
      haResources: [{ sid: 'vm:100' }],
      tokens: [auditorToken, sysAuditOnly],
    });
    expect(await client(s).guests()).toEqual([
      { vmid: 100, name: 'web', node: 'pve2', status: 'running', type: 'qemu', hastate: 'started' },
      { vmid: 101, name: 'dns', node: 'pve3', status: 'stopped', type: 'lxc', hastate: null },
    ]);
    expect(s.requests.map((r) => r.path)).toEqual(['/api2/json/cluster/resources?type=vm']);
    // Without VM.Audit Proxmox leaves the guests out instead of refusing.
    expect(await client(s, { apiToken: tokenOf(sysAuditOnly) }).guests()).toEqual([]);
  });

  it('lists the HA resources with the member their guest is on (null for a guest it cannot see)', async () => {
    const s = await start({ guests: [{ vmid: 100, name: 'web', node: 'pve2', status: 'running' }, { vmid: 101, name: 'dns', node: 'pve3', status: 'running', type: 'lxc' }], haResources: [{ sid: 'ct:101', state: 'stopped' }, { sid: 'vm:100' }, { sid: 'vm:999', state: 'disabled' }] });
    expect(await client(s).haResources()).toEqual([
      { sid: 'ct:101', state: 'stopped', node: 'pve3' },
      { sid: 'vm:100', state: 'started', node: 'pve2' },
      { sid: 'vm:999', state: 'disabled', node: null },
    ]);
    const noAudit = await failure(client(s, { apiToken: null }).haResources());
    expect(noAudit.code).toBe('unauthorized');
  });

  it('lists the replication jobs, with their source only once Proxmox has set it', async () => {
    const s = await start({ replication: [{ id: '101-0', guest: 101, target: 'pve1' }, { id: '100-0', guest: 100, target: 'pve3', source: 'pve2' }], tokens: [auditorToken, sysAuditOnly] });
    expect(await client(s).replicationJobs()).toEqual([
      { id: '100-0', guest: 100, source: 'pve2', target: 'pve3' },
      { id: '101-0', guest: 101, source: null, target: 'pve1' },
    ]);
    expect(s.requests.map((r) => [r.method, r.path, r.auth, r.status])).toEqual([['GET', '/api2/json/cluster/replication', 'token', 200]]);
    // Each job is listed only with VM.Audit on its guest, as Proxmox does: without it the list is empty, not refused.
    expect(await client(s, { apiToken: tokenOf(sysAuditOnly) }).replicationJobs()).toEqual([]);
  });

  it('tells whether the cluster has a QDevice', async () => {
    expect(await client(await start()).qdevice()).toBe(false);
    expect(await client(await start({ qdevice: true })).qdevice()).toBe(true);
  });

  it('reboots a node with a token that has Sys.PowerMgmt, without a ticket', async () => {
    const s = await start();
    await client(s, { apiToken: tokenOf(operatorToken), rootPassword: null }).reboot('pve3');
    expect(s.cluster.nodes.find((n) => n.name === 'pve3')?.online).toBe(false);
    expect(s.requests.map((r) => [r.method, r.path, r.auth, r.status])).toEqual([['POST', '/api2/json/nodes/pve3/status', 'token', 200]]);
  });

  it('reboots a node with the root@pam ticket when the token lacks Sys.PowerMgmt, and names the privilege without a password', async () => {
    const s = await start();
    await client(s).reboot('pve3');
    expect(s.cluster.nodes.find((n) => n.name === 'pve3')?.online).toBe(false);
    expect(s.requests.map((r) => [r.method, r.path, r.auth, r.status])).toEqual([
      ['POST', '/api2/json/nodes/pve3/status', 'token', 403],
      ['POST', '/api2/json/access/ticket', 'none', 200],
      ['POST', '/api2/json/nodes/pve3/status', 'ticket', 200],
    ]);
    const forbidden = await failure(client(s, { rootPassword: null }).reboot('pve2'));
    expect(forbidden.code).toBe('forbidden');
    expect(forbidden.message).toBe(`POST /nodes/pve2/status on 127.0.0.1:${s.port} answered 403: Permission check failed (/nodes/pve2, Sys.PowerMgmt)`);
    expect(s.cluster.nodes.find((n) => n.name === 'pve2')?.online).toBe(true);
  });

  it('moves every guest of a node with migrateall and follows the task to stopped OK', async () => {
    const s = await start({ guests: [{ vmid: 100, name: 'web', node: 'pve3', status: 'running' }, { vmid: 101, name: 'db', node: 'pve3', status: 'running' }] });
    const api = client(s, { apiToken: tokenOf(operatorToken) });
    const upid = await api.migrateAll('pve3', 'pve2');
    expect(upid).toMatch(/^UPID:pve3:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:migrateall::root@pam!operator:$/);
    expect(await api.taskStatus('pve3', upid)).toEqual({ status: 'running', exitstatus: null });
    await vi.waitFor(async () => expect(await api.taskStatus('pve3', upid)).toEqual({ status: 'stopped', exitstatus: 'OK' }));
    expect(s.cluster.guests.map((g) => g.node)).toEqual(['pve2', 'pve2']);
    // The auditor token cannot migrate: the root@pam ticket does, and the auditor still reads the task.
    const upid2 = await client(s).migrateAll('pve2', 'pve1');
    expect(upid2).toContain(':migrateall::root@pam:');
    await vi.waitFor(async () => expect(await client(s).taskStatus('pve2', upid2)).toEqual({ status: 'stopped', exitstatus: 'OK' }));
    expect(s.cluster.guests.map((g) => g.node)).toEqual(['pve1', 'pve1']);
  });

  it('names the failure of a migrateall to an unknown member and of an unknown task', async () => {
    const s = await start();
    const api = client(s, { apiToken: tokenOf(operatorToken) });
    const unknown = await failure(api.migrateAll('pve3', 'pve9'));
    expect(unknown.message).toBe(`POST /nodes/pve3/migrateall on 127.0.0.1:${s.port} answered 500: no such cluster node 'pve9'`);
    const task = await failure(api.taskStatus('pve3', 'UPID:pve3:00000001:00000001:00000001:migrateall::root@pam:'));
    expect(task.code).toBe('api_error');
  });

  it('puts the cluster problem under /readyz warnings, never the token', async () => {
    const s = await start({ layout: 'standalone' });
    const app = Fastify();
    await app.register(healthRoutes({}, { cluster: () => clusterProblem(client(s)) }));
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ready', checks: {}, warnings: { cluster: `127.0.0.1:${s.port} is a standalone node, in no cluster: create the cluster first with pvecm create on it` } });
    expect(res.body).not.toContain(auditorToken.secret);
    await app.close();
  });
});
