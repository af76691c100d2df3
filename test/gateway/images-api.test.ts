// The images API: preparing from a URL or an upload (jobs), refusals, deletion. Real: Fastify, SQLite, an HTTP
// server on loopback serving the ISO (or failing to), the files on disk.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Resources } from '../helpers/release';
import { prepareImage } from '../../src/images/iso-preparer';
import { buildSyntheticIso, isoFileText } from '../helpers/synthetic-iso';
import { tempDir } from '../helpers/temp-dir';
import { buildTestApp, type TestApp } from '../helpers/test-app';

const resources = new Resources();
afterEach(() => resources.releaseAll());

let t: TestApp;
async function setup(): Promise<void> {
  t = resources.add(await buildTestApp(), (a) => a.close());
}

/** A loopback HTTP server answering each path as `routes` says. */
async function isoServer(routes: Record<string, (res: ServerResponse) => void>): Promise<string> {
  const server: Server = createServer((req, res) => (routes[req.url ?? ''] ?? ((r) => r.writeHead(404).end('no such file')))(res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  resources.add(server, (s) => new Promise<void>((r) => s.close(() => r())));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

function fakeImage(name: string): void {
  mkdirSync(join(t.images.dir, name));
  for (const f of ['vmlinuz', 'initrd.img', 'proxmox-ve_9.1-auto-from-http.iso']) writeFileSync(join(t.images.dir, name, f), f);
}

const post = (payload: unknown) => t.app.inject({ method: 'POST', url: '/api/images', payload: payload as Record<string, unknown> });

describe('POST /api/images', () => {
  it('refuses bad input with 400 naming the field, and an existing name with 409', async () => {
    await setup();
    fakeImage('pve-9.1-1');
    const cases: Array<[unknown, string, string]> = [
      [{}, 'url', 'url is required: where to download the stock Proxmox VE ISO'],
      [{ url: 'not a url' }, 'url', 'not a URL: "not a url"'],
      [{ url: 'ftp://example.org/a.iso' }, 'url', 'url must be http:// or https://'],
      [{ url: 'http://127.0.0.1/download' }, 'name', 'no image name can be taken from "download"; give one as name'],
      [{ url: 'http://127.0.0.1/a.iso', name: '../etc' }, 'name', 'name: letters, digits, ".", "_" and "-", starting with a letter or digit, at most 64'],
      [{ url: 'http://127.0.0.1/a.iso', sha256: 'abc' }, 'sha256', 'sha256: 64 hexadecimal digits (a line of Proxmox’s SHA256SUMS)'],
      [{ url: 'http://127.0.0.1/a.iso', extra: 1 }, 'extra', 'unknown field extra; expected url, sha256, name'],
    ];
    for (const [payload, field, message] of cases) {
      const res = await post(payload);
      expect({ status: res.statusCode, body: res.json() }).toEqual({ status: 400, body: { error: { code: 'invalid_request', message, field } } });
    }
    const taken = await post({ url: 'http://127.0.0.1/proxmox-ve_9.1-1.iso' });
    expect(taken.statusCode).toBe(409);
    expect(taken.json().error).toEqual({ code: 'image_exists', message: 'image pve-9.1-1 exists already; delete it first or pick another name', field: 'name' });
    expect(readdirSync(t.images.dir)).toEqual(['pve-9.1-1']);
  });

  it('fails the job with download_failed when the server answers 404, leaving nothing behind', async () => {
    await setup();
    const base = await isoServer({});
    const res = await post({ url: `${base}/proxmox-ve_9.1-1.iso` });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ job: { name: 'pve-9.1-1', state: 'downloading', source: `${base}/proxmox-ve_9.1-1.iso` }, status_url: '/api/images/pve-9.1-1' });
    const job = await t.imageJobs.settled(res.json().job.id);
    expect(job).toMatchObject({ state: 'failed', error: { code: 'download_failed', message: `${base}/proxmox-ve_9.1-1.iso answered 404 Not Found` } });
    const shown = await t.app.inject({ method: 'GET', url: '/api/images/pve-9.1-1' });
    expect(shown.json()).toMatchObject({ image: null, job: { state: 'failed', error: { code: 'download_failed' } } });
    expect(readdirSync(join(t.images.dir, '.downloads'))).toEqual([]);
  });

  it('fails with checksum_mismatch when the download is not the ISO the SHA-256 names', async () => {
    await setup();
    const bytes = Buffer.from('not the ISO you were looking for');
    const base = await isoServer({ '/proxmox-ve_9.1-1.iso': (r) => r.writeHead(200, { 'content-length': bytes.length }).end(bytes) });
    const expected = 'a'.repeat(64);
    const res = await post({ url: `${base}/proxmox-ve_9.1-1.iso`, sha256: expected.toUpperCase() });
    const job = await t.imageJobs.settled(res.json().job.id);
    const actual = createHash('sha256').update(bytes).digest('hex');
    expect(job).toMatchObject({
      state: 'failed',
      bytesDone: bytes.length,
      bytesTotal: bytes.length,
      sha256: actual,
      error: { code: 'checksum_mismatch', message: `the ISO's SHA-256 is ${actual}, not the ${expected} given: a damaged or different download` },
    });
    expect(readdirSync(join(t.images.dir, '.downloads'))).toEqual([]);
  });

  it('fails with download_timeout when the server stops sending, and with download_failed when the body is cut short', async () => {
    await setup();
    const base = await isoServer({
      '/stalls.iso': (r) => r.writeHead(200, { 'content-length': 1000 }).write(Buffer.alloc(100)), // then nothing
      '/short.iso': (r) => {
        r.writeHead(200, { 'content-length': 1000 }).write(Buffer.alloc(100));
        setImmediate(() => r.destroy());
      },
    });
    const [stalls, short] = await Promise.all([post({ url: `${base}/stalls.iso`, name: 'stalls' }), post({ url: `${base}/short.iso`, name: 'short' })]);
    // The stalled download would wait a minute: the test's jobs give up after 300 ms of silence.
    expect(stalls.statusCode).toBe(202);
    const [a, b] = await Promise.all([t.imageJobs.settled(stalls.json().job.id), t.imageJobs.settled(short.json().job.id)]);
    expect(a?.error).toEqual({ code: 'download_timeout', message: `127.0.0.1:${new URL(base).port} sent nothing for 0.3 s; the download was given up` });
    expect(b?.error?.code).toBe('download_failed');
    expect(b?.error?.message).toMatch(/^the ISO could not be received after 100 bytes/);
    expect(readdirSync(join(t.images.dir, '.downloads'))).toEqual([]);
  });

  it('fails with disk_full when the images folder runs out of space, removing the partial download', async () => {
    await setup();
    // A 256 KiB tmpfs over the images folder: a real ENOSPC (root only, as the suite runs in CI).
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', t.images.dir]);
    resources.add(t.images.dir, async (dir) => void execFileSync('umount', [dir]));
    const big = Buffer.alloc(1024 * 1024, 7);
    const base = await isoServer({ '/proxmox-ve_9.1-1.iso': (r) => r.writeHead(200, { 'content-length': big.length }).end(big) });
    const job = await t.imageJobs.settled((await post({ url: `${base}/proxmox-ve_9.1-1.iso` })).json().job.id);
    expect(job?.error?.code).toBe('disk_full');
    expect(job?.error?.message).toMatch(new RegExp(`^no space left in ${t.images.dir} for the ISO \\(\\d+ bytes written\\)$`));
    expect(readdirSync(join(t.images.dir, '.downloads'))).toEqual([]);
  });

  it('refuses a second preparation of the same name while one runs', async () => {
    await setup();
    const base = await isoServer({ '/proxmox-ve_9.1-1.iso': (r) => r.writeHead(200, { 'content-length': 10 }).write('12345') });
    const first = await post({ url: `${base}/proxmox-ve_9.1-1.iso` });
    expect(first.statusCode).toBe(202);
    const second = await post({ url: `${base}/proxmox-ve_9.1-1.iso` });
    expect(second.statusCode).toBe(409);
    expect(second.json().error).toEqual({ code: 'already_preparing', message: 'image pve-9.1-1 is being prepared already; wait for it or pick another name', field: 'name' });
  });
});

describe('preparing for real', () => {
  it('downloads a stock ISO, prepares it, and lists the image; an upload of the same ISO under another name too', async () => {
    await setup();
    const work = resources.add(tempDir(), async (d) => d.remove());
    const iso = buildSyntheticIso(work.path);
    const bytes = readFileSync(iso.path);
    const base = await isoServer({ '/proxmox-ve_9.1-1.iso': (r) => r.writeHead(200, { 'content-length': bytes.length }).end(bytes) });
    const started = await post({ url: `${base}/proxmox-ve_9.1-1.iso`, sha256: iso.sha256 });
    expect(started.statusCode).toBe(202);
    const job = await t.imageJobs.settled(started.json().job.id);
    expect(job).toMatchObject({ name: 'pve-9.1-1', state: 'ready', sha256: iso.sha256, error: null });
    const shown = (await t.app.inject({ method: 'GET', url: '/api/images/pve-9.1-1' })).json();
    expect(shown.image).toMatchObject({ name: 'pve-9.1-1', kernel_url: 'http://127.0.0.1:8080/images/pve-9.1-1/vmlinuz' });
    expect(readFileSync(join(t.images.dir, 'pve-9.1-1', 'vmlinuz'))).toEqual(readFileSync(iso.kernel));
    expect(readdirSync(join(t.images.dir, '.downloads'))).toEqual([]); // the source ISO is not kept
    expect(shown.image.source).toEqual({ file: 'proxmox-ve_9.1-1.iso', size: iso.size, sha256: iso.sha256 }); // its own name, not the download's

    const upload = await t.app.inject({ method: 'POST', url: '/api/images?name=uploaded&filename=proxmox-ve_9.1-1.iso', headers: { 'content-type': 'application/octet-stream' }, payload: bytes });
    expect(upload.statusCode).toBe(202);
    expect((await t.imageJobs.settled(upload.json().job.id))?.state).toBe('ready');
    expect((await t.app.inject({ method: 'GET', url: '/api/images/uploaded' })).json().image.source.file).toBe('proxmox-ve_9.1-1.iso');
    const listed = (await t.app.inject({ method: 'GET', url: '/api/images' })).json();
    expect(listed.images.map((i: { name: string }) => i.name)).toEqual(['pve-9.1-1', 'uploaded']);
  }, 60_000);

  it('prepares an 8.3 ISO and says in its job (API and page) that its installer rejects our answer files', async () => {
    await setup();
    const work = resources.add(tempDir(), async (d) => d.remove());
    const iso = buildSyntheticIso(work.path, { release: '8.3', file: 'proxmox-ve_8.3-1.iso' });
    const upload = await t.app.inject({ method: 'POST', url: '/api/images?filename=proxmox-ve_8.3-1.iso', headers: { 'content-type': 'application/octet-stream' }, payload: readFileSync(iso.path) });
    const note = 'Proxmox VE 8.3-1 installs, but its installer rejects the answer files this service writes (kebab-case keys of Proxmox VE 8.4 and newer): use an 8.4 or newer ISO';
    expect(await t.imageJobs.settled(upload.json().job.id)).toMatchObject({ state: 'ready', notes: [note] });
    expect((await t.app.inject({ method: 'GET', url: '/api/images/pve-8.3-1' })).json().job.notes).toEqual([note]);
    expect((await t.app.inject({ method: 'GET', url: '/images' })).body).toContain(`<p class="job-note">Note: ${note}</p>`);
  }, 60_000);

  it('fails a non-Proxmox ISO with the preparer\u2019s own code and leaves no image', async () => {
    await setup();
    const work = resources.add(tempDir(), async (d) => d.remove());
    const iso = buildSyntheticIso(work.path, { proxmox: false, file: 'debian.iso' });
    const upload = await t.app.inject({ method: 'POST', url: '/api/images?name=debian', headers: { 'content-type': 'application/octet-stream' }, payload: readFileSync(iso.path) });
    const job = await t.imageJobs.settled(upload.json().job.id);
    expect(job).toMatchObject({ state: 'failed', error: { code: 'not_proxmox' } });
    expect(readdirSync(t.images.dir).filter((f) => !f.startsWith('.'))).toEqual([]);
  }, 60_000);
});

describe('DELETE /api/images/{name}', () => {
  it('deletes an image no rebuild uses, refuses one a running rebuild boots, and answers 404 for none', async () => {
    await setup();
    fakeImage('pve-8.4-1');
    fakeImage('pve-9.1-1');
    const id: number = (await t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname: 'pve-ms-03', mac: 'aa:bb:cc:dd:ee:03', server_type: 'minisforum-ms-01' } })).json().id;
    t.hosts.transition(id, 'pxe_ready'); // the server type pins no image: it boots the newest, pve-9.1-1

    const inUse = await t.app.inject({ method: 'DELETE', url: '/api/images/pve-9.1-1' });
    expect(inUse.statusCode).toBe(409);
    expect(inUse.json().error).toEqual({ code: 'image_in_use', message: 'image pve-9.1-1 is booted by the running rebuild of pve-ms-03; delete it once that rebuild ends' });
    expect(existsSync(join(t.images.dir, 'pve-9.1-1', 'vmlinuz'))).toBe(true);

    // Once served an older image, the rebuild keeps that one busy instead (its answer token is checked against it).
    const operation = t.operations.ensure(id, 'rebuild-host-x', 'run-x');
    t.operations.append({ hostId: id, operationId: operation.id, kind: 'installer_served', message: 'served the installer of image pve-8.4-1', details: { image: 'pve-8.4-1' } });
    expect((await t.app.inject({ method: 'DELETE', url: '/api/images/pve-8.4-1' })).json().error.code).toBe('image_in_use');
    t.operations.append({ hostId: id, operationId: operation.id, kind: 'installer_served', message: 'served the installer of image pve-9.1-1', details: { image: 'pve-9.1-1' } });

    expect((await t.app.inject({ method: 'DELETE', url: '/api/images/pve-8.4-1' })).statusCode).toBe(204);
    expect(readdirSync(t.images.dir)).toEqual(['pve-9.1-1']);
    const missing = await t.app.inject({ method: 'DELETE', url: '/api/images/pve-8.4-1' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('image_not_found');
  });
});

