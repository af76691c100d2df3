/// <reference lib="dom" />
// The host page's Preview section (issue 18 item 4): the next rebuild's iPXE script, answer file and first-boot script
// with the problems found, loaded from GET /api/hosts/{id}/preview.
// Real: the gateway (inject, and a loopback listener for Debian's Chromium), SQLite, the image folder. Nothing faked.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../helpers/browser';
import { buildTestApp, testPasswordHash, type TestApp } from '../helpers/test-app';
import { freePort } from '../setup/temporal-dev-server';

let t: TestApp;
let browser: Browser;
let base: string;

beforeAll(async () => {
  t = await buildTestApp();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  await t.app.listen({ host: '127.0.0.1', port });
  browser = await launchBrowser();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await t.close();
});

const register = async (hostname: string, mac: string) =>
  (await t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname, mac, server_type: 'minisforum-ms-01' } })).json().id as number;

describe('the Preview section', () => {
  it('is on the host page, outside the live-refreshed detail, with nothing loaded yet', async () => {
    const id = await register('pve-ms-20', 'aa:bb:cc:dd:ee:20');
    const page = (await t.app.inject({ method: 'GET', url: `/hosts/${id}` })).body;
    expect(page).toContain(`<section class="preview" id="preview" data-host-id="${id}">`);
    expect(page).toContain('<button type="button" data-preview-load>Show preview</button>');
    expect((await t.app.inject({ method: 'GET', url: `/hosts/${id}?fragment=1` })).body).not.toContain('id="preview"');
    const script = /<\/section>\n<script>([\s\S]*?)<\/script>/.exec(page.slice(page.indexOf('id="preview"')))?.[1];
    expect(() => new Function(script!)).not.toThrow(); // the section's script parses
  });

  it('shows the three texts in a browser, redacted, and the problems after the image is gone', async () => {
    mkdirSync(join(t.images.dir, 'pve-9.1'));
    for (const f of ['vmlinuz', 'initrd.img', 'proxmox-ve_9.1-auto-from-http.iso']) writeFileSync(join(t.images.dir, 'pve-9.1', f), f);
    const id = await register('pve-ms-21', 'aa:bb:cc:dd:ee:21');
    const page = await browser.newPage();
    await page.goto(`${base}/hosts/${id}`);
    expect(await page.locator('[data-preview="body"]').isVisible()).toBe(false);

    await page.click('[data-preview-load]');
    await page.waitForFunction(() => document.querySelector('[data-preview="summary"]')?.textContent === 'No problems: the next rebuild would serve these.');
    expect(await page.locator('[data-preview="ipxe"]').textContent()).toContain('kernel http://127.0.0.1:8080/images/pve-9.1/vmlinuz ');
    expect(await page.locator('[data-preview="answer"]').textContent()).toContain('root-password-hashed = "<redacted: credentials.root_password_hash>"');
    expect(await page.locator('[data-preview="first_boot"]').textContent()).toContain(`/api/hosts/${id}/phone-home?token=<redacted>`);
    expect(await page.content()).not.toContain(testPasswordHash);
    mkdirSync(resolve('test-artifacts'), { recursive: true });
    await page.screenshot({ path: resolve('test-artifacts', 'host-preview.png'), fullPage: true });

    rmSync(join(t.images.dir, 'pve-9.1'), { recursive: true });
    await page.click('[data-preview-load]'); // now "Refresh preview"
    await page.waitForFunction(() => document.querySelector('[data-preview="summary"]')?.textContent === '1 problem before a rebuild:');
    expect(await page.locator('[data-preview="problems"] li').allTextContents()).toEqual([`ipxe: no boot image in ${t.images.dir}: the host would get the local-disk script and boot its old system`]);
    expect(await page.locator('[data-preview-load]').textContent()).toBe('Refresh preview');
    await page.close();
  });
});
