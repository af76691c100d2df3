// The operator tools over HTTP (issue 18): GET /api/events (SSE for scripts, bearer token, Last-Event-ID), GET
// /api/audit (every operator action, refused requests, logins, boot decisions; never a token) and GET /metrics
// (Prometheus text, its own token). Real: Fastify on a loopback listener, SQLite and its triggers, prom-client.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Resources } from '../helpers/release';
import { openSse } from '../helpers/sse-client';
import { buildTestApp, type TestApp } from '../helpers/test-app';

const token = 'operator-token-3f9a1c';
const metricsToken = 'metrics-token-77b2e0';
const resources = new Resources();
afterEach(() => resources.releaseAll());

async function start(options: { apiToken?: string } = {}): Promise<{ t: TestApp; port: number; auth: Record<string, string> }> {
  const apiToken = options.apiToken ?? token;
  const t = resources.add(await buildTestApp({ apiToken, metricsToken, streamOptions: { pollMs: 10 } }), (a) => a.close());
  const address = await t.app.listen({ host: '127.0.0.1', port: 0 });
  return { t, port: Number(new URL(address).port), auth: apiToken ? { authorization: `Bearer ${apiToken}` } : {} };
}

const register = (t: TestApp, auth: Record<string, string>, n: number) =>
  t.app.inject({ method: 'POST', url: '/api/hosts', headers: auth, payload: { hostname: `pve-tool-${n}`, mac: `aa:bb:cc:dd:ee:${String(n).padStart(2, '0')}`, server_type: 'minisforum-ms-01' } });

describe('GET /api/events', () => {
  it('streams JSON events with stable names as they happen, each with host id, MAC, hostname, state and time', async () => {
    const { t, port, auth } = await start();
    const stream = resources.add(await openSse(port, '/api/events', auth), async (s) => s.close());
    expect(stream.res.statusCode).toBe(200);
    expect(stream.res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    const id = (await register(t, auth, 1)).json().id as number;
    await t.app.inject({ method: 'DELETE', url: `/api/hosts/${id}`, headers: auth });
    const [registered, deleted] = await stream.count(2);
    expect([registered!.event, deleted!.event]).toEqual(['host.registered', 'host.deleted']);
    const event = JSON.parse(registered!.data);
    expect(event).toEqual({ id: Number(registered!.id), name: 'host.registered', at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), host_id: id, mac: 'aa:bb:cc:dd:ee:01', hostname: 'pve-tool-1', state: 'registered', data: { server_type: 'minisforum-ms-01' } });
    expect(Number(deleted!.id)).toBeGreaterThan(Number(registered!.id));
  });

  it("resumes after a disconnect from Last-Event-ID, in order, and ?host= keeps to one host's events", async () => {
    const { t, port, auth } = await start();
    const first = await openSse(port, '/api/events', auth);
    const a = (await register(t, auth, 2)).json().id as number;
    const seen = await first.next((m) => m.event === 'host.registered');
    first.close();
    // While nobody listens: another host, and a's rebuild records (as the worker would write them).
    const b = (await register(t, auth, 3)).json().id as number;
    const op = t.operations.ensure(a, `rebuild-${a}`, 'run-resume');
    t.hosts.transition(a, 'pxe_ready');
    t.operations.append({ hostId: a, operationId: op.id, kind: 'state', state: 'pxe_ready', message: 'waiting for PXE' });
    const resumed = resources.add(await openSse(port, '/api/events', { ...auth, 'last-event-id': seen.id! }), async (s) => s.close());
    const missed = await resumed.count(3);
    expect(missed.map((m) => [m.event, JSON.parse(m.data).host_id])).toEqual([['host.registered', b], ['rebuild.started', a], ['rebuild.stage', a]]);
    expect(JSON.parse(missed[2]!.data)).toMatchObject({ state: 'pxe_ready', data: { operation_id: op.id, state: 'pxe_ready', message: 'waiting for PXE' } });
    const ids = missed.map((m) => Number(m.id));
    expect(ids).toEqual([...ids].sort((x, y) => x - y));

    const onlyB = resources.add(await openSse(port, `/api/events?host=${b}`, { ...auth, 'last-event-id': '0' }), async (s) => s.close());
    t.operations.finish(op.id, { status: 'failed', reason: 'cancelled', message: 'cancelled by the API token' });
    await t.app.inject({ method: 'PATCH', url: `/api/hosts/${b}`, headers: auth, payload: { power: { method: 'wol' } } });
    await resumed.next((m) => m.event === 'rebuild.failed');
    const updated = await onlyB.next((m) => m.event === 'host.updated');
    expect(JSON.parse(updated.data)).toMatchObject({ host_id: b, data: { power_method: 'wol' } });
    expect(onlyB.messages.map((m) => JSON.parse(m.data).host_id)).toEqual([b, b]); // registered, updated: nothing of a
  });

  it('opens with the current position, so a client that drops before any event resumes without a gap', async () => {
    const { t, port, auth } = await start();
    await register(t, auth, 7); // before the client: not for it
    const first = await openSse(port, '/api/events', auth);
    await expect.poll(() => first.lastEventId()).not.toBeNull();
    const joinedAt = first.lastEventId()!;
    expect(Number(joinedAt)).toBe(t.tools.stream.maxId());
    first.close();
    await register(t, auth, 8); // while it is away
    const again = resources.add(await openSse(port, '/api/events', { ...auth, 'last-event-id': joinedAt }), async (s) => s.close());
    const missed = await again.next((m) => m.event === 'host.registered');
    expect(JSON.parse(missed.data)).toMatchObject({ hostname: 'pve-tool-8' });
    expect(again.messages.filter((m) => m.event === 'host.registered')).toHaveLength(1);
  });

  it('replays at most replayLimit events per connect, and the rest on the next one', async () => {
    const t = resources.add(await buildTestApp({ apiToken: token, streamOptions: { pollMs: 10, replayLimit: 2 } }), (a) => a.close());
    const port = Number(new URL(await t.app.listen({ host: '127.0.0.1', port: 0 })).port);
    const auth = { authorization: `Bearer ${token}` };
    for (const n of [11, 12, 13]) await register(t, auth, n);
    const first = await openSse(port, '/api/events', { ...auth, 'last-event-id': '0' });
    const two = await first.count(2);
    first.close();
    const rest = resources.add(await openSse(port, '/api/events', { ...auth, 'last-event-id': two[1]!.id! }), async (s) => s.close());
    const [third] = await rest.count(1);
    expect([...two, third!].map((m) => JSON.parse(m.data).hostname)).toEqual(['pve-tool-11', 'pve-tool-12', 'pve-tool-13']);
  });

  it('needs the bearer token, and says which header is wrong', async () => {
    const { port, auth } = await start();
    const anonymous = await openSse(port, '/api/events');
    expect(anonymous.res.statusCode).toBe(401);
    anonymous.close();
    const bad = await fetch(`http://127.0.0.1:${port}/api/events`, { headers: { ...auth, 'last-event-id': 'yesterday' } });
    expect(bad.status).toBe(400);
    const body = await bad.text();
    expect(JSON.parse(body).error).toMatchObject({ code: 'invalid_input', field: 'Last-Event-ID' });
  });
});

