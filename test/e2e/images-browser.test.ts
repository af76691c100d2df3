/// <reference lib="dom" />
// The Images and Setup pages in a real browser (Debian's Chromium via playwright-core) against the real gateway on a
// loopback listener, preparing synthetic Proxmox-like ISOs (xorriso, zstd) served by a loopback HTTP server. An
// operator prepares an image from a URL and watches its progress bar move (no reload) until the page reloads with the
// image; bad input shows the API's message or a failed job; a stale image is prepared again; an image is deleted; the
// Setup page turns its boot image item green by itself. Real: Fastify, SQLite, Temporal client, the preparer, the
// files on disk. No worker: these pages need none. Screenshots land in test-artifacts/.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config';
import { checkSetup, type SetupItem } from '../../src/config/setup-checks';
import { prepareImage } from '../../src/images/iso-preparer';
import { freePort } from '../setup/temporal-dev-server';
import { launchBrowser } from '../helpers/browser';
import { Resources } from '../helpers/release';
import { buildSyntheticIso, type SyntheticIso } from '../helpers/synthetic-iso';
import { tempDir } from '../helpers/temp-dir';
import { buildTestApp, type TestApp } from '../helpers/test-app';

const resources = new Resources();
const artifacts = resolve('test-artifacts');
let iso: SyntheticIso;
let isos: IsoServer;
let browser: Browser;

interface IsoServer {
  base: string;
  hold(): void; // the next downloads trickle and cannot finish…
  release(): void; // …until this sends the rest
}

/**
 * Serves `bytes` at every path ending in .iso. While held, a download trickles 1 KiB every 20 ms and never gets its
 * last byte, so it stays busy (the test app gives up on a download silent for 300 ms) until `release()`.
 */
