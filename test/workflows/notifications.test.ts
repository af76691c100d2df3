// Real: Temporal dev server, worker with the real activities (sendNotification over real HTTP), SQLite, Fastify, the
// sshd stand-in Proxmox node for rebuilds that join, the config parser for the targets and their secrets. The
// receivers are small node:http servers on 127.0.0.1 that record each request. Fake: the power driver of the power
// retry test (the retry path, not the BMC, is under test). Rebuilds are started by the service's RebuildClient with
// notifications configured, and boot events are signals, as the boot endpoints send them.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { temporal } from '@temporalio/proto';
import { afterEach, describe, expect, it } from 'vitest';
import type { NotificationSettings } from '../../activities/notify';
import { parseConfig } from '../../src/config/load-config';
import type { RebuildTimeouts } from '../../src/domain/rebuild';
import { rebuildWorkflowId } from '../../src/domain/rebuild-ids';
import type { PowerDriver, PowerMethod } from '../../src/power/types';
import type { OperationEvent } from '../../src/store/operation-store';
import { RebuildClient } from '../../src/temporal/rebuild-client';
import { answerServedSignal, installedSignal, phonedHomeSignal, pxeBootedSignal } from '../../workflows/messages';
import { readableHistory } from '../helpers/history';
import { Resources } from '../helpers/release';
import { startStandInNode, type StandInNode } from '../helpers/sshd-node';
import { buildTestApp, shortTimeouts, type TestApp } from '../helpers/test-app';
import { startTestWorker, testFingerprint } from '../helpers/test-worker';
import { waitForEvent, waitForState } from '../helpers/wait-for';

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * A receiver on 127.0.0.1 that answers each request with the next status of `statuses` (the last one repeats); with
 * `echo`, its refusals repeat the request's Authorization header and path, as a careless receiver might.
 */
async function startReceiver(statuses: number[] = [200], echo = false) {
  const requests: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const status = statuses[Math.min(requests.length, statuses.length) - 1]!;
      const refusal = echo ? `no access for ${req.headers.authorization} to ${req.url}` : `refused by the receiver (${status})`;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : refusal);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const resources = new Resources();
afterEach(() => resources.releaseAll());
const password = 'peer-root-pw-71c4';
const webhookSecret = 'Bearer whk-s3cret-4f9a1c0e';
const ntfySecret = 'tk_ntfys3cret0b2d7e9a';
const env = { NOTIFY_AUTH: webhookSecret, NTFY_TOKEN: ntfySecret };
const quickRetry = { giveUpAfter: '2s', initialInterval: '200ms', maximumInterval: '400ms' };
let t: TestApp;
let node: StandInNode | undefined;

/** The targets as `notifications:` in provisioning.yaml reads them, with the secrets from `env`. */
function targets(yaml: string, more: Record<string, string> = {}): NotificationSettings['targets'] {
  return parseConfig(`notifications:\n${yaml}`, 'provisioning.yaml', { ...env, ...more }).notifications;
}

async function setUp(options: { yaml: string; timeouts?: Partial<RebuildTimeouts>; join?: boolean; power?: PowerDriver; retry?: NotificationSettings['retry']; env?: Record<string, string> }) {
  t = resources.add(await buildTestApp({ timeouts: { ...shortTimeouts, ...options.timeouts } }), (app) => app.close());
  node = options.join ? resources.add(await startStandInNode(password), (n) => n.stop()) : undefined;
  const notifications: NotificationSettings = { targets: targets(options.yaml, options.env), publicUrl: 'http://192.0.2.80:8080', retry: options.retry ?? quickRetry };
  const join = node ? { password, sshPort: node.port, layout: node.layout, existingNode: '192.0.2.10', fingerprint: testFingerprint } : {};
  resources.add(await startTestWorker(t, { notifications, join, ...(options.power ? { power: { driver: () => options.power! } } : {}) }), (w) => w.stop());
}

