// The dashboard's Audit page (issue 18 item 2): the trail newest first, filtered by the form, paged. Real: Fastify,
// SQLite, the audit hooks of the operator API.
import { afterEach, describe, expect, it } from 'vitest';
import { Resources } from '../helpers/release';
import { buildTestApp } from '../helpers/test-app';

const resources = new Resources();
afterEach(() => resources.releaseAll());

describe('the Audit page', () => {
  it('lists operator actions and boot decisions newest first, with who, where, host and result, and filters them', async () => {
    const t = resources.add(await buildTestApp(), (a) => a.close());
    const id: number = (await t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname: 'pve-audit-1', mac: 'aa:bb:cc:dd:ee:a1', server_type: 'minisforum-ms-01' } })).json().id;
    await t.app.inject({ method: 'GET', url: '/ipxe/aa:bb:cc:dd:ee:a1' });
    await t.app.inject({ method: 'DELETE', url: '/api/hosts/999' }); // refused: no such host

    const page = await t.app.inject({ method: 'GET', url: '/audit' });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<a href="/audit">Audit</a>'); // in the navigation
    const rows = [...page.body.matchAll(/<tr class="audit-(\w+)" data-kind="([a-z.-]+)">/g)].map((m) => `${m[2]} ${m[1]}`);
    expect(rows).toEqual(['host.delete refused', 'boot.decision ok', 'host.register ok']);
    expect(page.body).toContain(`<a href="/hosts/${id}">pve-audit-1</a>`);
    expect(page.body).toContain('an operator (open API)');
    expect(page.body).toContain('kept for 30d');

    const filtered = await t.app.inject({ method: 'GET', url: '/audit?kind=boot.decision&mac=AA:BB:CC:DD:EE:A1' });
    expect([...filtered.body.matchAll(/data-kind="([a-z.-]+)"/g)].map((m) => m[1])).toEqual(['boot.decision']);
    expect(filtered.body).toContain('<option value="boot.decision" selected>');
    const none = await t.app.inject({ method: 'GET', url: '/audit?since=2999-01-01T00:00' });
    expect(none.body).toContain('No entries match these filters.');
    const bad = await t.app.inject({ method: 'GET', url: '/audit?mac=nope&host=x' });
    expect(bad.body).toMatch(/role="alert">Host id: a number; MAC: not a MAC address</);
  });

  it('pages with an "Older entries" link that keeps the filters', async () => {
    const t = resources.add(await buildTestApp(), (a) => a.close());
    for (let i = 0; i < 102; i++) await t.app.inject({ method: 'GET', url: `/ipxe/aa:bb:cc:dd:ef:${(i % 256).toString(16).padStart(2, '0')}` });
    const first = await t.app.inject({ method: 'GET', url: '/audit?kind=boot.decision' });
    expect([...first.body.matchAll(/data-kind=/g)]).toHaveLength(100);
    const next = /href="(\/audit\?kind=boot.decision&amp;before=\d+)" rel="next"/.exec(first.body)?.[1];
    expect(next).toBeDefined();
    const second = await t.app.inject({ method: 'GET', url: next!.replace(/&amp;/g, '&') });
    expect([...second.body.matchAll(/data-kind=/g)]).toHaveLength(2);
    expect(second.body).not.toContain('rel="next"');
  });
});
