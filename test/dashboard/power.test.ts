/// <reference lib="dom" />
// The host page's Power section and the tile's power state (issue 17 item 4).
// Real: the gateway (inject, and a loopback listener for Debian's Chromium), SQLite, the power store. Fake: the BMC
// behind the PowerDriver interface, a FakeBmc that keeps a power state.
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { dashboardJs } from '../../src/dashboard/assets';
import { hostUpdateRenderer } from '../../src/dashboard/render-update';
import type { PowerAction, PowerDriver, PowerState } from '../../src/power/types';
import { launchBrowser } from '../helpers/browser';
import { buildTestApp, type TestApp } from '../helpers/test-app';
import { freePort } from '../setup/temporal-dev-server';

class FakeBmc {
  state: PowerState = 'off';
  readonly calls: string[] = [];
  driver(method: PowerDriver['method']): PowerDriver {
    const act = async (action: PowerAction) => {
      this.calls.push(action);
      if (action === 'on' || action === 'cycle') this.state = 'on';
      if (action === 'off') this.state = 'off';
      return { did: `fake: ${action} sent`, state: this.state };
    };
    return {
      method,
      status: async () => this.state,
      intoInstaller: () => act('cycle'),
      act,
      test: async () => {
        this.calls.push('test');
        return { did: 'fake: reachable', state: this.state };
      },
      persistentOverride: async () => null,
    };
  }
}

const bmcPassword = 'Dash-BMC-pw-77';
let t: TestApp;
let bmc: FakeBmc;
const register = async (hostname: string, mac: string, power?: Record<string, unknown>) =>
  (await t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname, mac, server_type: 'minisforum-ms-01', ...(power ? { power } : {}) } })).json().id as number;
const ipmi = { method: 'ipmi', address: '192.168.1.210', username: 'admin', password: bmcPassword };
const markReady = (id: number) => t.db.prepare("UPDATE hosts SET state = 'ready' WHERE id = ?").run(id);

