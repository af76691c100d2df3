// What an operator's scripts and scrapers see of a whole rebuild (issue 18): the event stream delivers its events in
// order, the metrics count it with a stage histogram, the audit trail records who started it and every boot
// decision; a rebuild that times out counts as failed with its reason and stage. A simulated host walks the real
// install order (iPXE script, answer, webhook, first boot). Real: Temporal, worker, SQLite, Fastify, sshd, sh/curl.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { rebuildWorkflowId } from '../../src/domain/rebuild-ids';
import type { RebuildTimeouts } from '../../src/domain/rebuild';
import { freePort } from '../setup/temporal-dev-server';
import { pxeAndInstall, reportInstalled, runFirstBoot } from '../helpers/simulated-host';
import { Resources } from '../helpers/release';
import { openSse } from '../helpers/sse-client';
import { startStandInNode, type StandInNode } from '../helpers/sshd-node';
import { buildTestApp, shortTimeouts, type TestApp } from '../helpers/test-app';
import { startTestWorker, testFingerprint } from '../helpers/test-worker';

const resources = new Resources();
afterEach(() => resources.releaseAll());
const password = 'peer-root-pw-tools';
const token = 'tools-e2e-token-41d7';
const auth = { authorization: `Bearer ${token}` };

async function lab(timeouts: Partial<RebuildTimeouts> = {}): Promise<{ t: TestApp; port: number; publicUrl: string; node: StandInNode }> {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const t = resources.add(await buildTestApp({ apiToken: token, publicUrl, timeouts: { ...shortTimeouts, join: '30s', ...timeouts }, streamOptions: { pollMs: 10 } }), (a) => a.close());
  const node = resources.add(await startStandInNode(password), (n) => n.stop());
  resources.add(await startTestWorker(t, { join: { password, sshPort: node.port, layout: node.layout, existingNode: '192.0.2.10', fingerprint: testFingerprint } }), (w) => w.stop());
  mkdirSync(join(t.images.dir, 'pve-9.1'));
  for (const f of ['vmlinuz', 'initrd.img', 'proxmox-ve_9.1-auto-from-http.iso']) writeFileSync(join(t.images.dir, 'pve-9.1', f), `contents of ${f}`);
  await t.app.listen({ host: '127.0.0.1', port });
  return { t, port, publicUrl, node };
}

