// Real: Fastify (inject), SQLite file, Temporal client.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/test-app';

const token = 'test-token-6f1c2d';
let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ apiToken: token });
});
afterAll(async () => {
  await t.close();
});

describe('operator API with server.api_token set', () => {
  it.each([
    ['GET', '/api/hosts'],
    ['GET', '/api/hosts/1'],
    ['POST', '/api/hosts'],
    ['DELETE', '/api/hosts/1'],
    ['POST', '/api/hosts/1/rebuild'],
    ['POST', '/api/hosts/1/rebuild/cancel'],
    ['GET', '/api/server-types'],
  ] as const)('answers %s %s without a token with 401', async (method, url) => {
    const res = await t.app.inject({ method, url, payload: method === 'POST' ? {} : undefined });
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe('unauthorized');
  });

  it('answers a wrong token with 401 and does not register anything', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/hosts',
      headers: { authorization: 'Bearer wrong' },
      payload: { hostname: 'pve-1', mac: 'aa:bb:cc:dd:ee:01', server_type: 'minisforum-ms-01' },
    });
    expect(res.statusCode).toBe(401);
    expect(res.json().error.message).toBe('invalid API token');
    expect(t.hosts.list()).toEqual([]);
  });

  it('accepts the right token', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/hosts',
      headers: { authorization: `Bearer ${token}` },
      payload: { hostname: 'pve-1', mac: 'aa:bb:cc:dd:ee:01', server_type: 'minisforum-ms-01' },
    });
    expect(res.statusCode).toBe(201);
    const list = await t.app.inject({ method: 'GET', url: '/api/hosts', headers: { authorization: `Bearer ${token}` } });
    expect(list.json().hosts).toHaveLength(1);
  });
});
