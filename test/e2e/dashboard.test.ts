/// <reference lib="dom" />
// The dashboard in a real browser (Debian's Chromium via playwright-core) against the real gateway on a loopback
// listener, with the real worker, Temporal, SQLite and the sshd stand-in. An operator registers a host through the
// form, starts a rebuild, and watches the tile and the host page change live (no reload) while a simulated host
// walks the boot flow to ready; a cancelled rebuild shows its reason. Screenshots land in test-artifacts/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../setup/temporal-dev-server';
import { launchBrowser } from '../helpers/browser';
import { Resources } from '../helpers/release';
import { pxeAndInstall, reportInstalled, runFirstBoot } from '../helpers/simulated-host';
import { startStandInNode, type StandInNode } from '../helpers/sshd-node';
import { buildTestApp, shortTimeouts, type TestApp } from '../helpers/test-app';
import { startTestWorker, testFingerprint } from '../helpers/test-worker';

const resources = new Resources();
const artifacts = resolve('test-artifacts');
let t: TestApp;
let node: StandInNode;
let browser: Browser;
let base: string;

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  t = resources.add(await buildTestApp({ publicUrl: base, timeouts: { ...shortTimeouts, pxeBoot: '5m', join: '30s' } }), (a) => a.close());
  node = resources.add(await startStandInNode('peer-pw-dashboard'), (n) => n.stop());
  resources.add(await startTestWorker(t, { join: { password: 'peer-pw-dashboard', sshPort: node.port, layout: node.layout, existingNode: '192.0.2.10', fingerprint: testFingerprint } }), (w) => w.stop());
  mkdirSync(join(t.images.dir, 'pve-9.1'));
  for (const f of ['vmlinuz', 'initrd.img', 'proxmox-ve_9.1.iso']) writeFileSync(join(t.images.dir, 'pve-9.1', f), f);
  await t.app.listen({ host: '127.0.0.1', port });
  browser = resources.add(await launchBrowser(), (b) => b.close());
  mkdirSync(artifacts, { recursive: true });
}, 120_000);
afterAll(() => resources.releaseAll());

/** Answers the next prompt/confirm dialog with `answer`. */
function answerNextDialog(page: Page, answer: string) {
  page.once('dialog', (d) => void (d.type() === 'prompt' ? d.accept(answer) : d.accept()));
}

