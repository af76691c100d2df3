// The rebuild page (/hosts/{id}/rebuild, issue 16 item 4): the plan as the operator reads it before anything happens.
// Real: Fastify (inject) with the real gateway on a SQLite file, planRebuild against the HTTPS stand-in Proxmox API.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dashboardJs } from '../../src/dashboard/assets';
import { escapeHtml } from '../../src/dashboard/html';
import { ProxmoxApi } from '../../src/proxmox/api-client';
import { planRebuild, uncheckedPlanner, type RebuildPlanner } from '../../src/proxmox/rebuild-plan';
import { auditorToken, startProxmoxApiStandIn, type ProxmoxApiStandIn, type ProxmoxApiStandInOptions } from '../helpers/proxmox-api-standin';
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

async function cluster(options: ProxmoxApiStandInOptions = {}): Promise<ProxmoxApiStandIn> {
  const s = await startProxmoxApiStandIn(options);
  standIns.push(s);
  const api = new ProxmoxApi({ host: '127.0.0.1', port: s.port, fingerprint: s.fingerprint, apiToken: `${auditorToken.id}=${auditorToken.secret}` });
  planner = (host, choice) => planRebuild(api, host, choice, { existingNode: '127.0.0.1', fingerprint: s.fingerprint });
  return s;
}
const register = async (hostname: string) => (await t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname, mac: 'aa:bb:cc:dd:ee:03', server_type: 'minisforum-ms-01' } })).json().id as number;
const page = (id: number, query = '') => t.app.inject({ method: 'GET', url: `/hosts/${id}/rebuild${query}` });
const withGuests = { guests: [{ vmid: 100, name: 'web', node: 'pve3', status: 'running' as const }, { vmid: 200, name: 'dns', node: 'pve1', status: 'running' as const }] };
const confirmButton = (id: number, hostname: string, body: unknown, refused: boolean) =>
  `<button type="button" data-action="confirm-rebuild" data-host-id="${id}" data-hostname="${hostname}" data-body="${escapeHtml(JSON.stringify(body))}" ${refused ? 'disabled' : ''}>${refused ? 'Rebuild refused' : `Rebuild ${hostname}`}</button>`;

