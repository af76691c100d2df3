// Real: Fastify (inject), SQLite file, Temporal client. Nothing faked.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/database';
import { HostStore } from '../../src/store/host-store';
import { join } from 'node:path';
import { buildTestApp, type TestApp } from '../helpers/test-app';
import { tempDir } from '../helpers/temp-dir';

let t: TestApp;
beforeEach(async () => {
  t = await buildTestApp();
});
afterEach(async () => {
  await t.close();
});

const register = (body: Record<string, unknown>) => t.app.inject({ method: 'POST', url: '/api/hosts', payload: body });
const valid = { hostname: 'pve-ms-03', mac: 'aa:bb:cc:dd:ee:03', server_type: 'minisforum-ms-01' };

describe('POST /api/hosts', () => {
  it('registers a host in state registered and returns it with 201', async () => {
    const res = await register(valid);
    expect(res.statusCode).toBe(201);
    const host = res.json();
    expect(host).toMatchObject({ hostname: 'pve-ms-03', mac: 'aa:bb:cc:dd:ee:03', server_type: 'minisforum-ms-01', state: 'registered', ip_address: null });
    expect(host.id).toBeGreaterThan(0);
    const listed = await t.app.inject({ method: 'GET', url: '/api/hosts' });
    expect(listed.json().hosts.map((h: { id: number }) => h.id)).toEqual([host.id]);
  });

  it.each([
    ['aa:bb:cc:dd:ee:ff', 'aa:bb:cc:dd:ee:ff'],
    ['AA-BB-CC-DD-EE-FF', 'aa:bb:cc:dd:ee:ff'],
    ['aabb.ccdd.eeff', 'aa:bb:cc:dd:ee:ff'],
    ['AABBCCDDEEFF', 'aa:bb:cc:dd:ee:ff'],
  ])('stores MAC %s as %s', async (mac, stored) => {
    const res = await register({ ...valid, mac });
    expect(res.statusCode).toBe(201);
    expect(res.json().mac).toBe(stored);
  });

  it.each([
    [{ ...valid, mac: 'aa:bb:cc:dd:ee' }, 'mac'],
    [{ ...valid, mac: 'zz:bb:cc:dd:ee:ff' }, 'mac'],
    [{ ...valid, hostname: 'PVE_01' }, 'hostname'],
    [{ ...valid, hostname: '-pve' }, 'hostname'],
    [{ ...valid, hostname: 'a'.repeat(64) }, 'hostname'],
    [{ ...valid, hostname: 'pve.lab' }, 'hostname'],
    [{ hostname: 'pve-1', mac: 'aa:bb:cc:dd:ee:ff' }, 'server_type'],
    [{ ...valid, mac: 42 }, 'mac'],
    [{ ...valid, extra: true }, 'extra'],
  ])('rejects %j with 400 naming field %s', async (body, field) => {
    const res = await register(body);
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'invalid_request', field });
    expect(res.json().error.message).toEqual(expect.any(String));
  });

  it('rejects an unknown server type with 400 naming it and the known ones', async () => {
    const res = await register({ ...valid, server_type: 'dell-r730' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toEqual({
      code: 'invalid_request',
      field: 'server_type',
      message: 'server_type: unknown server type "dell-r730"; known: minisforum-ms-01, minisforum-um790',
    });
  });

  it('rejects a duplicate MAC in another notation with 409 duplicate_mac', async () => {
    expect((await register(valid)).statusCode).toBe(201);
    const res = await register({ ...valid, hostname: 'pve-ms-04', mac: 'AA-BB-CC-DD-EE-03' });
    expect(res.statusCode).toBe(409);
    expect(res.json().error).toMatchObject({ code: 'duplicate_mac', field: 'mac' });
  });

  it('rejects a duplicate hostname with 409 duplicate_hostname', async () => {
    expect((await register(valid)).statusCode).toBe(201);
    const res = await register({ ...valid, mac: 'aa:bb:cc:dd:ee:04' });
    expect(res.statusCode).toBe(409);
    expect(res.json().error).toMatchObject({ code: 'duplicate_hostname', field: 'hostname' });
  });

  it('answers malformed JSON with 400, never 500', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/hosts', headers: { 'content-type': 'application/json' }, payload: '{"hostname": ' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('invalid_request');
  });

  it('answers a non-JSON body with 415', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/hosts', headers: { 'content-type': 'text/plain' }, payload: 'hello' });
    expect(res.statusCode).toBe(415);
    expect(res.json().error.code).toBe('unsupported_media_type');
  });

  it('answers an oversized body with 413', async () => {
    const res = await register({ ...valid, hostname: 'x'.repeat(2 * 1024 * 1024) });
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe('payload_too_large');
  });
});

