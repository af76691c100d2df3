// Real: Fastify (inject), SQLite file, Temporal client.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rebuildStartedHere } from '../helpers/started-here';
import { buildTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ rebuildBlockers: () => ['proxmox.join_fingerprint', 'proxmox.join_password (or PROVISIONING_JOIN_PASSWORD)'] });
});
afterAll(async () => {
  await t.close();
});

describe('POST /api/hosts/:id/rebuild without the join settings', () => {
  it('refuses with 409 not_configured naming the empty settings, and starts no workflow', async () => {
    const id = (await t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname: 'pve-1', mac: 'aa:bb:cc:dd:ee:01', server_type: 'minisforum-ms-01' } })).json().id;
    const res = await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild` });
    expect(res.statusCode).toBe(409);
    expect(res.json().error).toEqual({
      code: 'not_configured',
      message: 'a rebuild needs what is missing here: proxmox.join_fingerprint, proxmox.join_password (or PROVISIONING_JOIN_PASSWORD) (the Setup page, /setup, says how to set each)',
    });
    expect(await rebuildStartedHere(t, id)).toBe(false);
    expect(t.hosts.get(id).state).toBe('registered');
  });
});
