// Real: Fastify on a loopback listener, SQLite, the event hub; 200 real HTTP clients on /events.
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
let port: number;
beforeAll(async () => {
  t = await buildTestApp({ hubOptions: { pollMs: 50 } });
  const address = await t.app.listen({ host: '127.0.0.1', port: 0 });
  port = Number(new URL(address).port);
});
afterAll(async () => {
  await t.close();
});

function openStream(headers: Record<string, string> = {}): Promise<{ req: ClientRequest; res: IncomingMessage; text: () => string }> {
  return new Promise((resolve, reject) => {
    let body = '';
    const req = request({ host: '127.0.0.1', port, path: '/events', headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      resolve({ req, res, text: () => body });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('GET /events', () => {
  it('streams text/event-stream with a retry hint, and host updates as they happen', async () => {
    const stream = await openStream();
    expect(stream.res.statusCode).toBe(200);
    expect(stream.res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(stream.res.headers['cache-control']).toBe('no-cache, no-transform');
    await expect.poll(() => stream.text()).toContain('retry: 2000');
    await t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname: 'pve-sse', mac: 'aa:bb:cc:dd:ee:55', server_type: 'minisforum-ms-01' } });
    await expect.poll(() => stream.text()).toMatch(/id: \d+\nevent: host\ndata: \{"hostId":\d+,"state":"registered","tile":"<article class=\\"tile tone-idle\\"/);
    stream.req.destroy();
  });

  it('serves 200 clients at once and forgets every one of them after they disconnect', async () => {
    const streams = await Promise.all(Array.from({ length: 200 }, () => openStream()));
    await expect.poll(() => t.hub.clientCount).toBe(200);
    await t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname: 'pve-many', mac: 'aa:bb:cc:dd:ee:56', server_type: 'minisforum-ms-01' } });
    await expect.poll(() => streams.every((s) => s.text().includes('pve-many')), { timeout: 10_000 }).toBe(true);
    for (const s of streams) s.req.destroy();
    await expect.poll(() => t.hub.clientCount).toBe(0);
    expect(t.hub.timersRunning).toBe(false);
  });

  it('replays missed updates from Last-Event-ID after a reconnect', async () => {
    const first = await openStream();
    await t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname: 'pve-replay', mac: 'aa:bb:cc:dd:ee:57', server_type: 'minisforum-ms-01' } });
    await expect.poll(() => first.text()).toContain('pve-replay');
    const lastId = [...first.text().matchAll(/^id: (\d+)$/gm)].at(-1)![1]!;
    first.req.destroy();
    const id = t.hosts.list().find((h) => h.hostname === 'pve-replay')!.id;
    t.hosts.transition(id, 'pxe_ready');
    await expect.poll(() => t.hub.clientCount).toBe(0);
    const second = await openStream({ 'last-event-id': lastId });
    await expect.poll(() => second.text()).toContain('"state":"pxe_ready"');
    second.req.destroy();
  });
});
