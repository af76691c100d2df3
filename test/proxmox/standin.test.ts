// Medium: the Proxmox VE API stand-in (test/helpers/proxmox-api-standin.ts) over real HTTPS, pinned by its leaf
// certificate's SHA-256 as a client pins a member (proxmox-cluster.md §1). Real: TLS, HTTP, the model's rules.
import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  auditorToken,
  operatorToken,
  startProxmoxApiStandIn,
  type ApiToken,
  type ProxmoxApiStandIn,
  type ProxmoxApiStandInOptions,
} from '../helpers/proxmox-api-standin';

interface Answer {
  status: number;
  statusMessage: string;
  body: { data: unknown; message?: string; errors?: Record<string, string> };
}
interface Credentials {
  token?: ApiToken;
  ticket?: string;
  csrf?: string;
  form?: Record<string, string>;
}

const running: ProxmoxApiStandIn[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

async function start(options: ProxmoxApiStandInOptions = {}): Promise<ProxmoxApiStandIn> {
  const standIn = await startProxmoxApiStandIn(options);
  running.push(standIn);
  return standIn;
}

/** Calls the stand-in, refusing to talk to a server whose leaf certificate is not the pinned one. */
function call(standIn: ProxmoxApiStandIn, method: string, path: string, creds: Credentials = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (creds.token) headers.authorization = `PVEAPIToken=${creds.token.id}=${creds.token.secret}`;
  if (creds.ticket) headers.cookie = `PVEAuthCookie=${encodeURIComponent(creds.ticket)}`;
  if (creds.csrf) headers.csrfpreventiontoken = creds.csrf;
  const body = creds.form ? new URLSearchParams(creds.form).toString() : undefined;
  if (body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
  return new Promise((resolve, reject) => {
    const req = request(`${standIn.url}/api2/json${path}`, { method, headers, rejectUnauthorized: false, agent: false }, (res) => {
      const seen = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      if (seen !== standIn.fingerprint) return reject(new Error(`certificate ${seen} is not the pinned one`));
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Answer['body'] }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function rootTicket(standIn: ProxmoxApiStandIn): Promise<{ ticket: string; csrf: string }> {
  const login = await call(standIn, 'POST', '/access/ticket', { form: { username: 'root@pam', password: standIn.cluster.rootPassword } });
  const data = login.body.data as { ticket: string; CSRFPreventionToken: string; username: string };
  expect(data.username).toBe('root@pam');
  return { ticket: data.ticket, csrf: data.CSRFPreventionToken };
}

describe('startProxmoxApiStandIn', () => {
  it('answers a token read of /cluster/status with the cluster entry and 0/1 node entries', async () => {
    const standIn = await start();
    const answer = await call(standIn, 'GET', '/cluster/status', { token: auditorToken });
    expect(answer.status).toBe(200);
    expect(answer.body.data).toEqual([
      { type: 'cluster', id: 'cluster', name: 'lab', nodes: 3, version: 3, quorate: 1 },
      { type: 'node', id: 'node/pve1', name: 'pve1', nodeid: 1, ip: '192.0.2.11', local: 1, online: 1, level: '' },
      { type: 'node', id: 'node/pve2', name: 'pve2', nodeid: 2, ip: '192.0.2.12', local: 0, online: 1, level: '' },
      { type: 'node', id: 'node/pve3', name: 'pve3', nodeid: 3, ip: '192.0.2.13', local: 0, online: 1, level: '' },
    ]);
    expect(standIn.requests).toEqual([{ method: 'GET', path: '/api2/json/cluster/status', auth: 'token', status: 200 }]);
  });

  it('refuses a token with a wrong secret with 401 and the reason in the status line and the body', async () => {
    const standIn = await start();
    const answer = await call(standIn, 'GET', '/cluster/status', { token: { ...auditorToken, secret: 'wrong' } });
    expect(answer).toEqual({ status: 401, statusMessage: 'authentication failure', body: { data: null, message: 'authentication failure\n' } });
  });

  it('gives the local node its certificate fingerprint as pve_fp in the join info', async () => {
    const standIn = await start();
    const join = (await call(standIn, 'GET', '/cluster/config/join', { token: auditorToken })).body.data as { nodelist: Array<{ name: string; pve_fp: string; nodeid: string }>; preferred_node: string };
    expect(join.preferred_node).toBe('pve1');
    expect(join.nodelist.find((n) => n.name === 'pve1')).toMatchObject({ nodeid: '1', pve_fp: standIn.fingerprint });
    expect(standIn.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  it('refuses a reboot to the auditor token with 403 naming the privilege, and leaves the node online', async () => {
    const standIn = await start();
    const answer = await call(standIn, 'POST', '/nodes/pve2/status', { token: auditorToken, form: { command: 'reboot' } });
    expect(answer.status).toBe(403);
    expect(answer.statusMessage).toBe('Permission check failed (/nodes/pve2, Sys.PowerMgmt)');
    expect(standIn.cluster.nodes.find((n) => n.name === 'pve2')?.online).toBe(true);
  });

  it('reboots a node for the operator token: offline in the model, and the hook is told', async () => {
    const rebooted: string[] = [];
    const standIn = await start({ onReboot: (node) => rebooted.push(node) });
    expect((await call(standIn, 'POST', '/nodes/pve2/status', { token: operatorToken, form: { command: 'reboot' } })).status).toBe(200);
    expect(standIn.cluster.nodes.find((n) => n.name === 'pve2')?.online).toBe(false);
    await vi.waitFor(() => expect(rebooted).toHaveLength(1));
    expect(rebooted).toEqual(['pve2']);
  });

  it('refuses delnode to every token, even one with all privileges', async () => {
    const standIn = await start();
    const answer = await call(standIn, 'DELETE', '/cluster/config/nodes/pve2', { token: operatorToken });
    expect(answer.status).toBe(403);
    expect(answer.body.message).toBe('Permission check failed (user != root@pam)\n');
  });

  it('removes a node for a root ticket with its CSRF token, and refuses the ticket without it', async () => {
    const standIn = await start();
    const { ticket, csrf } = await rootTicket(standIn);
    const withoutCsrf = await call(standIn, 'DELETE', '/cluster/config/nodes/pve2', { ticket });
    expect(withoutCsrf.status).toBe(401);
    expect(withoutCsrf.statusMessage).toContain('invalid csrf token');
    expect(standIn.cluster.nodes.map((n) => n.name)).toEqual(['pve1', 'pve2', 'pve3']);

    expect((await call(standIn, 'DELETE', '/cluster/config/nodes/pve2', { ticket, csrf })).status).toBe(200);
    const nodes = (await call(standIn, 'GET', '/cluster/config/nodes', { ticket })).body.data as Array<{ name: string }>;
    expect(nodes.map((n) => n.name)).toEqual(['pve1', 'pve3']);
    expect(standIn.requests.map((r) => r.auth)).toEqual(['none', 'ticket', 'ticket', 'ticket']);
  });

  it('refuses to remove the node serving the request', async () => {
    const standIn = await start();
    const { ticket, csrf } = await rootTicket(standIn);
    const answer = await call(standIn, 'DELETE', '/cluster/config/nodes/pve1', { ticket, csrf });
    expect([answer.status, answer.body.message]).toEqual([500, 'Cannot delete myself from cluster!\n']);
  });

  it('refuses delnode without quorum', async () => {
    const standIn = await start();
    standIn.cluster.setOnline('pve2', false);
    standIn.cluster.setOnline('pve3', false);
    const { ticket, csrf } = await rootTicket(standIn);
    const answer = await call(standIn, 'DELETE', '/cluster/config/nodes/pve3', { ticket, csrf });
    expect([answer.status, answer.statusMessage]).toEqual([500, 'cluster not ready - no quorum?']);
    expect(standIn.cluster.nodes).toHaveLength(3);
  });

  it('stays quorate with one of three nodes offline', async () => {
    const standIn = await start();
    standIn.cluster.setOnline('pve3', false);
    expect(standIn.cluster.quorum()).toEqual({ totalVotes: 3, onlineVotes: 2, needed: 2, quorate: true });
    const status = (await call(standIn, 'GET', '/cluster/status', { token: auditorToken })).body.data as Array<Record<string, unknown>>;
    expect(status[0]).toMatchObject({ type: 'cluster', quorate: 1 });
    expect(status.find((e) => e.name === 'pve3')).toMatchObject({ online: 0 });
  });

  it('loses quorum with one of two nodes offline', async () => {
    const standIn = await start({ layout: 'two-node' });
    standIn.cluster.setOnline('pve2', false);
    expect(standIn.cluster.quorum()).toEqual({ totalVotes: 2, onlineVotes: 1, needed: 2, quorate: false });
    const status = (await call(standIn, 'GET', '/cluster/status', { token: auditorToken })).body.data as Array<Record<string, unknown>>;
    expect(status[0]).toMatchObject({ type: 'cluster', nodes: 2, quorate: 0 });
  });

  it('shows a standalone node as one node entry with nodeid 0 and answers join info with 424', async () => {
    const standIn = await start({ layout: 'standalone' });
    const status = await call(standIn, 'GET', '/cluster/status', { token: auditorToken });
    expect(status.body.data).toEqual([{ type: 'node', id: 'node/pve1', name: 'pve1', nodeid: 0, ip: '192.0.2.11', local: 1, online: 1, level: '' }]);
    const join = await call(standIn, 'GET', '/cluster/config/join', { token: auditorToken });
    expect(join).toEqual({ status: 424, statusMessage: 'node is not in a cluster, no join info available!', body: { data: null, message: 'node is not in a cluster, no join info available!\n' } });
  });

  it('fails the second of two overlapping addnode calls with a lock timeout', async () => {
    const standIn = await start({ joinDurationMs: 600, lockTimeoutMs: 200 });
    const { ticket, csrf } = await rootTicket(standIn);
    const [a, b] = await Promise.all([
      call(standIn, 'POST', '/cluster/config/nodes/pve4', { ticket, csrf, form: { new_node_ip: '192.0.2.14' } }),
      call(standIn, 'POST', '/cluster/config/nodes/pve5', { ticket, csrf, form: { new_node_ip: '192.0.2.15' } }),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 500]);
    expect([a, b].find((x) => x.status === 500)?.body.message).toBe("cfs-lock 'file-corosync_conf' error: got lock request timeout\n");
    expect(standIn.cluster.nodes).toHaveLength(4);
  });

  it('refuses addnode of a name still in the nodelist, and takes it again after delnode with its old nodeid', async () => {
    const standIn = await start();
    const { ticket, csrf } = await rootTicket(standIn);
    const again = await call(standIn, 'POST', '/cluster/config/nodes/pve2', { ticket, csrf, form: { new_node_ip: '192.0.2.12' } });
    expect([again.status, again.body.message]).toEqual([500, "can't add existing node 'pve2'\n"]);
    await standIn.cluster.removeNode('pve2', 'pve1');
    const node = await standIn.cluster.addNode('pve2', '192.0.2.12');
    expect(node).toMatchObject({ name: 'pve2', nodeid: 2, online: true });
  });

  it('moves every guest to the target in a migrateall task that ends stopped with OK', async () => {
    const standIn = await start({
      migrateStepMs: 150, // long enough to see the task running
      guests: [
        { vmid: 100, name: 'web', node: 'pve2', status: 'running', hastate: 'started' },
        { vmid: 101, name: 'db', node: 'pve2', status: 'stopped' },
        { vmid: 102, name: 'dns', node: 'pve3', status: 'running' },
      ],
    });
    const started = await call(standIn, 'POST', '/nodes/pve2/migrateall', { token: operatorToken, form: { target: 'pve3' } });
    const upid = started.body.data as string;
    expect(upid).toMatch(/^UPID:pve2:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:migrateall::root@pam!operator:$/);
    const taskPath = `/nodes/pve2/tasks/${encodeURIComponent(upid)}/status`;
    expect((await call(standIn, 'GET', taskPath, { token: operatorToken })).body.data).toMatchObject({ status: 'running' });
    await vi.waitFor(() => expect(standIn.cluster.tasks.get(upid)?.status).toBe('stopped'));
    expect((await call(standIn, 'GET', taskPath, { token: operatorToken })).body.data).toMatchObject({ upid, status: 'stopped', exitstatus: 'OK' });
    const guests = (await call(standIn, 'GET', '/cluster/resources?type=vm', { token: auditorToken })).body.data as Array<{ vmid: number; node: string }>;
    expect(guests.map((g) => [g.vmid, g.node])).toEqual([[100, 'pve3'], [101, 'pve3'], [102, 'pve3']]);
  });
});