/** Registers a host and starts its rebuild as the gateway does with notification targets configured. */
async function startRebuild(options: { notify?: boolean; power?: PowerMethod } = {}) {
  const res = await t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname: 'pve-ms-07', mac: 'aa:bb:cc:dd:ee:07', server_type: 'minisforum-ms-01' } });
  const id: number = res.json().id;
  const client = new RebuildClient(t.client, t.taskQueue, () => t.timeouts, { notify: options.notify ?? true });
  const { workflowId, runId } = await client.start(t.hosts.get(id), options.power ? { power: options.power } : {});
  const operationId = t.operations.ensure(id, workflowId, runId).id;
  return { id, operationId, handle: t.client.workflow.getHandle(rebuildWorkflowId(id)) };
}

/** Drives a started rebuild through its boot events to the join, as the boot endpoints would. */
async function bootToJoin(id: number, operationId: number, webhookFrom = '127.0.0.1') {
  await waitForState(t.operations, id, 'pxe_ready');
  node!.authorize(t.keys.list()[0]!.publicKey);
  const handle = t.client.workflow.getHandle(rebuildWorkflowId(id));
  const at = () => new Date().toISOString();
  await handle.signal(pxeBootedSignal, { at: at(), remoteAddress: '127.0.0.1' });
  await handle.signal(answerServedSignal, { at: at(), remoteAddress: '127.0.0.1' });
  t.operations.append({ hostId: id, operationId, kind: 'answer_served', message: 'answer file served to 127.0.0.1', details: { remoteAddress: '127.0.0.1' } });
  await handle.signal(installedSignal, { at: at(), remoteAddress: webhookFrom, managementAddress: '127.0.0.1/8', sshHostKeys: { ed25519: node!.hostKey }, machineId: 'm-7' });
  await handle.signal(phonedHomeSignal, { at: at(), remoteAddress: '127.0.0.1', ip: '127.0.0.1', hardwareId: 'hw-7' });
}

/** The ids of the patches a history recorded (patched() markers). */
function patches(history: temporal.api.history.v1.IHistory): string[] {
  return (history.events ?? [])
    .filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')
    .map((e) => (JSON.parse(Buffer.from(e.markerRecordedEventAttributes!.details!['patch-data']!.payloads![0]!.data!).toString('utf8')) as { id: string }).id);
}

/** A BMC that powers the machine into the installer whenever asked (the machine itself never PXE boots here). */
const bmc: PowerDriver = {
  method: 'ipmi',
  status: async () => 'on',
  intoInstaller: async () => ({ did: 'IPMI: one-time PXE set (EFI), power cycle sent', state: 'on' }),
  act: async () => ({ did: 'nothing', state: 'on' }),
  test: async () => ({ did: 'nothing', state: 'on' }),
  persistentOverride: async () => null,
};

const events = (operationId: number) => t.operations.events(operationId);
const kinds = (operationId: number, ...wanted: string[]) => events(operationId).filter((e) => wanted.includes(e.kind));
const messages = (list: OperationEvent[]) => list.map((e) => e.message);