async function isoServer(bytes: Buffer): Promise<IsoServer> {
  let held = false;
  const pending = new Set<() => void>();
  const server: Server = createServer((req, res) => {
    if (!req.url?.endsWith('.iso')) return void res.writeHead(404).end('no such file');
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
    if (!held) return void res.end(bytes);
    let sent = 0;
    const trickle = setInterval(() => {
      const n = Math.min(1024, bytes.length - 1 - sent);
      if (n > 0) res.write(bytes.subarray(sent, (sent += n)));
    }, 20);
    const finish = () => {
      clearInterval(trickle);
      res.end(bytes.subarray(sent));
    };
    pending.add(finish);
    res.on('close', () => {
      clearInterval(trickle);
      pending.delete(finish);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  resources.add(server, (s) => new Promise<void>((r) => s.close(() => r()).closeAllConnections()));
  return {
    base: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    hold: () => void (held = true),
    release: () => {
      held = false;
      for (const finish of pending) finish();
      pending.clear();
    },
  };
}

/** A gateway listening on a loopback port, its public URL that address. */
async function listeningApp(setup?: () => Promise<SetupItem[]>): Promise<{ t: TestApp; base: string }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const t = resources.add(await buildTestApp({ publicUrl: base, setup }), (a) => a.close());
  await t.app.listen({ host: '127.0.0.1', port });
  return { t, base };
}

/** Opens `path` and waits until the page's image stream is connected (events before that would be missed). */
async function openLive(base: string, path: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${base}${path}`);
  await expect.poll(() => page.evaluate(() => document.body.dataset.live)).toBe('yes');
  return page;
}

const setMarker = (page: Page) => page.evaluate(() => ((window as unknown as { marker?: number }).marker = 42)); // survives only without a reload
const marker = (page: Page) => page.evaluate(() => (window as unknown as { marker?: number }).marker);

beforeAll(async () => {
  const work = resources.add(tempDir(), async (d) => d.remove());
  iso = buildSyntheticIso(work.path);
  isos = await isoServer(readFileSync(iso.path));
  browser = resources.add(await launchBrowser(), (b) => b.close());
  mkdirSync(artifacts, { recursive: true });
}, 60_000);
// A failed test must not leave a download held or a page holding its stream open (the gateway's close waits for it).
afterEach(async () => {
  isos.release();
  for (const context of browser.contexts()) await context.close();
});
afterAll(() => resources.releaseAll());

describe('images page', () => {
  let t: TestApp;
  let base: string;
  beforeAll(async () => {
    ({ t, base } = await listeningApp());
  });
  afterEach(async () => {
    isos.release();
    await Promise.all(t.imageJobs.list().map((j) => t.imageJobs.settled(j.id))); // a job a failed test left must not reload the next test's page
  });

  it('prepares an image from an ISO URL, showing its progress live, then lists it with its release, source and answer URL', async () => {
    const page = await openLive(base, '/images');
    expect(await page.locator('#no-images').textContent()).toContain('No boot image yet');
    expect(await page.locator('#no-jobs').isVisible()).toBe(true);
    await setMarker(page);

    isos.hold();
    await page.fill('#prepare-image [name=url]', `${isos.base}/proxmox-ve_9.1-1.iso`);
    await page.fill('#prepare-image [name=sha256]', iso.sha256.toUpperCase());
    await page.click('#prepare-image button[type=submit]');
    const job = page.locator('[id="job-pve-9.1-1"]');
    const bar = job.locator('progress');
    await expect.poll(() => bar.count(), { timeout: 5_000 }).toBe(1);
    expect(await job.getAttribute('data-state')).toBe('downloading');
    await expect.poll(() => bar.getAttribute('max'), { timeout: 5_000 }).toBe(String(iso.size)); // once the response's length is known
    expect(await page.locator('#no-jobs').isVisible()).toBe(false);
    expect(await page.inputValue('#prepare-image [name=url]')).toBe(''); // accepted: the form is cleared
    const first = Number(await bar.getAttribute('value'));
    await expect.poll(async () => Number(await bar.getAttribute('value')), { timeout: 5_000 }).toBeGreaterThan(first); // the bar moves
    expect(Number(await bar.getAttribute('value'))).toBeLessThan(iso.size);
    expect(await job.locator('.bytes').textContent()).toMatch(/^\d+\.\d MB of \d+\.\d MB$/);
    expect(await job.locator('.job-source').textContent()).toBe(`${isos.base}/proxmox-ve_9.1-1.iso`);
    expect(await marker(page)).toBe(42);
    await page.screenshot({ path: join(artifacts, 'images-downloading.png'), fullPage: true });
    isos.release();

    const row = page.locator('tr[data-image="pve-9.1-1"]');
    await expect.poll(() => row.count(), { timeout: 20_000 }).toBe(1); // only a reload adds image rows
    expect(await marker(page)).toBeUndefined();
    expect(await page.locator('#no-images').count()).toBe(0);
    expect(await row.getAttribute('data-stale')).toBe('no');
    expect(await row.locator('td').nth(0).textContent()).toBe('pve-9.1-1Proxmox VE 9.1-1');
    expect(await row.locator('code').textContent()).toBe(`${base}/api/boot/answer`);
    expect(await row.locator('td').nth(2).locator('.muted').textContent()).toBe('proxmox-ve_9.1-1.iso'); // the ISO's own name, not the download's
    expect(await page.locator('[id="job-pve-9.1-1"]').getAttribute('data-state')).toBe('ready');
    expect(await page.locator('[id="job-pve-9.1-1"] progress').count()).toBe(0);
    expect(await page.locator('#stale-banner').count()).toBe(0);
    await page.screenshot({ path: join(artifacts, 'images-ready.png'), fullPage: true });
    await page.close();
  }, 40_000);

  it('shows a bad SHA-256 next to its field, and a checksum mismatch as a failed job with its code', async () => {
    const page = await openLive(base, '/images');
    await setMarker(page);
    await page.fill('#prepare-image [name=url]', `${isos.base}/proxmox-ve_9.0-1.iso`);
    await page.fill('#prepare-image [name=sha256]', 'abc');
    await page.click('#prepare-image button[type=submit]');
    const shaError = page.locator('.field-error[data-field="sha256"]');
    await expect.poll(() => shaError.textContent(), { timeout: 5_000 }).toBe('sha256: 64 hexadecimal digits (a line of Proxmox\u2019s SHA256SUMS)');
    expect(await page.locator('[id="job-pve-9.0-1"]').count()).toBe(0);

    await page.fill('#prepare-image [name=sha256]', 'a'.repeat(64));
    await page.click('#prepare-image button[type=submit]');
    await expect.poll(() => shaError.textContent()).toBe(''); // cleared on the next submit
    const job = page.locator('[id="job-pve-9.0-1"]');
    await expect.poll(() => job.getAttribute('data-state'), { timeout: 10_000 }).toBe('failed');
    expect(await job.locator('.job-state').textContent()).toBe('failed');
    expect(await job.locator('.job-error code').textContent()).toBe('checksum_mismatch');
    expect(await job.locator('.job-error').textContent()).toBe(`the ISO's SHA-256 is ${iso.sha256}, not the ${'a'.repeat(64)} given: a damaged or different download checksum_mismatch`);
    expect(await job.locator('progress').count()).toBe(0);
    expect(await page.locator('tr[data-image="pve-9.0-1"]').count()).toBe(0);
    expect(await marker(page)).toBe(42); // a failure does not reload
    expect(existsSync(join(t.images.dir, 'pve-9.0-1'))).toBe(false);
    await page.screenshot({ path: join(artifacts, 'images-failed.png'), fullPage: true });
    await page.close();
  });

  it('flags an image prepared for another answer URL and prepares it again for this one', async () => {
    await prepareImage({ iso: iso.path, imagesDir: t.images.dir, name: 'pve-old', answerUrl: 'http://192.0.2.99:8080/api/boot/answer' });
    t.images.invalidate();
    const page = await openLive(base, '/images');
    const banner = page.locator('#stale-banner');
    expect(await banner.textContent()).toContain("Image pve-old was prepared for another answer URL or certificate than the boot API's now (the reasons are on its row): hosts booting it may not get their answer file, or get it unpinned.");
    const row = page.locator('tr[data-image="pve-old"]');
    expect(await row.getAttribute('data-stale')).toBe('yes');
    expect(await row.locator('.stale').textContent()).toBe(`Stale: its installer asks http://192.0.2.99:8080/api/boot/answer for the answer, but answers are now at ${base}/api/boot/answer.`);
    expect(await row.locator('button[data-action=reprepare-image]').textContent()).toBe('Prepare again');
    expect(await page.locator('tr[data-image="pve-9.1-1"] button[data-action=reprepare-image]').count()).toBe(0);
    await page.screenshot({ path: join(artifacts, 'images-stale.png'), fullPage: true });
    await setMarker(page);

    const button = banner.locator('button[data-action=reprepare-stale]');
    expect(await button.textContent()).toBe('Prepare it again');
    await button.click();
    await expect.poll(() => marker(page), { timeout: 20_000 }).toBeUndefined(); // reloaded once the job was ready
    await expect.poll(() => row.getAttribute('data-stale')).toBe('no');
    expect(await page.locator('#stale-banner').count()).toBe(0);
    expect(await row.locator('.stale').count()).toBe(0);
    expect(await row.locator('code').textContent()).toBe(`${base}/api/boot/answer`);
    expect(await page.locator('#job-pve-old').getAttribute('data-state')).toBe('ready');
    expect(await page.locator('#job-pve-old .job-source').textContent()).toBe('re-preparation of pve-old');
    expect(JSON.parse(readFileSync(join(t.images.dir, 'pve-old', 'image.json'), 'utf8'))).toMatchObject({ answer_url: `${base}/api/boot/answer` });
    await page.close();
  }, 30_000);

  it('deletes an image only after confirmation, removing its row and its folder', async () => {
    const page = await openLive(base, '/images');
    const row = page.locator('tr[data-image="pve-9.1-1"]');
    const messages: string[] = [];
    page.once('dialog', (d) => void (messages.push(d.message()), d.dismiss()));
    await row.locator('button[data-action=delete-image]').click();
    expect(messages).toEqual(['Delete the boot image pve-9.1-1? Its files are removed.']);
    expect(await row.count()).toBe(1);
    expect(existsSync(join(t.images.dir, 'pve-9.1-1'))).toBe(true);

    page.once('dialog', (d) => void d.accept());
    await row.locator('button[data-action=delete-image]').click();
    await expect.poll(() => row.count(), { timeout: 5_000 }).toBe(0);
    expect(existsSync(join(t.images.dir, 'pve-9.1-1'))).toBe(false);
    expect(await page.locator('tr[data-image="pve-old"]').count()).toBe(1);
    await page.reload();
    expect(await page.locator('tr[data-image]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-image')))).toEqual(['pve-old']);
    await page.close();
  });
});

