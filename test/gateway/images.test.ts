// Real: Fastify on a loopback listener, a 1 GiB sparse image file on disk.
import { closeSync, mkdirSync, openSync, truncateSync, writeSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
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

  it('refuses paths outside the images directory', async () => {
    const res = await fetch(`${base}/images/..%2f..%2fprovisioning.db`);
    expect([403, 404]).toContain(res.status);
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
        modified_at: expect.any(String),
      },
    ]);
  });
});
