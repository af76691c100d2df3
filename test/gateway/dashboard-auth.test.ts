// Real: Fastify (inject), SQLite file. server.api_token is set, so the dashboard needs a login.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/test-app';

const token = 'dash-token-81f2';
let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ apiToken: token });
});
afterAll(async () => {
  await t.close();
});

async function login(): Promise<{ cookie: string; csrf: string }> {
  const res = await t.app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `token=${token}&next=%2Fhosts%2F1` });
  expect(res.statusCode).toBe(303);
  expect(res.headers.location).toBe('/hosts/1');
  const setCookie = String(res.headers['set-cookie']);
  expect(setCookie).toMatch(/^provisioning_session=\d+\.[\w-]+; HttpOnly; SameSite=Strict; Path=\/; Max-Age=43200$/);
  const cookie = setCookie.split(';')[0]!;
  const page = await t.app.inject({ method: 'GET', url: '/', headers: { cookie } });
  expect(page.statusCode).toBe(200);
  const csrf = /<meta name="csrf-token" content="([^"]+)">/.exec(page.body)![1]!;
  return { cookie, csrf };
}

describe('dashboard login with server.api_token set', () => {
  it('redirects pages to the login form and refuses the event stream without a session', async () => {
    const page = await t.app.inject({ method: 'GET', url: '/hosts/3?fragment=1' });
    expect(page.statusCode).toBe(303);
    expect(page.headers.location).toBe('/login?next=%2Fhosts%2F3%3Ffragment%3D1');
    expect((await t.app.inject({ method: 'GET', url: '/events' })).statusCode).toBe(401);
    const form = await t.app.inject({ method: 'GET', url: '/login' });
    expect(form.body).toContain('<input type="password" name="token"');
  });

  it('refuses a wrong token and sets no cookie', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'token=nope' });
    expect(res.statusCode).toBe(401);
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.body).toContain('That is not the API token.');
  });

  it('exchanges the token for an HttpOnly session cookie that opens the pages and the API reads', async () => {
    const { cookie } = await login();
    expect((await t.app.inject({ method: 'GET', url: '/api/hosts', headers: { cookie } })).statusCode).toBe(200);
  });

  it('rejects a cookie-authenticated change without the CSRF token, and accepts it with', async () => {
    const { cookie, csrf } = await login();
    const payload = { hostname: 'pve-csrf', mac: 'aa:bb:cc:dd:ee:77', server_type: 'minisforum-ms-01' };
    const forged = await t.app.inject({ method: 'POST', url: '/api/hosts', headers: { cookie }, payload });
    expect(forged.statusCode).toBe(403);
    expect(forged.json().error.code).toBe('csrf_token_invalid');
    expect(t.hosts.list()).toEqual([]);
    const wrong = await t.app.inject({ method: 'POST', url: '/api/hosts', headers: { cookie, 'x-csrf-token': 'x'.repeat(43) }, payload });
    expect(wrong.statusCode).toBe(403);
    const ok = await t.app.inject({ method: 'POST', url: '/api/hosts', headers: { cookie, 'x-csrf-token': csrf }, payload });
    expect(ok.statusCode).toBe(201);
  });

  it('rejects a forged session cookie', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/', headers: { cookie: `provisioning_session=${Date.now() + 1e6}.forged` } });
    expect(res.statusCode).toBe(303);
    const api = await t.app.inject({ method: 'GET', url: '/api/hosts', headers: { cookie: `provisioning_session=${Date.now() + 1e6}.forged` } });
    expect(api.statusCode).toBe(401);
  });

  it.each(['%2F%2Fevil.example%2F', '%2F%5Cevil.example', '%2F%09%2Fevil.example', 'https%3A%2F%2Fevil.example'])('never redirects to another site after login (next=%s)', async (next) => {
    const res = await t.app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `token=${token}&next=${next}` });
    expect(res.headers.location).toBe('/');
  });

  it('treats a malformed session cookie as no session', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/', headers: { cookie: 'provisioning_session=%E0%A4%A' } });
    expect(res.statusCode).toBe(303);
  });
});