describe('dashboard', () => {
  it('registers, rebuilds and follows a host to ready live, in the grid and on its page', async () => {
    const grid = await browser.newPage();
    await grid.goto(`${base}/`);
    await expect.poll(() => grid.locator('#empty').isVisible()).toBe(true);
    await expect.poll(() => grid.evaluate(() => document.body.dataset.live)).toBe('yes');
    await grid.evaluate(() => ((window as unknown as { marker: number }).marker = 42)); // survives only without a reload

    // Inline error from the API, next to the field it names.
    await grid.fill('#register [name=hostname]', 'pve-ms-03');
    await grid.fill('#register [name=mac]', 'not-a-mac');
    await grid.click('#register button[type=submit]');
    await expect.poll(() => grid.locator('.field-error[data-field=mac]').textContent()).toMatch(/^mac: expected a MAC address like/);

    await grid.fill('#register [name=mac]', 'B4-2E-99-AC-AD-B4');
    await grid.selectOption('#register [name=server_type]', 'minisforum-ms-01');
    await grid.click('#register button[type=submit]');
    const tile = grid.locator('.tile[data-hostname="pve-ms-03"]');
    await expect.poll(() => tile.locator('.state').textContent(), { timeout: 5_000 }).toContain('Registered');
    expect(await tile.locator('.mono').first().textContent()).toBe('b4:2e:99:ac:ad:b4');
    const id = Number(await tile.getAttribute('data-host-id'));

    answerNextDialog(grid, 'pve-ms-03');
    await tile.locator('button[data-action=rebuild]').click();
    await expect.poll(() => tile.locator('.state').textContent(), { timeout: 10_000 }).toContain('Waiting for PXE');

    const detail = await browser.newPage();
    await detail.goto(`${base}/hosts/${id}`);
    await expect.poll(() => detail.evaluate(() => document.body.dataset.live)).toBe('yes');
    await detail.evaluate(() => ((window as unknown as { marker: number }).marker = 7));
    expect(await detail.locator('.step-current').getAttribute('data-state')).toBe('pxe_ready');

    const trace = await pxeAndInstall(base, 'b4:2e:99:ac:ad:b4', node);
    await expect.poll(() => tile.locator('.state').textContent(), { timeout: 10_000 }).toContain('Installing');
    await expect.poll(() => detail.locator('.step-current').getAttribute('data-state'), { timeout: 10_000 }).toBe('installing');
    await grid.screenshot({ path: join(artifacts, 'grid-installing.png'), fullPage: true });

    expect(await reportInstalled(trace, 'b4:2e:99:ac:ad:b4', node)).toBe(200);
    expect((await runFirstBoot(trace, t.dir)).code).toBe(0);
    await expect.poll(() => tile.locator('.state').textContent(), { timeout: 30_000 }).toContain('Ready');
    await expect.poll(() => detail.locator('.step[data-state=ready]').getAttribute('class'), { timeout: 10_000 }).toContain('step-done');
    expect(await detail.locator('.facts').textContent()).toContain('SHA256:');
    expect(await detail.locator('.timeline').textContent()).toContain('successfully added node');
    await detail.screenshot({ path: join(artifacts, 'host-ready.png'), fullPage: true });
    await grid.emulateMedia({ colorScheme: 'dark' });
    await grid.setViewportSize({ width: 390, height: 844 });
    expect(await grid.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe('rgb(13, 17, 23)');
    expect(await grid.evaluate(() => document.documentElement.scrollWidth <= 390)).toBe(true); // no sideways scrolling on a phone
    await grid.screenshot({ path: join(artifacts, 'grid-phone-dark.png'), fullPage: true });

    expect(await grid.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);
    expect(await detail.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(7);
    await grid.close();
    await detail.close();
  }, 120_000);

  it('shows a cancelled rebuild as failed with its reason, and a deleted host disappears live', async () => {
    const grid = await browser.newPage();
    await grid.goto(`${base}/`);
    await expect.poll(() => grid.evaluate(() => document.body.dataset.live)).toBe('yes');
    const res = await fetch(`${base}/api/hosts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ hostname: 'pve-um-01', mac: 'aa:bb:cc:dd:ee:01', server_type: 'minisforum-um790' }) });
    const id = ((await res.json()) as { id: number }).id;
    const tile = grid.locator(`#host-${id}`);
    await expect.poll(() => tile.isVisible(), { timeout: 5_000 }).toBe(true);

    answerNextDialog(grid, 'pve-um-01');
    await tile.locator('button[data-action=rebuild]').click();
    await expect.poll(() => tile.locator('.state').textContent(), { timeout: 10_000 }).toContain('Waiting for PXE');
    answerNextDialog(grid, '');
    await tile.locator('button[data-action=cancel]').click();
    await expect.poll(() => tile.locator('.state').textContent(), { timeout: 15_000 }).toContain('Failed');
    expect(await tile.locator('.failure').textContent()).toBe('cancelled: rebuild cancelled by an operator while pxe_ready');

    // A live update of the failed tile (its cleanup is still reporting) re-renders it and clears a message shown
    // before; as an operator would, try again until the message stays.
    await expect
      .poll(async () => {
        answerNextDialog(grid, 'wrong-name');
        await tile.locator('button[data-action=delete]').click();
        return tile.locator('.action-error').textContent();
      })
      .toBe('The hostname did not match; nothing was done.');
    expect(await grid.locator(`#host-${id}`).count()).toBe(1);
    answerNextDialog(grid, 'pve-um-01');
    await tile.locator('button[data-action=delete]').click();
    await expect.poll(() => grid.locator(`#host-${id}`).count(), { timeout: 5_000 }).toBe(0);
    await grid.close();
  }, 60_000);

  it('shows "reconnecting…" when the stream drops and resumes by itself', async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/`);
    await expect.poll(() => page.evaluate(() => document.body.dataset.live)).toBe('yes');
    t.hub.closeAll(); // what a server restart does to every stream
    await expect.poll(() => page.locator('#connection').isVisible(), { timeout: 5_000 }).toBe(true);
    await expect.poll(() => page.locator('#connection').isVisible(), { timeout: 10_000 }).toBe(false);
    expect(await page.evaluate(() => document.body.dataset.live)).toBe('yes');
    await fetch(`${base}/api/hosts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ hostname: 'pve-after', mac: 'aa:bb:cc:dd:ee:0f', server_type: 'minisforum-ms-01' }) });
    await expect.poll(() => page.locator('.tile[data-hostname="pve-after"]').count(), { timeout: 5_000 }).toBe(1);
    await page.close();
  });

  it('is readable with JavaScript off, and filters on the server', async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(`${base}/?state=ready`);
    expect(await page.locator('.tile').count()).toBe(1);
    expect(await page.locator('.tile .hostname').textContent()).toBe('pve-ms-03');
    await page.goto(`${base}/?q=zz`);
    expect(await page.locator('.tile').count()).toBe(0);
    await context.close();
  });
});