describe('setup page', () => {
  let t: TestApp;
  let base: string;
  beforeAll(async () => {
    const dir = resources.add(tempDir(), async (d) => d.remove());
    const file = join(dir.path, 'provisioning.yaml');
    writeFileSync(file, 'data_dir: ./data\n');
    const config = loadConfig(file, {});
    // The real checklist over this gateway's own images: the boot image item turns ok when one is prepared.
    ({ t, base } = await listeningApp(() => checkSetup(config, t.images.list().map((i) => i.name))));
  });

  it('links to Setup from the empty host grid', async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/`);
    expect(await page.locator('#empty').isVisible()).toBe(true);
    await page.click('#empty a[href="/setup"]');
    await page.waitForURL(`${base}/setup`);
    expect(await page.locator('h1').textContent()).toBe('Setup');
    await page.close();
  });

  it('lists the missing items with their keys, prepares a boot image from its form, and turns the item ok by itself', async () => {
    expect(t.images.list()).toEqual([]);
    const page = await browser.newPage();
    await page.goto(`${base}/setup`);
    const bootImage = page.locator('li[data-item="boot_image"]');
    expect(await bootImage.getAttribute('class')).toBe('setup-item missing');
    expect(await bootImage.locator('.how a[href="/images"]').count()).toBe(1);
    expect(await page.locator('li[data-item="root_password_hash"].missing .how code').first().textContent()).toBe('credentials.root_password_hash');
    expect(await page.locator('li[data-item="existing_node"].missing .how code').first().textContent()).toBe('proxmox.existing_node');
    expect(await page.locator('li[data-item="join_password"].missing .how code').first().textContent()).toBe('proxmox.join_password');
    expect(await page.locator('.setup-summary').textContent()).toBe('5 of the required items are missing.');
    expect(await page.locator('#setup-list').getAttribute('data-ready')).toBe('no');
    expect(await page.locator('#setup-prepare #prepare-image').count()).toBe(1);
    await setMarker(page);

    await page.fill('#setup-prepare [name=url]', `${isos.base}/proxmox-ve_9.1-1.iso`);
    await page.fill('#setup-prepare [name=sha256]', iso.sha256);
    await page.click('#setup-prepare button[type=submit]');
    const done = page.locator('#setup-prepare .form-done');
    await expect.poll(() => done.textContent(), { timeout: 5_000 }).toBe('Preparing pve-9.1-1: follow it on the Images page');
    expect(await done.locator('a').getAttribute('href')).toBe('/images');

    expect(await t.imageJobs.settled(t.imageJobs.forName('pve-9.1-1')!.id)).toMatchObject({ state: 'ready', error: null });
    await expect.poll(() => page.locator('li[data-item="boot_image"].ok').count(), { timeout: 10_000 }).toBe(1); // the page's own 5 s refresh
    expect(await page.locator('li[data-item="boot_image"] p').first().textContent()).toBe('pve-9.1-1');
    expect(await page.locator('.setup-summary').textContent()).toBe('4 of the required items are missing.');
    expect(await marker(page)).toBe(42); // refreshed in place, not reloaded
    expect(existsSync(join(t.images.dir, 'pve-9.1-1', 'image.json'))).toBe(true);
    await page.screenshot({ path: join(artifacts, 'setup-image-ready.png'), fullPage: true });
    await page.close();
  }, 30_000);
});