describe('the rebuild page', () => {
  it('is where the host page\'s Rebuild leads', async () => {
    const id = await register('pve3');
    expect((await t.app.inject({ method: 'GET', url: `/hosts/${id}` })).body).toContain(`<a class="button" href="/hosts/${id}/rebuild" data-action-link="rebuild">Rebuild…</a>`);
  });

  it('shows a member with guests refused: the refusal, the cluster, quorum without it, the guests, the steps, and the migrate option', async () => {
    await cluster(withGuests);
    const id = await register('pve3');
    const res = await page(id);
    expect(res.statusCode).toBe(200);
    const body = res.body;
    expect(body).toContain('data-member="yes" data-refused="yes"');
    expect(body).toContain('<strong>pve3</strong> is a member of cluster <strong>lab</strong> (node id 3, online, 192.0.2.13)');
    expect(body).toContain('<li class="refusal" data-code="guests_on_node"><strong class="mono">guests_on_node</strong> 1 guest is on pve3 (100 web): ');
    expect(body).toContain('<tr class="online this-node"><td>pve3 (this host)</td><td>3</td><td class="mono">192.0.2.13</td><td>yes</td><td>1</td><td>1</td></tr>');
    expect(body).toContain('<td>pve1 (runs the steps)</td>');
    expect(body).toContain('<p class="good" data-quorate="yes">2 of 3 votes online while pve3 is down, 2 needed: the cluster stays quorate.</p>');
    expect(body).toContain('<tr><td>100</td><td>web</td><td>qemu</td><td>running</td><td>—</td></tr>');
    expect(body).toContain('<input type="checkbox" name="migrate" value="true" > Migrate the guest of pve3 first (migrateall)');
    expect(body).not.toContain('name="allow_quorum_loss"'); // quorum holds without pve3: nothing to allow
    expect(body.match(/<li data-step="([a-z_]+)">/g)?.map((l) => l.slice(15, -2))).toEqual(['reboot', 'wait_offline', 'remove_node', 'install', 'join', 'check_member', 'remove_old_key']);
    expect(body).toContain('pve3 must network-boot first (PXE before its disk in the boot order)');
    expect(body).toContain(confirmButton(id, 'pve3', { migrate_guests: false, allow_quorum_loss: false }, true));
  });

  it('with migrate checked, names the member the guests go to and offers the rebuild with that choice', async () => {
    await cluster(withGuests);
    const id = await register('pve3');
    const body = (await page(id, '?migrate=true')).body;
    expect(body).toContain('data-refused="no"');
    expect(body).toContain('<option value="">the least loaded online member (now pve2)</option>');
    expect(body).toContain('<option value="pve1" >pve1 (1 guests)</option>');
    expect(body).toContain('<li data-step="migrate_guests"><span class="step-name mono">migrate_guests</span> move the 1 guest of pve3 to pve2 (migrateall through pve1 (127.0.0.1)), waiting for the task</li>');
    expect(body).toContain(confirmButton(id, 'pve3', { migrate_guests: true, allow_quorum_loss: false }, false));
    const picked = (await page(id, '?migrate=on&migrate_target=pve1')).body;
    expect(picked).toContain('<option value="pve1" selected>pve1 (1 guests)</option>');
    expect(picked).toContain(confirmButton(id, 'pve3', { migrate_guests: true, migrate_target: 'pve1', allow_quorum_loss: false }, false));
  });

  it('offers allow quorum loss for a 2-node cluster, and states what it means once checked', async () => {
    await cluster({ layout: 'two-node' });
    const id = await register('pve2');
    const refused = (await page(id)).body;
    expect(refused).toContain('data-code="quorum_at_risk"');
    expect(refused).toContain('<p class="bad" data-quorate="no">1 of 2 votes online while pve2 is down, 2 needed: the cluster loses quorum.</p>');
    expect(refused).toContain('<input type="checkbox" name="allow_quorum_loss" value="true" > Allow quorum loss while pve2 is down');
    const allowed = (await page(id, '?allow_quorum_loss=true')).body;
    expect(allowed).toContain('<input type="checkbox" name="allow_quorum_loss" value="true" checked>');
    expect(allowed).toContain('<li>Quorum loss allowed: from the reboot of pve2 until it is removed, cluster lab has no quorum (1 of 2 votes online, 2 needed): /etc/pve is read-only on the other members');
    expect(allowed).toContain('An operator must run pvecm expected 1 on pve1 (the service never does that itself)');
    expect(allowed).toContain(confirmButton(id, 'pve2', { migrate_guests: false, allow_quorum_loss: true }, false));
  });

  it('shows QDevice and replication refusals with what to do', async () => {
    await cluster({ ...withGuests, qdevice: true, replication: [{ id: '100-0', guest: 100, target: 'pve2' }] });
    const id = await register('pve3');
    const body = (await page(id, '?migrate=true')).body;
    expect(body).toContain('<dt>QDevice</dt><dd class="bad">yes</dd>');
    expect(body).toContain('data-code="qdevice_present"><strong class="mono">qdevice_present</strong> Cluster lab has a QDevice');
    expect(body).toContain('pvecm qdevice remove');
    expect(body).toContain('<li><span class="mono">100-0</span>: guest 100 to pve2</li>');
    expect(body).toContain('pvesr delete &lt;id&gt;');
  });

  it('keeps the plan and names the field when the migration target is not an online member (400)', async () => {
    const s = await cluster(withGuests);
    s.cluster.setOnline('pve2', false);
    const id = await register('pve3');
    const res = await page(id, '?migrate=true&migrate_target=pve2');
    expect(res.statusCode).toBe(400);
    expect(res.body).toContain('<p class="failure" role="alert" data-code="invalid_request"><strong>invalid request</strong>: migrate_target: pve2 is offline; the online members other than pve3: pve1</p>');
    expect(res.body).toContain('<span class="field-error" data-field="migrate_target">pick an online member other than pve3</span>');
    expect(res.body).toContain('data-refused="yes"'); // pve2 offline: 1 of 3 votes without pve3
  });

  it('says the cluster cannot be read (503) and offers no rebuild', async () => {
    const port = await freePort();
    const api = new ProxmoxApi({ host: '127.0.0.1', port, fingerprint: 'AB'.repeat(32), apiToken: `${auditorToken.id}=${auditorToken.secret}` });
    planner = (host, choice) => planRebuild(api, host, choice, { existingNode: '127.0.0.1', fingerprint: 'AB'.repeat(32) });
    const id = await register('pve3');
    const res = await page(id);
    expect(res.statusCode).toBe(503);
    expect(res.body).toContain(`<p class="failure" role="alert" data-code="cluster_unreachable"><strong>cluster unreachable</strong>: cannot read the cluster through proxmox.existing_node 127.0.0.1:${port}`);
    expect(res.body).toContain(confirmButton(id, 'pve3', {}, true));
  });

  it('says the cluster is not read without proxmox.api_token, and offers a fresh-host rebuild', async () => {
    const id = await register('pve3');
    const body = (await page(id)).body;
    expect(body).toContain('<p class="notice" role="status">the cluster is not read: without proxmox.api_token');
    expect(body).not.toContain('id="plan-options"');
    expect(body).toContain(confirmButton(id, 'pve3', {}, false));
  });

  it('shows a fresh host as such, with the cluster it will join', async () => {
    await cluster();
    const id = await register('pve-new');
    const body = (await page(id)).body;
    expect(body).toContain('Not a member of cluster <strong>lab</strong>: a fresh-host rebuild.');
    expect(body).toContain('data-member="no" data-refused="no"');
    expect(body).toContain(confirmButton(id, 'pve-new', {}, false));
  });

  it('answers an unknown host with 404', async () => {
    expect((await page(999)).statusCode).toBe(404);
  });

  it('ships a script that parses', () => {
    expect(() => new Function(dashboardJs)).not.toThrow();
  });
});