describe('GET /api/audit', () => {
  it('records who did what from where with the result, refused requests and logins, filters and pages, and never keeps a token', async () => {
    const { t, auth } = await start();
    const id = (await register(t, auth, 4)).json().id as number;
    await t.app.inject({ method: 'POST', url: '/api/hosts', headers: auth, payload: { hostname: 'pve-tool-4', mac: 'aa:bb:cc:dd:ee:44', server_type: 'minisforum-ms-01' } }); // 409: the name is taken
    await t.app.inject({ method: 'GET', url: '/api/hosts', headers: { authorization: 'Bearer not-the-token-9d8c' } });
    await t.app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'token=wrong-login-token-5e&next=/' });
    await t.app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `token=${token}&next=/` });
    await t.app.inject({ method: 'DELETE', url: `/api/hosts/${id}`, headers: auth });

    const all = (await t.app.inject({ method: 'GET', url: '/api/audit', headers: auth })).json();
    expect(all.entries.map((e: { kind: string; result: string }) => `${e.kind} ${e.result}`)).toEqual(['host.delete ok', 'login ok', 'login.failed refused', 'auth.refused refused', 'host.register refused', 'host.register ok']);
    const [deleted, , , refusedAuth, refusedRegister, registered] = all.entries;
    expect(registered).toMatchObject({ actor: 'the API token', address: '127.0.0.1', host_id: id, mac: 'aa:bb:cc:dd:ee:04', hostname: 'pve-tool-4', message: 'host.register pve-tool-4 (aa:bb:cc:dd:ee:04): done', details: { status: 201 } });
    expect(refusedRegister.message).toMatch(/^host\.register \/api\/hosts: .*pve-tool-4/);
    expect(refusedAuth).toMatchObject({ actor: 'nobody (no valid token)', message: 'GET /api/hosts refused: invalid API token' });
    expect(deleted).toMatchObject({ host_id: id, hostname: 'pve-tool-4', result: 'ok' }); // named though the host is gone

    expect((await t.app.inject({ method: 'GET', url: '/api/audit?kind=login.failed', headers: auth })).json().entries).toHaveLength(1);
    expect((await t.app.inject({ method: 'GET', url: '/api/audit?kind=host.', headers: auth })).json().entries).toHaveLength(3);
    expect((await t.app.inject({ method: 'GET', url: `/api/audit?host=${id}`, headers: auth })).json().entries).toHaveLength(2);
    expect((await t.app.inject({ method: 'GET', url: '/api/audit?mac=AA-BB-CC-DD-EE-04', headers: auth })).json().entries).toHaveLength(2);
    const future = (await t.app.inject({ method: 'GET', url: '/api/audit?since=2999-01-01T00:00:00Z', headers: auth })).json();
    expect(future).toEqual({ entries: [], next_before: null });
    const page1 = (await t.app.inject({ method: 'GET', url: '/api/audit?limit=4', headers: auth })).json();
    const page2 = (await t.app.inject({ method: 'GET', url: `/api/audit?limit=4&before=${page1.next_before}`, headers: auth })).json();
    expect([...page1.entries, ...page2.entries].map((e: { id: number }) => e.id)).toEqual(all.entries.map((e: { id: number }) => e.id));
    expect(page2.next_before).toBeNull();

    const badMac = await t.app.inject({ method: 'GET', url: '/api/audit?mac=nope', headers: auth });
    expect(badMac.statusCode).toBe(400);
    expect(badMac.json().error).toMatchObject({ field: 'mac' });
    // No token, right or wrong, in what the API returns or in the database file.
    const everything = `${JSON.stringify(all)}${readFileSync(t.dbPath).toString('latin1')}`;
    for (const secret of [token, 'not-the-token-9d8c', 'wrong-login-token-5e']) expect(everything).not.toContain(secret);
  });

  it('records what each booting MAC was told and why, as boot.decision entries and events', async () => {
    const { t, port, auth } = await start();
    const stream = resources.add(await openSse(port, '/api/events', auth), async (s) => s.close());
    const id = (await register(t, auth, 5)).json().id as number;
    await t.app.inject({ method: 'GET', url: '/ipxe/aa:bb:cc:dd:ee:05' });
    await t.app.inject({ method: 'GET', url: '/ipxe/aa:bb:cc:dd:ee:99' });
    const decisions = (await t.app.inject({ method: 'GET', url: '/api/audit?kind=boot.decision', headers: auth })).json().entries;
    expect(decisions.map((e: { mac: string; details: { action: string; code: string } }) => [e.mac, e.details.action, e.details.code])).toEqual([['aa:bb:cc:dd:ee:99', 'local-disk', 'unknown_mac'], ['aa:bb:cc:dd:ee:05', 'local-disk', 'not_rebuilding']]);
    expect(decisions[1]).toMatchObject({ host_id: id, actor: 'machine aa:bb:cc:dd:ee:05', message: expect.stringContaining('boot from local disk') });
    const event = await stream.next((m) => m.event === 'boot.decision');
    expect(JSON.parse(event.data)).toMatchObject({ host_id: id, mac: 'aa:bb:cc:dd:ee:05', state: 'registered', data: { endpoint: 'ipxe', action: 'local-disk', code: 'not_rebuilding' } });
  });
});

