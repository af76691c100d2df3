// ProxmoxApi against the stand-in Proxmox API (test/helpers/proxmox-api-standin.ts) over real HTTPS: the member's
// certificate pinned by join_fingerprint, reads with an API token, root-only writes with a root@pam ticket and its
// CSRF token, and the cluster summary /readyz reports. Real: TLS, HTTP, the stand-in's quorum and permission rules.
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
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
