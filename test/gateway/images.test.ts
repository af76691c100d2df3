// Real: Fastify on a loopback listener, a 1 GiB sparse image file on disk.
import { closeSync, mkdirSync, openSync, truncateSync, writeSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/test-app';

const GiB = 1024 ** 3;
let t: TestApp;
let base: string;
const marks: Array<[number, string]> = [
  [0, 'START-OF-INITRD'],
  [512 * 1024 * 1024 - 3, 'MIDDLE'],
  [GiB - 12, 'END-OF-FILE!'],
];

beforeAll(async () => {
  t = await buildTestApp();
  const folder = join(t.images.dir, 'pve-9.1');
  mkdirSync(folder);
  writeFileSync(join(folder, 'vmlinuz'), 'kernel');
  writeFileSync(join(folder, 'proxmox-ve_9.1-auto-from-http.iso'), 'iso');
  const initrd = join(folder, 'initrd.img');
  writeFileSync(initrd, '');
  truncateSync(initrd, GiB);
  const fd = openSync(initrd, 'r+');
  for (const [offset, text] of marks) writeSync(fd, text, offset);
  closeSync(fd);
  base = await t.app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await t.close();
});

describe('GET /images/:name/:file', () => {
  it('answers HEAD with the full Content-Length and Range support', async () => {
    const res = await fetch(`${base}/images/pve-9.1/initrd.img`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(GiB));
    expect(res.headers.get('accept-ranges')).toBe('bytes');
  });

  it.each(marks)('serves the exact bytes of a Range at offset %i', async (offset, text) => {
    const end = offset + text.length - 1;
    const res = await fetch(`${base}/images/pve-9.1/initrd.img`, { headers: { range: `bytes=${offset}-${end}` } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes ${offset}-${end}/${GiB}`);
    expect(res.headers.get('content-length')).toBe(String(text.length));
    expect(Buffer.from(await res.arrayBuffer()).toString()).toBe(text);
  });

  it('serves every byte of a file larger than its read buffers, whole and as a Range across buffer boundaries', async () => {
    const MiB = 1024 * 1024;
    const content = randomBytes(5 * MiB + 123);
    writeFileSync(join(t.images.dir, 'pve-9.1', 'vmlinuz'), content);
    const whole = await fetch(`${base}/images/pve-9.1/vmlinuz`);
    expect(whole.status).toBe(200);
    expect(Buffer.from(await whole.arrayBuffer()).equals(content)).toBe(true);
    const [from, to] = [MiB - 7, 3 * MiB + 9];
    const part = await fetch(`${base}/images/pve-9.1/vmlinuz`, { headers: { range: `bytes=${from}-${to}` } });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer()).equals(content.subarray(from, to + 1))).toBe(true);
    writeFileSync(join(t.images.dir, 'pve-9.1', 'vmlinuz'), 'kernel');
  });

  it('serves an open-ended Range up to the end of the file', async () => {
    const res = await fetch(`${base}/images/pve-9.1/initrd.img`, { headers: { range: `bytes=${GiB - 12}-` } });
    expect(res.status).toBe(206);
    expect(Buffer.from(await res.arrayBuffer()).toString()).toBe('END-OF-FILE!');
  });

  it('answers an unsatisfiable Range with 416', async () => {
    const res = await fetch(`${base}/images/pve-9.1/initrd.img`, { headers: { range: `bytes=${GiB}-${GiB + 10}` } });
    expect(res.status).toBe(416);
  });

});

/** Sends `path` byte for byte (fetch and app.inject resolve `..` and `%2E%2E` segments before sending). */
function rawRequest(method: 'GET' | 'HEAD', path: string): Promise<{ status: number; body: Buffer }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('GET /images/:name/:file with a path outside the images folder', () => {
  // Bytes just outside the images folder, where each traversal below would land if the handler joined the
  // request's name and file onto the folder: <data>/vmlinuz and a complete image folder <data>/outside/.
  const secret = `SECRET-OUTSIDE-THE-IMAGES-FOLDER-${randomBytes(8).toString('hex')}`;
  beforeAll(() => {
    writeFileSync(join(t.dir, 'vmlinuz'), secret);
    mkdirSync(join(t.dir, 'outside'));
    for (const f of ['vmlinuz', 'initrd.img', 'outside.iso']) writeFileSync(join(t.dir, 'outside', f), secret);
  });

  // Each path reaches this route's handler (the router decodes %2F inside a segment and leaves `..` alone),
  // which answers with its own 404, naming the decoded image and file: proof it was asked and said no.
  it.each([
    ['/images/../vmlinuz', '..', 'vmlinuz'],
    ['/images/%2E%2E/vmlinuz', '..', 'vmlinuz'],
    ['/images/..%2Foutside/vmlinuz', '../outside', 'vmlinuz'],
    ['/images/pve-9.1%2F..%2F..%2Foutside/vmlinuz', 'pve-9.1/../../outside', 'vmlinuz'],
    ['/images/pve-9.1/..%2F..%2Fvmlinuz', 'pve-9.1', '../../vmlinuz'],
    ['/images/pve-9.1/..%2F..%2Foutside%2Fvmlinuz', 'pve-9.1', '../../outside/vmlinuz'],
    ['/images/pve-9.1/..%2F..%2Fprovisioning.db', 'pve-9.1', '../../provisioning.db'],
  ])('refuses %s with 404 and serves none of its bytes', async (path, name, file) => {
    for (const method of ['GET', 'HEAD'] as const) {
      const res = await rawRequest(method, path);
      expect(res.status).toBe(404);
      if (method === 'HEAD') continue;
      expect(JSON.parse(res.body.toString())).toEqual({ error: { code: 'not_found', message: `no file ${file} in boot image ${name}` } });
      expect(res.body.toString()).not.toContain(secret);
      expect(res.body.toString()).not.toContain('SQLite format 3');
    }
  });

  it('serves the listed image beside them, so the refusals are about the path', async () => {
    const res = await rawRequest('GET', '/images/pve-9.1/proxmox-ve_9.1-auto-from-http.iso');
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('iso');
  });
});

describe('GET /images/:name/:file Range edge cases', () => {
  // A file of its own (the 1 GiB one is too big to receive whole): 1,000 bytes, each one different from its neighbours.
  const content = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
  let r: TestApp;
  let url: string;
  beforeAll(async () => {
    r = await buildTestApp();
    const folder = join(r.images.dir, 'pve-9.1');
    mkdirSync(folder);
    writeFileSync(join(folder, 'vmlinuz'), content);
    writeFileSync(join(folder, 'initrd.img'), 'initrd');
    writeFileSync(join(folder, 'proxmox-ve_9.1-auto-from-http.iso'), 'iso');
    url = `${await r.app.listen({ host: '127.0.0.1', port: 0 })}/images/pve-9.1/vmlinuz`;
  });
  afterAll(async () => {
    await r.close();
  });

  it.each([
    ['bytes=-500', 500, 999], // suffix: the last 500 bytes
    ['bytes=-5000', 0, 999], // suffix longer than the file: all of it
    ['bytes=990-5000', 990, 999], // end past the end: clamped to the last byte
    ['bytes=0-99999999999999999999', 0, 999],
    ['bytes=999-', 999, 999],
    ['bytes=0-0', 0, 0],
  ])('answers %s with 206 and bytes %i-%i', async (range, start, end) => {
    const res = await fetch(url, { headers: { range } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/1000`);
    expect(res.headers.get('content-length')).toBe(String(end - start + 1));
    expect(Buffer.from(await res.arrayBuffer()).equals(content.subarray(start, end + 1))).toBe(true);
  });

  it.each([
    'bytes=1000-', // starts at the end
    'bytes=1000-1005',
    'bytes=5000-6000',
    'bytes=-0', // an empty suffix (RFC 9110 §14.1.3)
    'bytes=5-2', // last before first: invalid, which RFC 9110 §14.2 lets a server reject
  ])('answers %s with 416, the size in Content-Range and no file bytes', async (range) => {
    const res = await fetch(url, { headers: { range } });
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe('bytes */1000');
    expect(await res.json()).toEqual({ error: { code: 'range_not_satisfiable', message: 'the file has 1000 bytes' } });
  });

  // Only single ranges are served: multiple ranges (multipart/byteranges) and malformed headers are ignored and
  // the whole file is sent, as RFC 9110 §14.2 allows ("A server MAY ignore the Range header field"). iPXE and
  // the installer ask for one range at most.
  it.each(['bytes=0-1,5-6', 'bytes=0-1, 5-6', 'bytes=abc', 'bytes=1-2-3', 'bytes=-', 'bytes 0-1', '0-1', 'items=0-1', 'bytes=0x10-20'])(
    'answers %s with 200 and the whole file',
    async (range) => {
      const res = await fetch(url, { headers: { range } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-range')).toBeNull();
      expect(res.headers.get('content-length')).toBe('1000');
      expect(Buffer.from(await res.arrayBuffer()).equals(content)).toBe(true);
    },
  );

  it('answers HEAD with a Range like GET, without a body', async () => {
    const res = await fetch(url, { method: 'HEAD', headers: { range: 'bytes=-500' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe('bytes 500-999/1000');
    expect(res.headers.get('content-length')).toBe('500');
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });
});

describe('GET /api/images', () => {
  it('lists complete images with their download URLs and sizes', async () => {
    mkdirSync(join(t.images.dir, 'incomplete')); // no kernel: not listed
    const res = await t.app.inject({ method: 'GET', url: '/api/images' });
    expect(res.statusCode).toBe(200);
    expect(res.json().images).toEqual([
      {
        name: 'pve-9.1',
        kernel_url: 'http://127.0.0.1:8080/images/pve-9.1/vmlinuz',
        initrd_url: 'http://127.0.0.1:8080/images/pve-9.1/initrd.img',
        iso_url: 'http://127.0.0.1:8080/images/pve-9.1/proxmox-ve_9.1-auto-from-http.iso',
        sizes: { kernel: 6, initrd: GiB, iso: 3 },
        size: 6 + GiB + 3,
        modified_at: expect.any(String),
        // made by hand: nothing recorded about what it was prepared from or for
        prepared: false,
        product: null,
        release: null,
        isorelease: null,
        source: null,
        prepared_at: null,
        answer_url: null,
        cert_fingerprint: null,
        answer_token: false,
        stale: null,
        stale_reasons: [],
      },
    ]);
  });
});