describe('rebuild notifications', () => {
  it('posts the ready notification to a webhook with its header from the environment and every field in the body', async () => {
    const hook = resources.add(await startReceiver(), (r) => r.close());
    await setUp({ join: true, yaml: [`  - type: webhook`, `    url: ${hook.url}/provisioning?channel=ops`, '    headers: { X-Source: provisioning }', '    headers_env: { Authorization: NOTIFY_AUTH }'].join('\n') });
    const { id, operationId, handle } = await startRebuild();
    await bootToJoin(id, operationId);

    expect(await handle.result()).toEqual({ hostId: id, state: 'ready', failure: null });
    expect(hook.requests).toHaveLength(1);
    const [request] = hook.requests;
    expect(request).toMatchObject({ method: 'POST', url: '/provisioning?channel=ops' });
    expect(request!.headers).toMatchObject({
      authorization: webhookSecret,
      'content-type': 'application/json',
      'x-source': 'provisioning',
      'x-provisioning-event': 'ready',
      'user-agent': 'provisioning',
    });
    expect(request!.headers['x-provisioning-delivery']).toMatch(new RegExp(`^rebuild-${id}/[0-9a-f-]+/\\d+$`));
    const body = JSON.parse(request!.body);
    expect(body).toEqual({
      event: 'ready',
      title: 'pve-ms-07 is ready',
      message: 'pve-ms-07 (aa:bb:cc:dd:ee:07) is ready',
      hostname: 'pve-ms-07',
      mac: 'aa:bb:cc:dd:ee:07',
      host_id: id,
      server_type: 'minisforum-ms-01',
      state: 'ready',
      stage: null,
      reason: null,
      retry: null,
      operation_id: operationId,
      workflow_id: `rebuild-${id}`,
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      dashboard_url: `http://192.0.2.80:8080/hosts/${id}`,
    });
    expect(messages(kinds(operationId, 'notification_sent'))).toEqual([`ready notification delivered to webhook ${hook.host} (200)`]);
    // Sent after the cleanup: the key was destroyed before the notification left.
    const order = events(operationId).map((e) => e.kind);
    expect(order.indexOf('key_removed')).toBeGreaterThan(-1);
    expect(order.indexOf('notification_sent')).toBeGreaterThan(order.indexOf('key_removed'));

    expect(patches(await handle.fetchHistory())).toEqual(['cluster-lock', 'notifications']);
    const history = readableHistory(await handle.fetchHistory());
    expect(history).not.toContain(webhookSecret);
    expect(history).not.toContain('whk-s3cret');
    expect(history).not.toContain('channel=ops'); // the URL stays in the worker's config
  });

  it('sends an identity mismatch to the targets of failed and of identity_mismatch, once each, and none to ready', async () => {
    const hook = resources.add(await startReceiver(), (r) => r.close());
    const phone = resources.add(await startReceiver(), (r) => r.close());
    const quiet = resources.add(await startReceiver(), (r) => r.close());
    await setUp({
      join: true,
      yaml: [
        `  - { type: webhook, url: "${hook.url}/hook", on: [failed, identity_mismatch] }`,
        `  - { type: ntfy, url: "${phone.url}/rebuilds", on: [identity_mismatch], token_env: NTFY_TOKEN }`,
        `  - { type: webhook, name: quiet, url: "${quiet.url}/", on: [ready] }`,
      ].join('\n'),
    });
    const { id, operationId, handle } = await startRebuild();
    await bootToJoin(id, operationId, '127.0.0.7');

    const result = await handle.result();
    const message = "the join would connect to 127.0.0.1, but the installer's webhook came from 127.0.0.7";
    expect(result.failure).toEqual({ stage: 'joining', reason: 'identity_mismatch', message });
    expect(node!.pvecmPassword()).toBeNull();
    expect(hook.requests).toHaveLength(1);
    expect(JSON.parse(hook.requests[0]!.body)).toMatchObject({ event: 'identity_mismatch', state: 'failed', stage: 'joining', reason: 'identity_mismatch', message: `rebuild failed at joining: ${message}` });
    expect(phone.requests).toHaveLength(1);
    expect(phone.requests[0]!.headers).toMatchObject({ title: 'pve-ms-07: rebuild failed at joining (identity_mismatch)', priority: 'urgent', tags: 'warning,pve-ms-07', authorization: `Bearer ${ntfySecret}` });
    expect(quiet.requests).toEqual([]);
    expect(kinds(operationId, 'notification_sent')).toHaveLength(2);
    expect(readableHistory(await handle.fetchHistory())).not.toContain(ntfySecret);
  });

  it('retries a receiver that answers 503 and delivers the notification once it answers 200', async () => {
    const hook = resources.add(await startReceiver([503, 200]), (r) => r.close());
    await setUp({ timeouts: { pxeBoot: '300ms' }, yaml: `  - { type: webhook, url: "${hook.url}/hook" }` });
    const { id, operationId, handle } = await startRebuild();

    const noPxe = 'no PXE request from aa:bb:cc:dd:ee:07 within 300ms';
    expect(await handle.result()).toEqual({ hostId: id, state: 'failed', failure: { stage: 'pxe_ready', reason: 'stage_timeout', message: noPxe } });
    expect(hook.requests).toHaveLength(2);
    expect(hook.requests[1]!.headers['x-provisioning-delivery']).toBe(hook.requests[0]!.headers['x-provisioning-delivery']);
    expect(hook.requests.map((r) => JSON.parse(r.body).event)).toEqual(['stage_timeout', 'stage_timeout']);
    expect(messages(kinds(operationId, 'activity_failed'))).toEqual([`sendNotification attempt 1 failed (will retry): webhook ${hook.host} answered 503 Service Unavailable: refused by the receiver (503)`]);
    expect(messages(kinds(operationId, 'notification_sent'))).toEqual([`stage_timeout notification delivered to webhook ${hook.host} (200, attempt 2)`]);
    expect(kinds(operationId, 'notification_failed')).toEqual([]);
  });

  it('records a receiver that never answers 2xx in the host history, with every attempt, and leaves the result as it was', async () => {
    const hook = resources.add(await startReceiver([503]), (r) => r.close());
    await setUp({ timeouts: { pxeBoot: '300ms' }, yaml: `  - { type: webhook, name: ops, url: "${hook.url}/hook" }` });
    const { id, operationId, handle } = await startRebuild();

    const noPxe = 'no PXE request from aa:bb:cc:dd:ee:07 within 300ms';
    expect(await handle.result()).toEqual({ hostId: id, state: 'failed', failure: { stage: 'pxe_ready', reason: 'stage_timeout', message: noPxe } });
    expect(t.operations.find(operationId)).toMatchObject({ status: 'failed', failureReason: 'stage_timeout', failureMessage: noPxe });
    expect(t.hosts.get(id).state).toBe('failed');
    const answer = 'ops answered 503 Service Unavailable: refused by the receiver (503)';
    const attempts = messages(kinds(operationId, 'activity_failed'));
    expect(attempts.length).toBeGreaterThanOrEqual(2); // 200 ms, 400 ms, 400 ms … apart, as many as fit in 2 s on a busy machine
    expect(attempts.length).toBe(hook.requests.length);
    const last = attempts.length;
    expect(attempts.slice(0, -1)).toEqual(Array.from({ length: last - 1 }, (_, i) => `sendNotification attempt ${i + 1} failed (will retry): ${answer}`));
    expect(attempts[last - 1]).toMatch(new RegExp(`^sendNotification attempt ${last} failed: ${answer.replace(/[()]/g, '\\$&')}; given up after ${last} attempts in \\d+\\.\\d s$`));
    expect(messages(kinds(operationId, 'notification_failed'))).toEqual([`the stage_timeout notification to ops was not delivered: ${attempts[last - 1]!.replace(/^.*? failed: /, '')}`]);
    expect(kinds(operationId, 'notification_sent')).toEqual([]);
  });

  it('does not retry a receiver that refuses with 401, and says so', async () => {
    const hook = resources.add(await startReceiver([401]), (r) => r.close());
    await setUp({ timeouts: { pxeBoot: '300ms' }, yaml: `  - { type: webhook, name: ops, url: "${hook.url}/hook", headers_env: { Authorization: NOTIFY_AUTH } }` });
    const { operationId, handle } = await startRebuild();

    expect((await handle.result()).failure?.reason).toBe('stage_timeout');
    expect(hook.requests).toHaveLength(1);
    expect(messages(kinds(operationId, 'activity_failed'))).toEqual(['sendNotification attempt 1 failed: ops answered 401 Unauthorized: refused by the receiver (401) (not retried)']);
    expect(messages(kinds(operationId, 'notification_failed'))).toEqual(['the stage_timeout notification to ops was not delivered: ops answered 401 Unauthorized: refused by the receiver (401) (not retried)']);
  });

  it('never writes a secret that a refusing receiver echoes back into the host history', async () => {
    const phone = resources.add(await startReceiver([403], true), (r) => r.close());
    await setUp({ timeouts: { pxeBoot: '300ms' }, yaml: '  - { type: ntfy, url_env: NTFY_URL, token_env: NTFY_TOKEN }', env: { NTFY_URL: `${phone.url}/secret-topic-5d1e` } });
    const { operationId, handle } = await startRebuild();

    expect((await handle.result()).failure?.reason).toBe('stage_timeout');
    expect(phone.requests.map((r) => [r.url, r.headers.authorization])).toEqual([['/secret-topic-5d1e', `Bearer ${ntfySecret}`]]);
    const [failed] = messages(kinds(operationId, 'notification_failed'));
    expect(failed).toBe(`the stage_timeout notification to ntfy ${phone.host} was not delivered: ntfy ${phone.host} answered 403 Forbidden: no access for Bearer [redacted] to [redacted] (not retried)`);
    const written = JSON.stringify(events(operationId)) + readableHistory(await handle.fetchHistory());
    expect(written).not.toContain(ntfySecret);
    expect(written).not.toContain('secret-topic-5d1e');
  });

  it('notifies a stuck stage retried by power as stage_timeout with ntfy headers, and the final failure to failed too', async () => {
    const phone = resources.add(await startReceiver(), (r) => r.close());
    const hook = resources.add(await startReceiver(), (r) => r.close());
    await setUp({
      timeouts: { pxeBoot: '300ms', powerRetries: 1 },
      power: bmc,
      yaml: [
        `  - type: ntfy`,
        `    url: ${phone.url}/rebuilds-4e1f`,
        '    token_env: NTFY_TOKEN',
        '    on: [stage_timeout]',
        '    priority: { stage_timeout: 4 }',
        `  - { type: webhook, url: "${hook.url}/hook", on: [failed] }`,
      ].join('\n'),
    });
    const { id, operationId, handle } = await startRebuild({ power: 'ipmi' });

    const noPxe = 'no PXE request from aa:bb:cc:dd:ee:07 within 300ms';
    expect(await handle.result()).toEqual({ hostId: id, state: 'failed', failure: { stage: 'pxe_ready', reason: 'stage_timeout', message: noPxe } });
    expect(kinds(operationId, 'power_retry')).toHaveLength(1);
    expect(patches(await handle.fetchHistory())).toEqual(['power-control', 'notifications']);
    expect(phone.requests.map((r) => ({ method: r.method, url: r.url, title: r.headers.title, priority: r.headers.priority, tags: r.headers.tags, click: r.headers.click, auth: r.headers.authorization, body: r.body }))).toEqual([
      {
        method: 'POST',
        url: '/rebuilds-4e1f',
        title: 'pve-ms-07: pxe_ready timed out, power-cycling (retry 1 of 1)',
        priority: '4',
        tags: 'hourglass,pve-ms-07',
        click: `http://192.0.2.80:8080/hosts/${id}`,
        auth: `Bearer ${ntfySecret}`,
        body: `pxe_ready timed out (${noPxe}): power-cycling into the installer, retry 1 of 1`,
      },
      {
        method: 'POST',
        url: '/rebuilds-4e1f',
        title: 'pve-ms-07: rebuild failed at pxe_ready (stage_timeout)',
        priority: '4',
        tags: 'hourglass,pve-ms-07',
        click: `http://192.0.2.80:8080/hosts/${id}`,
        auth: `Bearer ${ntfySecret}`,
        body: `rebuild failed at pxe_ready: ${noPxe}`,
      },
    ]);
    expect(phone.requests[0]!.headers['content-type']).toBe('text/plain; charset=utf-8');
    // The webhook wants every failure, not a retry that may still end well.
    expect(hook.requests.map((r) => JSON.parse(r.body))).toEqual([expect.objectContaining({ event: 'stage_timeout', state: 'failed', reason: 'stage_timeout' })]);
    const history = readableHistory(await handle.fetchHistory());
    expect(history).not.toContain(ntfySecret);
    expect(history).not.toContain('rebuilds-4e1f');
  });

  it('powers the machine again at once while the retry notice is still being retried, and goes on with the rebuild', async () => {
    const phone = resources.add(await startReceiver([503]), (r) => r.close());
    // One second for the machine to PXE boot: the first wait times out, the retry's is answered.
    await setUp({ timeouts: { pxeBoot: '1s', powerRetries: 1 }, power: bmc, retry: { giveUpAfter: '1m', initialInterval: '200ms', maximumInterval: '1s' }, yaml: `  - { type: ntfy, url: "${phone.url}/t" }` });
    const { id, operationId, handle } = await startRebuild({ power: 'ipmi' });
    await waitForEvent(t.operations, id, (e) => e.kind === 'power' && e.message.includes('retry 1 of 1'));
    await handle.signal(pxeBootedSignal, { at: new Date().toISOString(), remoteAddress: '127.0.0.1' });
    await waitForState(t.operations, id, 'pxe_booted');
    await waitForEvent(t.operations, id, (e) => e.kind === 'activity_failed' && e.details?.activity === 'sendNotification');
    // The power cycle and the rebuild went on while the notice still waits for its receiver.
    expect(kinds(operationId, 'notification_sent', 'notification_failed')).toEqual([]);
    expect(JSON.stringify(phone.requests.map((r) => r.headers.title))).toContain('pxe_ready timed out, power-cycling (retry 1 of 1)');
    // Left open here, waiting for the answer fetch with the notice's retries pending (a recorded history).
  });

  it('keeps a finished rebuild open while its notification is retried, its outcome already recorded', async () => {
    const hook = resources.add(await startReceiver([503]), (r) => r.close());
    await setUp({ timeouts: { pxeBoot: '300ms' }, retry: { giveUpAfter: '1m', initialInterval: '200ms', maximumInterval: '1s' }, yaml: `  - { type: webhook, url: "${hook.url}/hook" }` });
    const { id, operationId, handle } = await startRebuild();
    await waitForState(t.operations, id, 'failed');
    await waitForEvent(t.operations, id, (e) => e.kind === 'activity_failed' && e.details?.activity === 'sendNotification' && e.details?.attempt === 2);
    expect(t.operations.find(operationId)).toMatchObject({ status: 'failed', failureReason: 'stage_timeout' });
    expect(t.keys.list()).toEqual([]);
    expect(t.pxeAllowList.list()).toEqual([]);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    // A new rebuild meanwhile is refused, saying why and for how long at most.
    const again = await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild` });
    expect(again.statusCode).toBe(409);
    expect(again.json().error).toMatchObject({ code: 'rebuild_finishing', message: expect.stringMatching(/has ended \(failed: stage_timeout\), but its workflow rebuild-\d+ is still sending its notifications/) });
    // Left open here, retrying the notification (a recorded history).
  });

  it('notifies a cancelled rebuild as failed after its cleanup', async () => {
    const hook = resources.add(await startReceiver(), (r) => r.close());
    await setUp({ yaml: `  - { type: webhook, url: "${hook.url}/hook", on: [failed], body_template: '{"text": "{{title}}: {{message}}", "host": {{host_id}}}' }` });
    const { id, operationId, handle } = await startRebuild();
    await waitForState(t.operations, id, 'pxe_ready');
    await handle.cancel();

    expect((await handle.result()).failure).toEqual({ stage: 'pxe_ready', reason: 'cancelled', message: 'rebuild cancelled by an operator while pxe_ready' });
    expect(hook.requests.map((r) => JSON.parse(r.body))).toEqual([{ text: 'pve-ms-07: rebuild failed at pxe_ready (cancelled): rebuild failed at pxe_ready: rebuild cancelled by an operator while pxe_ready', host: id }]);
    const order = events(operationId).map((e) => e.kind);
    expect(order.indexOf('notification_sent')).toBeGreaterThan(order.lastIndexOf('pxe_revoked'));
  });

  it('sends nothing, and records no patch marker, for a rebuild started without notifications configured', async () => {
    const hook = resources.add(await startReceiver(), (r) => r.close());
    await setUp({ timeouts: { pxeBoot: '300ms' }, yaml: `  - { type: webhook, url: "${hook.url}/hook" }` });
    const { operationId, handle } = await startRebuild({ notify: false });

    expect((await handle.result()).failure?.reason).toBe('stage_timeout');
    expect(hook.requests).toEqual([]);
    expect(kinds(operationId, 'notification_sent', 'notification_failed')).toEqual([]);
    expect(patches(await handle.fetchHistory())).toEqual([]);
  });
});