describe('stale images', () => {
  it('flags an image prepared for another answer URL in GET /api/images and /readyz, and prepares it again on request', async () => {
    await setup();
    const work = resources.add(tempDir(), async (d) => d.remove());
    const iso = buildSyntheticIso(work.path, { release: '9.2', file: 'proxmox-ve_9.2-1.iso' });
    // Prepared while server.public_url was another address; the gateway answers at http://127.0.0.1:8080 now.
    await prepareImage({ iso: iso.path, imagesDir: t.images.dir, answerUrl: 'http://192.0.2.99:8080/api/boot/answer', token: 'provisioning:old-secret' });
    fakeImage('by-hand');
    t.images.invalidate();
    const listed = (await t.app.inject({ method: 'GET', url: '/api/images' })).json();
    const byName = Object.fromEntries(listed.images.map((i: { name: string }) => [i.name, i]));
    expect(byName['pve-9.2-1']).toMatchObject({
      prepared: true,
      product: 'Proxmox VE',
      release: '9.2',
      source: { file: 'proxmox-ve_9.2-1.iso', sha256: iso.sha256 },
      answer_url: 'http://192.0.2.99:8080/api/boot/answer',
      answer_token: true,
      stale: true,
      stale_reasons: ['its installer asks http://192.0.2.99:8080/api/boot/answer for the answer, but answers are now at http://127.0.0.1:8080/api/boot/answer'],
    });
    expect(byName['by-hand']).toMatchObject({ prepared: false, stale: null, stale_reasons: [], answer_url: null });
    const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.json().warnings).toEqual({
      images: "boot image pve-9.2-1 was prepared for another answer URL or certificate than the boot API's now: prepare it again (the Images page, or POST /api/images/{name}/reprepare)",
    });

    const page = (await t.app.inject({ method: 'GET', url: '/images' })).body;
    expect(page).toContain('Image <strong>pve-9.2-1</strong> was prepared for another answer URL or certificate');
    expect(page).toContain('<button type="button" data-action="reprepare-stale" data-images="pve-9.2-1">Prepare it again</button>');
    expect(page).toContain('<button type="button" data-action="reprepare-image" data-image="pve-9.2-1">Prepare again</button>');
    expect(page).toContain('<strong>Stale:</strong> its installer asks http://192.0.2.99:8080/api/boot/answer for the answer');

    const handMade = await t.app.inject({ method: 'POST', url: '/api/images/by-hand/reprepare' });
    expect({ status: handMade.statusCode, code: handMade.json().error.code }).toEqual({ status: 409, code: 'not_prepared_here' });
    expect((await t.app.inject({ method: 'POST', url: '/api/images/pve-0/reprepare' })).statusCode).toBe(404);

    const started = await t.app.inject({ method: 'POST', url: '/api/images/pve-9.2-1/reprepare' });
    expect(started.statusCode).toBe(202);
    expect(started.json().job).toMatchObject({ name: 'pve-9.2-1', state: 'preparing', source: 're-preparation of pve-9.2-1' });
    expect(await t.imageJobs.settled(started.json().job.id)).toMatchObject({ state: 'ready', error: null });
    const after = (await t.app.inject({ method: 'GET', url: '/api/images/pve-9.2-1' })).json();
    expect(after.image).toMatchObject({ answer_url: 'http://127.0.0.1:8080/api/boot/answer', stale: false, stale_reasons: [], answer_token: true });
    const mode = isoFileText(join(t.images.dir, 'pve-9.2-1', 'proxmox-ve_9.2-1-auto-from-http.iso'), '/auto-installer-mode.toml');
    expect(mode).toBe('mode = "http"\n\n[http]\nurl = "http://127.0.0.1:8080/api/boot/answer"\ntoken = "provisioning:old-secret"\n');
    expect((await t.app.inject({ method: 'GET', url: '/readyz' })).json().warnings).toBeUndefined();
    const again = (await t.app.inject({ method: 'GET', url: '/images' })).body;
    expect(again).not.toContain('stale-banner');
    expect(again).toContain('data-image="pve-9.2-1" data-stale="no"');
  }, 60_000);

  it('refuses to prepare again an image a running rebuild boots', async () => {
    await setup();
    const work = resources.add(tempDir(), async (d) => d.remove());
    const iso = buildSyntheticIso(work.path);
    await prepareImage({ iso: iso.path, imagesDir: t.images.dir, answerUrl: 'http://192.0.2.99:8080/api/boot/answer' });
    t.images.invalidate();
    const id: number = (await t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname: 'pve-ms-03', mac: 'aa:bb:cc:dd:ee:03', server_type: 'minisforum-ms-01' } })).json().id;
    t.hosts.transition(id, 'pxe_ready');
    const res = await t.app.inject({ method: 'POST', url: '/api/images/pve-9.1-1/reprepare' });
    expect(res.statusCode).toBe(409);
    expect(res.json().error).toEqual({ code: 'image_in_use', message: 'image pve-9.1-1 is booted by the running rebuild of pve-ms-03; prepare it again once that rebuild ends' });
  }, 60_000);
});