describe('GET /api/hosts/:id', () => {
  it('returns the host with no operations yet', async () => {
    const id = (await register(valid)).json().id;
    const res = await t.app.inject({ method: 'GET', url: `/api/hosts/${id}` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id, hostname: 'pve-ms-03', current_operation: null, operations: [] });
  });

  it('answers an unknown id with 404 host_not_found', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/hosts/999' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toEqual({ code: 'host_not_found', message: 'no host with id 999' });
  });

  it('answers a non-numeric id with 400 naming the id', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/hosts/abc' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'invalid_request', field: 'id' });
  });
});

describe('DELETE /api/hosts/:id', () => {
  it('removes the host (204) so it is gone from the list and by id', async () => {
    const id = (await register(valid)).json().id;
    const res = await t.app.inject({ method: 'DELETE', url: `/api/hosts/${id}` });
    expect(res.statusCode).toBe(204);
    expect((await t.app.inject({ method: 'GET', url: `/api/hosts/${id}` })).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'GET', url: '/api/hosts' })).json().hosts).toEqual([]);
  });

  it('answers an unknown id with 404', async () => {
    const res = await t.app.inject({ method: 'DELETE', url: '/api/hosts/41' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('host_not_found');
  });

  it('refuses to delete a host in the middle of a rebuild with 409 host_busy', async () => {
    const id = (await register(valid)).json().id;
    t.hosts.transition(id, 'pxe_ready');
    const res = await t.app.inject({ method: 'DELETE', url: `/api/hosts/${id}` });
    expect(res.statusCode).toBe(409);
    expect(res.json().error.code).toBe('host_busy');
    expect(t.hosts.find(id)).toBeDefined();
  });
});

describe('persistence', () => {
  it('keeps registered hosts across a restart: close everything, reopen the database file', async () => {
    const dir = tempDir();
    const dbPath = join(dir.path, 'provisioning.db');
    try {
      const first = await buildTestApp({ dbPath });
      const created = (await first.app.inject({ method: 'POST', url: '/api/hosts', payload: valid })).json();
      await first.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname: 'pve-um-01', mac: 'aabbccddee01', server_type: 'minisforum-um790' } });
      await first.close();

      const reopened = openDatabase(dbPath);
      const hosts = new HostStore(reopened).list();
      reopened.close();
      expect(hosts.map((h) => [h.hostname, h.mac, h.serverType, h.state])).toEqual([
        ['pve-ms-03', 'aa:bb:cc:dd:ee:03', 'minisforum-ms-01', 'registered'],
        ['pve-um-01', 'aa:bb:cc:dd:ee:01', 'minisforum-um790', 'registered'],
      ]);
      expect(hosts[0]!.id).toBe(created.id);
    } finally {
      dir.remove();
    }
  });
});

describe('GET /api/server-types', () => {
  it('lists the server types from the file, sorted by key', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/server-types' });
    expect(res.statusCode).toBe(200);
    expect(res.json().server_types).toEqual([
      { key: 'minisforum-ms-01', display_name: 'Minisforum MS-01', boot_disk: ['/dev/nvme0n1'], management_nic: 'enp2s0', gpu: false, hostname_prefix: 'pve-ms', filesystem: 'zfs', raid: 'raid0', image: null },
      { key: 'minisforum-um790', display_name: 'Minisforum UM790 Pro', boot_disk: ['/dev/nvme0n1'], management_nic: 'enp1s0', gpu: true, hostname_prefix: 'pve-um', filesystem: 'ext4', raid: null, image: null },
    ]);
  });
});

describe('unknown routes', () => {
  it('answers with 404 in the error envelope', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('not_found');
  });
});

describe('OpenAPI', () => {
  it('serves a document generated from the route schemas', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/hosts', '/api/hosts/{id}', '/api/hosts/{id}/rebuild', '/api/server-types']));
    expect(doc.paths['/api/hosts'].post.requestBody.content['application/json'].schema.required).toEqual(['hostname', 'mac', 'server_type']);
  });
});
