// The cluster as the gateway shows it: ClusterMonitor polling the HTTPS stand-in, GET /api/cluster, the strip on the
// host grid and the /readyz warning. Real: TLS, the stand-in's quorum rules, Fastify, SQLite, Temporal client.
import { afterEach, describe, expect, it } from 'vitest';
import { ProxmoxApi } from '../../src/proxmox/api-client';
import { ClusterMonitor } from '../../src/proxmox/cluster-monitor';
import { auditorToken, startProxmoxApiStandIn } from '../helpers/proxmox-api-standin';
import { Resources } from '../helpers/release';
import { buildTestApp } from '../helpers/test-app';

const resources = new Resources();
afterEach(() => resources.releaseAll());

interface Logged { level: 'info' | 'warn'; msg: string }

async function setup(layout: 'three-node' | 'two-node' | 'standalone' = 'three-node') {
  const standIn = resources.add(await startProxmoxApiStandIn({ layout }), (s) => s.close());
  const logged: Logged[] = [];
  const log = { info: (_o: unknown, msg: string) => void logged.push({ level: 'info', msg }), warn: (_o: unknown, msg: string) => void logged.push({ level: 'warn', msg }) };
  const api = new ProxmoxApi({ host: '127.0.0.1', port: standIn.port, fingerprint: standIn.fingerprint, apiToken: `${auditorToken.id}=${auditorToken.secret}` });
  const monitor = new ClusterMonitor(api, log as never, 60_000);
  resources.add(monitor, (m) => m.stop());
  const t = resources.add(await buildTestApp({ clusterSnapshot: () => monitor.snapshot() }), (a) => a.close());
  return { standIn, monitor, t, logged };
}

describe('the cluster on the gateway', () => {
  it('shows the cluster in GET /api/cluster and on the host grid, and follows a member going offline', async () => {
    const { standIn, monitor, t, logged } = await setup();
    expect((await t.app.inject({ method: 'GET', url: '/api/cluster' })).json()).toMatchObject({ configured: true, checked_at: null, cluster: null, problem: null });
    await monitor.refresh();
    const shown = (await t.app.inject({ method: 'GET', url: '/api/cluster' })).json();
    expect(shown).toMatchObject({ configured: true, member: `127.0.0.1:${standIn.port}`, problem: null, cluster: { name: 'lab', quorate: true, votes: { online: 3, total: 3, needed: 2 } } });
    expect(shown.cluster.members.map((m: { name: string; online: boolean }) => [m.name, m.online])).toEqual([['pve1', true], ['pve2', true], ['pve3', true]]);
    expect(JSON.stringify(shown)).not.toContain(auditorToken.secret);
    let grid = (await t.app.inject({ method: 'GET', url: '/' })).body;
    expect(grid).toContain('Cluster <strong>lab</strong>: quorate (3 of 3 votes, 2 needed)');
    expect(grid).toContain('<span class="member online" data-member="pve3" title="192.0.2.13">● pve3</span>');
    expect(logged).toEqual([{ level: 'info', msg: 'cluster check: the member answers with the pinned certificate and its cluster is quorate' }]);

    standIn.cluster.setOnline('pve3', false);
    await monitor.refresh();
    grid = (await t.app.inject({ method: 'GET', url: '/' })).body;
    expect(grid).toContain('Cluster <strong>lab</strong>: quorate (2 of 3 votes, 2 needed)');
    expect(grid).toContain('○ pve3');
    expect((await t.app.inject({ method: 'GET', url: '/readyz' })).json().warnings).toBeUndefined();
    expect(logged).toHaveLength(1); // nothing new to say
  });

  it('warns in /readyz, the log and the grid when the cluster loses quorum, and once it is back says so', async () => {
    const { standIn, monitor, t, logged } = await setup('two-node');
    standIn.cluster.setOnline(standIn.cluster.nodes[1]!.name, false);
    await monitor.refresh();
    const problem = `cluster ${standIn.cluster.name} is not quorate: 1 of 2 votes online, 2 needed`;
    const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json().warnings).toEqual({ cluster: problem });
    expect((await t.app.inject({ method: 'GET', url: '/' })).body).toContain(`<p class="cluster-problem" role="alert">${problem}</p>`);
    standIn.cluster.setOnline(standIn.cluster.nodes[1]!.name, true);
    await monitor.refresh();
    expect((await t.app.inject({ method: 'GET', url: '/readyz' })).json().warnings).toBeUndefined();
    expect(logged.map((l) => l.level)).toEqual(['warn', 'info']);
  });

  it('says how to turn it on when no API token is configured', async () => {
    const t = resources.add(await buildTestApp(), (a) => a.close());
    expect((await t.app.inject({ method: 'GET', url: '/api/cluster' })).json()).toEqual({
      configured: false,
      message: 'the cluster is not checked: set proxmox.api_token (a PVEAuditor API token on proxmox.existing_node) and restart',
    });
    expect((await t.app.inject({ method: 'GET', url: '/' })).body).not.toContain('id="cluster"');
  });
});