/** The value of one sample line of a scrape, e.g. metric('provisioning_rebuilds_total{outcome="ready",reason=""}'). */
const sample = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('a rebuild as scripts see it', () => {
  it('streams its events in order, counts it in the metrics with stage durations, and audits it', async () => {
    const { t, port, publicUrl, node } = await lab();
    const mac = 'b4:2e:99:ac:ad:e1';
    const id: number = (await t.app.inject({ method: 'POST', url: '/api/hosts', headers: auth, payload: { hostname: 'pve-ms-21', mac, server_type: 'minisforum-ms-01' } })).json().id;
    const stream = resources.add(await openSse(port, `/api/events?host=${id}`, auth), async (s) => s.close());
    expect((await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild`, headers: auth })).statusCode).toBe(202);
    await stream.next((m) => m.event === 'rebuild.stage' && JSON.parse(m.data).state === 'pxe_ready');
    const trace = await pxeAndInstall(publicUrl, mac, node);
    expect(await reportInstalled(trace, mac, node)).toBe(200);
    expect((await runFirstBoot(trace, t.dir)).code).toBe(0);
    await stream.next((m) => m.event === 'rebuild.ready');
    expect(await t.client.workflow.getHandle(rebuildWorkflowId(id)).result()).toMatchObject({ state: 'ready' });

    // The stream: every step of the rebuild, in order, each with the host and its state then.
    const names = stream.messages.map((m) => (m.event === 'rebuild.stage' ? `stage ${JSON.parse(m.data).state}` : m.event));
    expect(names.filter((n) => n !== 'boot.decision')).toEqual(['rebuild.started', 'stage pxe_ready', 'stage pxe_booted', 'stage installing', 'stage installed', 'stage first_boot', 'stage joining', 'rebuild.ready']);
    expect(names.indexOf('boot.decision')).toBeGreaterThan(names.indexOf('stage pxe_ready'));
    expect(stream.messages.map((m) => JSON.parse(m.data))).toEqual(stream.messages.map(() => expect.objectContaining({ host_id: id, mac, hostname: 'pve-ms-21' })));
    expect(JSON.parse(stream.messages.at(-1)!.data)).toMatchObject({ name: 'rebuild.ready', state: 'ready' });

    // The metrics: one rebuild started and ready, a stage histogram with one observation per stage it left.
    const text = (await t.app.inject({ method: 'GET', url: '/metrics', headers: auth })).body;
    expect(sample(text, 'provisioning_rebuilds_started_total')).toBe(1);
    expect(sample(text, 'provisioning_rebuilds_total{outcome="ready",reason=""}')).toBe(1);
    for (const stage of ['pxe_ready', 'pxe_booted', 'installing', 'installed', 'first_boot', 'joining']) {
      expect(sample(text, `provisioning_stage_duration_seconds_count{stage="${stage}"}`), stage).toBe(1);
      expect(sample(text, `provisioning_stage_duration_seconds_bucket{le="+Inf",stage="${stage}"}`), stage).toBe(1);
    }
    expect(sample(text, 'provisioning_boot_decisions_total{endpoint="ipxe",action="install",reason="rebuilding"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'provisioning_answers_total{result="served"}')).toBe(1);
    expect(sample(text, 'provisioning_webhooks_total{kind="installed",result="recorded"}')).toBe(1);
    expect(sample(text, 'provisioning_webhooks_total{kind="phone_home",result="recorded"}')).toBe(1);
    expect(sample(text, 'provisioning_join_lock_wait_seconds_count')).toBe(1);
    expect(sample(text, 'provisioning_rebuilds_running')).toBe(0);
    expect(sample(text, 'provisioning_hosts{state="ready"}')).toBe(1);

    // The audit trail: who registered and rebuilt it, and what its MAC was told at each boot request.
    const entries = (await t.app.inject({ method: 'GET', url: `/api/audit?host=${id}`, headers: auth })).json().entries.reverse();
    expect(entries.map((e: { kind: string; details: { action?: string } | null }) => (e.kind === 'boot.decision' ? `${e.kind} ${e.details!.action}` : e.kind))).toEqual(
      expect.arrayContaining(['host.register', 'rebuild.start', 'boot.decision install', 'boot.decision answer']),
    );
    expect(entries[1]).toMatchObject({ kind: 'rebuild.start', actor: 'the API token', result: 'ok' });
    expect(JSON.stringify(entries)).not.toContain(token);
  }, 90_000);

  it('counts a rebuild that timed out as failed, with its reason and the stage', async () => {
    const { t, port } = await lab({ pxeBoot: '1s' });
    const id: number = (await t.app.inject({ method: 'POST', url: '/api/hosts', headers: auth, payload: { hostname: 'pve-ms-22', mac: 'b4:2e:99:ac:ad:e2', server_type: 'minisforum-ms-01' } })).json().id;
    const stream = resources.add(await openSse(port, `/api/events?host=${id}`, auth), async (s) => s.close());
    await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild`, headers: auth });
    const failed = JSON.parse((await stream.next((m) => m.event === 'rebuild.failed')).data);
    expect(failed).toMatchObject({ state: 'failed', data: { stage: 'pxe_ready', reason: 'stage_timeout', message: 'no PXE request from b4:2e:99:ac:ad:e2 within 1s' } });
    const text = (await t.app.inject({ method: 'GET', url: '/metrics', headers: auth })).body;
    expect(sample(text, 'provisioning_rebuilds_total{outcome="failed",reason="stage_timeout"}')).toBe(1);
    expect(sample(text, 'provisioning_stage_timeouts_total{stage="pxe_ready"}')).toBe(1);
    expect(sample(text, 'provisioning_rebuilds_total{outcome="ready",reason=""}')).toBeUndefined();
  }, 60_000);
});