describe('GET /metrics', () => {
  it('takes server.metrics_token or the operator token, and counts requests by route and boot decisions by reason', async () => {
    const { t, auth } = await start();
    expect((await t.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer wrong' } })).statusCode).toBe(401);
    await register(t, auth, 6);
    await t.app.inject({ method: 'GET', url: '/ipxe/aa:bb:cc:dd:ee:06' });
    await t.app.inject({ method: 'GET', url: '/ipxe/aa:bb:cc:dd:ee:98' });
    await t.app.inject({ method: 'GET', url: '/ipxe/aa:bb:cc:dd:ee:97' });
    const scraped = await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${metricsToken}` } });
    expect(scraped.statusCode).toBe(200);
    expect(scraped.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = scraped.body;
    expect(text).toContain('provisioning_boot_decisions_total{endpoint="ipxe",action="local-disk",reason="unknown_mac"} 2');
    expect(text).toContain('provisioning_boot_decisions_total{endpoint="ipxe",action="local-disk",reason="not_rebuilding"} 1');
    expect(text).toContain('provisioning_http_requests_total{method="POST",route="/api/hosts",status="201"} 1');
    expect(text).toContain('provisioning_http_requests_total{method="GET",route="/ipxe/:mac",status="200"} 3');
    expect(text).toContain('provisioning_hosts{state="registered"} 1');
    expect(text).toContain('provisioning_sse_clients{stream="api"} 0');
    expect(text).toMatch(/^provisioning_process_resident_memory_bytes \d+/m);
    expect((await t.app.inject({ method: 'GET', url: '/metrics', headers: auth })).statusCode).toBe(200);
  });
});

describe('the OpenAPI document', () => {
  it('has the operator tools: the event stream, the audit trail, the metrics, explain and preview', async () => {
    const { t, auth } = await start();
    const doc = (await t.app.inject({ method: 'GET', url: '/docs/json', headers: auth })).json() as { paths: Record<string, Record<string, { tags?: string[]; parameters?: { name: string }[] }>> };
    expect(doc.paths['/api/events']?.get?.tags).toEqual(['events']);
    expect(doc.paths['/api/events']?.get?.parameters?.map((p) => p.name)).toEqual(['host']);
    expect(doc.paths['/api/audit']?.get?.parameters?.map((p) => p.name).sort()).toEqual(['before', 'host', 'kind', 'limit', 'mac', 'since', 'until']);
    expect(doc.paths['/metrics']?.get?.tags).toEqual(['metrics']);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/boot/explain', '/api/hosts/{id}/preview']));
  });
});