describe('the Power section and the tile, as rendered', () => {
  beforeEach(async () => {
    bmc = new FakeBmc();
    t = await buildTestApp({ powerDriver: (target) => bmc.driver(target.method) });
  });
  afterEach(async () => {
    await t.close();
  });

  it('shows an IPMI host\'s settings with "password: set", the buttons and the form, never the password', async () => {
    const id = await register('pve-ms-03', 'aa:bb:cc:dd:ee:03', ipmi);
    const body = (await t.app.inject({ method: 'GET', url: `/hosts/${id}` })).body;
    expect(body).toContain('<dt>Power</dt><dd class="power-summary">IPMI: BMC 192.168.1.210:623, user admin, password: set</dd>');
    for (const action of ['on', 'off', 'cycle', 'pxe-once', 'test']) expect(body).toContain(`data-power="${action}"`);
    expect(body).toContain(`<section class="power" id="power" data-host-id="${id}" data-hostname="pve-ms-03" data-method="ipmi">`);
    expect(body).toContain('<option value="ipmi" selected>IPMI</option>');
    expect(body).toContain('<input name="ipmi_address" value="192.168.1.210" >');
    expect(body).toContain('<input type="password" name="ipmi_password" autocomplete="new-password" placeholder="set (leave empty to keep it)">');
    expect(body).not.toContain(bmcPassword);
  });

  it('shows a manual host as powered by hand, with the form open and no buttons', async () => {
    const id = await register('pve-ms-04', 'aa:bb:cc:dd:ee:04');
    const body = (await t.app.inject({ method: 'GET', url: `/hosts/${id}` })).body;
    expect(body).toContain('<dd class="power-summary">Manual: power on or reboot the machine into network boot</dd>');
    expect(body).toContain('<details open><summary>Power settings</summary>');
    expect(body).not.toContain('data-power=');
  });

  it('keeps the form out of the live-refreshed fragment', async () => {
    const id = await register('pve-ms-03', 'aa:bb:cc:dd:ee:03', ipmi);
    const fragment = (await t.app.inject({ method: 'GET', url: `/hosts/${id}?fragment=1` })).body;
    expect(fragment).toContain('IPMI: BMC 192.168.1.210:623');
    expect(fragment).not.toContain('id="power-form"');
  });

  it('puts the last known power state on the tile, in the grid and in live updates, once a power event recorded one', async () => {
    const id = await register('pve-ms-03', 'aa:bb:cc:dd:ee:03', ipmi);
    const render = hostUpdateRenderer(t.hosts, t.operations, t.power);
    expect((await t.app.inject({ method: 'GET', url: '/' })).body).not.toContain('<dt>Power</dt>');
    expect((await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/power`, payload: { action: 'on' } })).statusCode).toBe(200);
    const at = t.power.lastState(id)!.at;
    const cell = `<dt>Power</dt><dd class="power-state power-on" title="as of ${at}">on</dd>`;
    expect((await t.app.inject({ method: 'GET', url: '/' })).body).toContain(cell);
    expect(render(id)).toMatchObject({ tile: expect.stringContaining(cell) });
    const fragment = (await t.app.inject({ method: 'GET', url: `/hosts/${id}?fragment=1` })).body;
    expect(fragment).toContain(`password: set · <span class="power-state power-on">on</span> as of <time datetime="${at}">`);
    expect(fragment).toContain('<h3>Outside a rebuild: boot requests, power</h3>');
    expect(fragment).toContain('<span class="kind">power</span> power on of pve-ms-03 (ipmi) by an operator at 127.0.0.1 (open API: no server.api_token): fake: on sent (power on)</li>');
  });

  it('ships a script that parses', () => {
    expect(() => new Function(dashboardJs)).not.toThrow();
  });
});

describe('the Power section in a browser', () => {
  let browser: Browser;
  let base: string;
  beforeAll(async () => {
    bmc = new FakeBmc();
    t = await buildTestApp({ powerDriver: (target) => bmc.driver(target.method) });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    await t.app.listen({ host: '127.0.0.1', port });
    browser = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await t.close();
  });

  const open = async (id: number): Promise<Page> => {
    const page = await browser.newPage();
    await page.goto(`${base}/hosts/${id}`);
    return page;
  };

  it('asks before powering off a cluster member, and does nothing when the operator says no', async () => {
    const id = await register('pve-ms-10', 'aa:bb:cc:dd:ee:10', ipmi);
    markReady(id);
    const page = await open(id);
    const dialogs: string[] = [];
    page.once('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    bmc.calls.length = 0;
    await page.click('button[data-power="off"]');
    await page.waitForTimeout(300);
    expect(dialogs).toEqual(['pve-ms-10 is a cluster member: its guests stop with it and the cluster loses its vote meanwhile. Power off pve-ms-10?']);
    expect(bmc.calls).toEqual([]);
    page.once('dialog', (d) => void d.accept());
    await page.click('button[data-power="cycle"]');
    await page.waitForFunction(() => document.querySelector('.power-result')?.textContent === 'fake: cycle sent (power on)');
    expect(bmc.calls).toEqual(['cycle']);
    await page.close();
  });

  it('powers on and tests without asking', async () => {
    const id = await register('pve-ms-11', 'aa:bb:cc:dd:ee:11', ipmi);
    markReady(id);
    const page = await open(id);
    let asked = false;
    page.on('dialog', (d) => {
      asked = true;
      void d.dismiss();
    });
    await page.click('button[data-power="on"]');
    await page.waitForFunction(() => document.querySelector('.power-result')?.textContent === 'fake: on sent (power on)');
    await page.click('button[data-power="test"]');
    await page.waitForFunction(() => document.querySelector('.power-result')?.textContent === 'fake: reachable (power on)');
    expect(asked).toBe(false);
    await page.close();
  });

  it('saves new settings from the form, showing an error next to its field first', async () => {
    const id = await register('pve-ms-12', 'aa:bb:cc:dd:ee:12');
    const page = await open(id);
    await page.selectOption('select[name="method"]', 'wol');
    expect(await page.isVisible('input[name="wol_broadcast"]')).toBe(true);
    expect(await page.isVisible('input[name="ipmi_address"]')).toBe(false);
    await page.fill('input[name="wol_broadcast"]', '10.0.0.255');
    await page.click('#power-form button[type="submit"]');
    await page.waitForFunction(() => (document.querySelector('fieldset[data-method="wol"] .field-error[data-field="power.broadcast"]')?.textContent ?? '').startsWith('power.broadcast: 10.0.0.255 is outside pxe.subnet'));
    await page.fill('input[name="wol_broadcast"]', '192.168.1.255');
    await Promise.all([page.waitForEvent('load'), page.click('#power-form button[type="submit"]')]);
    expect(await page.textContent('.power-summary')).toBe('Wake-on-LAN: magic packet to aa:bb:cc:dd:ee:12 on 192.168.1.255, port 9');
    expect(t.power.settings(id)).toEqual({ method: 'wol', broadcast: '192.168.1.255', port: 9 });
    await page.close();
  });

  it('keeps the stored BMC password when the form leaves it empty', async () => {
    const id = await register('pve-ms-13', 'aa:bb:cc:dd:ee:13', ipmi);
    const page = await open(id);
    expect(await page.isVisible('input[name="ipmi_address"]')).toBe(false); // the settings are folded away
    await page.click('#power summary');
    await page.fill('input[name="ipmi_address"]', '192.168.1.213');
    await Promise.all([page.waitForEvent('load'), page.click('#power-form button[type="submit"]')]);
    expect(await page.textContent('.power-summary')).toBe('IPMI: BMC 192.168.1.213:623, user admin, password: set');
    expect(t.power.target(id, t.hosts.get(id))).toMatchObject({ address: '192.168.1.213', password: bmcPassword });
    expect(await page.content()).not.toContain(bmcPassword);
    await page.close();
  });
});
