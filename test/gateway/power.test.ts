// Power settings in the host API and the power routes (issue 17 items 1, 4, 5).
// Real: Fastify (inject), SQLite file, the power store (encryption), Temporal client. Fake: the BMC, a FakeBmc that
// keeps a power state and fails as told, behind the PowerDriver interface (the real drivers are tested on their own).
import { Writable } from 'node:stream';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logging';
import { PowerError, type PowerAction, type PowerDriver, type PowerState, type PowerTarget } from '../../src/power/types';
import { buildTestApp, type TestApp } from '../helpers/test-app';

/** A BMC: a power state, the targets drivers were built with, and the failure it answers every call with when set. */
class FakeBmc {
  state: PowerState = 'off';
  failure: Error | null = null;
  readonly targets: PowerTarget[] = [];
  readonly calls: string[] = [];

  driver(target: PowerTarget): PowerDriver {
    this.targets.push(target);
    const call = async <T>(name: string, body: () => T): Promise<T> => {
      this.calls.push(name);
      if (this.failure) throw this.failure;
      return body();
    };
    const act = (action: PowerAction) => {
      if (action === 'on' || action === 'cycle') this.state = 'on';
      if (action === 'off') this.state = 'off';
      return { did: `fake: ${action} sent`, state: this.state };
    };
    return {
      method: target.method,
      status: () => call('status', () => this.state),
      intoInstaller: () => call('intoInstaller', () => act('cycle')),
      act: (action) => call(`act ${action}`, () => act(action)),
      test: () => call('test', () => ({ did: 'fake: reachable, credentials accepted, Pxe allowed', state: this.state })),
      persistentOverride: () => call('persistentOverride', () => null),
    };
  }
}

const bmcPassword = 'Sup3r-Secret-BMC';
let t: TestApp;
let bmc: FakeBmc;
let logLines: string[];

async function setup(options: Parameters<typeof buildTestApp>[0] = {}) {
  bmc = new FakeBmc();
  logLines = [];
  const sink = new Writable({ write: (chunk, _enc, done) => { logLines.push(chunk.toString()); done(); } });
  t = await buildTestApp({ logger: createLogger('debug', sink), powerDriver: (target) => bmc.driver(target), ...options });
}
afterEach(async () => {
  await t.close();
});

const host = { hostname: 'pve-ms-03', mac: 'aa:bb:cc:dd:ee:03', server_type: 'minisforum-ms-01' };
const ipmi = { method: 'ipmi', address: '192.168.1.210', username: 'admin', password: bmcPassword };
const register = (power?: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  t.app.inject({ method: 'POST', url: '/api/hosts', payload: { ...host, ...(power ? { power } : {}), ...extra } });
const patch = (id: number, body: unknown, headers: Record<string, string> = {}) => t.app.inject({ method: 'PATCH', url: `/api/hosts/${id}`, payload: body as Record<string, unknown>, headers });
const act = (id: number, action: string, headers: Record<string, string> = {}) => t.app.inject({ method: 'POST', url: `/api/hosts/${id}/power`, payload: { action }, headers });
const powerEvents = (hostId: number) => t.db.prepare<[number], { operation_id: number | null; message: string; details: string }>("SELECT operation_id, message, details FROM operation_events WHERE host_id = ? AND kind = 'power' ORDER BY id").all(hostId);

describe('power settings in the host API', () => {
  it('registers a host as manual when the body has no power', async () => {
    await setup();
    const res = await register();
    expect(res.statusCode).toBe(201);
    expect(res.json().power).toEqual({ method: 'manual' });
    expect((await t.app.inject({ method: 'GET', url: '/api/hosts' })).json().hosts[0].power).toEqual({ method: 'manual' });
  });

  it('registers a host with IPMI: the defaults filled in, the password only as password_set', async () => {
    await setup();
    const res = await register(ipmi);
    expect(res.statusCode).toBe(201);
    expect(res.json().power).toEqual({ method: 'ipmi', address: '192.168.1.210', port: 623, username: 'admin', password_set: true });
    const id = res.json().id as number;
    expect((await t.app.inject({ method: 'GET', url: `/api/hosts/${id}` })).json().power).toEqual(res.json().power);
    expect(t.power.target(id, t.hosts.get(id))).toEqual({ method: 'ipmi', address: '192.168.1.210', port: 623, username: 'admin', password: bmcPassword });
  });

  it.each([
    [{ method: 'wol' }, { method: 'wol', broadcast: null, port: 9 }],
    [{ method: 'wol', broadcast: '192.168.1.127', port: 7 }, { method: 'wol', broadcast: '192.168.1.127', port: 7 }],
    [{ method: 'proxmox' }, { method: 'proxmox', node: null }],
    [{ method: 'proxmox', node: 'pve3' }, { method: 'proxmox', node: 'pve3' }],
    [
      { method: 'redfish', url: 'https://192.168.1.211', username: 'root', password: 'calvin', fingerprint: 'ab'.repeat(32) },
      { method: 'redfish', url: 'https://192.168.1.211', username: 'root', password_set: true, system_id: null, fingerprint: Array(32).fill('AB').join(':'), ca_file: null },
    ],
    [
      { method: 'redfish', url: 'https://bmc-03.lab.example/', username: 'root', password: 'calvin', system_id: 'System.Embedded.1', ca_file: '/etc/provisioning/bmc-ca.pem' },
      { method: 'redfish', url: 'https://bmc-03.lab.example/', username: 'root', password_set: true, system_id: 'System.Embedded.1', fingerprint: null, ca_file: '/etc/provisioning/bmc-ca.pem' },
    ],
  ])('stores %j as %j', async (power, stored) => {
    await setup();
    const res = await register(power);
    expect(res.statusCode).toBe(201);
    expect(res.json().power).toEqual(stored);
  });

  it.each([
    [{ method: 'wol', broadcast: '10.0.0.255' }, 'power.broadcast', "power.broadcast: 10.0.0.255 is outside pxe.subnet 192.168.1.0/24: the magic packet must reach the host's LAN (its broadcast address is 192.168.1.255)"],
    [{ method: 'wol', broadcast: '192.168.1' }, 'power.broadcast', 'power.broadcast: expected an IPv4 broadcast address like 192.168.1.255, got "192.168.1"'],
    [{ method: 'ipmi', address: '192.168.1.210', username: 'admin' }, 'power.password', 'power.password: required for method ipmi'],
    [{ method: 'ipmi', username: 'admin', password: 'x' }, 'power.address', 'power.address: required for method ipmi'],
    [{ ...ipmi, address: 'bmc_03' }, 'power.address', 'power.address: expected an IPv4 address or DNS name like 192.168.1.210, got "bmc_03"'],
    [{ ...ipmi, password: 'x'.repeat(21) }, 'power.password', 'power.password: at most 20 bytes (an IPMI 2.0 password; ipmitool refuses longer ones)'],
    [{ ...ipmi, username: 'u'.repeat(17) }, 'power.username', 'power.username: at most 16 bytes (an IPMI user name)'],
    [{ ...ipmi, url: 'https://192.168.1.210' }, 'power.url', 'power.url: not a setting of method ipmi (its settings: address, port, username, password)'],
    [{ method: 'manual', address: '192.168.1.210' }, 'power.address', 'power.address: not a setting of method manual (it has none)'],
    [{ method: 'redfish', url: 'http://192.168.1.211', username: 'root', password: 'calvin' }, 'power.url', 'power.url: must be https:// (the BMC password goes over it), got "http://192.168.1.211"'],
    [{ method: 'redfish', url: 'https://192.168.1.211', username: 'root', password: 'calvin', fingerprint: 'AB:CD' }, 'power.fingerprint', 'power.fingerprint: expected a SHA-256 certificate fingerprint like AB:CD:… (32 hex pairs, from `openssl x509 -noout -fingerprint -sha256` on the BMC certificate), got "AB:CD"'],
    [{ method: 'redfish', url: 'https://192.168.1.211', username: 'root', password: 'calvin', ca_file: 'bmc-ca.pem' }, 'power.ca_file', 'power.ca_file: expected an absolute path of a PEM file, got "bmc-ca.pem"'],
    [{ method: 'redfish', url: 'https://192.168.1.211', username: 'root', password: 'calvin', ca_file: '/etc/ca.pem', fingerprint: 'ab'.repeat(32) }, 'power.ca_file', 'power.ca_file: set power.fingerprint or power.ca_file, not both'],
    [{ method: 'redfish', url: 'https://192.168.1.211', username: 'root', password: 'calvin', system_id: 'Systems/1' }, 'power.system_id', 'power.system_id: expected the id of a ComputerSystem like 1 or System.Embedded.1 (no "/"), got "Systems/1"'],
    [{ method: 'proxmox', node: 'PVE_3' }, 'power.node', 'power.node: must be a DNS label: lower-case letters, digits and "-", not starting or ending with "-", got "PVE_3"'],
  ])('refuses %j with 400 naming %s, and registers nothing', async (power, field, message) => {
    await setup();
    const res = await register(power);
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toEqual({ code: 'invalid_request', field, message });
    expect(t.hosts.list()).toEqual([]);
  });

  it.each([
    [{ method: 'ipmi', address: '192.168.1.210', username: 'admin', password: 'x', port: 70000 }, 'power.port'],
    [{ method: 'telnet' }, 'power.method'],
    [{ method: 'ipmi', address: '192.168.1.210', username: 'admin', password: 'x', secret: 'y' }, 'power.secret'],
  ])('refuses %j by its schema with 400 naming %s', async (power, field) => {
    await setup();
    const res = await register(power);
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'invalid_request', field });
  });

  it('requires a broadcast address for WoL while pxe.subnet is not set', async () => {
    await setup({ powerInput: { pxeSubnet: '' } });
    const res = await register({ method: 'wol' });
    expect(res.json().error).toEqual({ code: 'invalid_request', field: 'power.broadcast', message: "power.broadcast: required while pxe.subnet is not set: the broadcast address of the host's LAN, e.g. 192.168.1.255" });
    expect((await register({ method: 'wol', broadcast: '10.0.0.255' })).statusCode).toBe(201);
  });

  it('refuses the proxmox method while the cluster API is not configured, naming the keys', async () => {
    await setup({ powerInput: { proxmoxMissing: ['proxmox.existing_node', 'proxmox.api_token (or proxmox.join_password)'] } });
    const res = await register({ method: 'proxmox' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toEqual({ code: 'invalid_request', field: 'power.method', message: 'power.method: proxmox reboots the host through the cluster API, which needs proxmox.existing_node, proxmox.api_token (or proxmox.join_password) (not set here)' });
  });
});

describe('PATCH /api/hosts/{id}', () => {
  it('changes the power settings, keeping the stored password when the body leaves it out', async () => {
    await setup();
    const id = (await register(ipmi)).json().id as number;
    const res = await patch(id, { power: { method: 'ipmi', address: '192.168.1.212', username: 'admin', port: 6230 } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id, hostname: 'pve-ms-03', power: { method: 'ipmi', address: '192.168.1.212', port: 6230, username: 'admin', password_set: true } });
    expect((await act(id, 'on')).statusCode).toBe(200);
    expect(bmc.targets.at(-1)).toEqual({ method: 'ipmi', address: '192.168.1.212', port: 6230, username: 'admin', password: bmcPassword });
  });

  it('clears the password when the method changes to one without it', async () => {
    await setup();
    const id = (await register(ipmi)).json().id as number;
    expect((await patch(id, { power: { method: 'wol' } })).json().power).toEqual({ method: 'wol', broadcast: null, port: 9 });
    const back = await patch(id, { power: { method: 'ipmi', address: '192.168.1.210', username: 'admin' } });
    expect(back.statusCode).toBe(400);
    expect(back.json().error).toEqual({ code: 'invalid_request', field: 'power.password', message: 'power.password: required for method ipmi (none is stored for this host)' });
  });

  it('sets power on a host registered without it, and records who set what (never the password)', async () => {
    await setup();
    const id = (await register()).json().id as number;
    expect((await patch(id, { power: ipmi })).json().power).toMatchObject({ method: 'ipmi', password_set: true });
    const history = t.operations.hostEvents(id).filter((e) => e.kind === 'power_settings');
    expect(history.map((e) => e.message)).toEqual(['power method of pve-ms-03 set to ipmi (admin@192.168.1.210:623, password changed) by an operator at 127.0.0.1 (open API: no server.api_token)']);
  });

  it('answers an empty body with the host unchanged, an unknown field with 400, an unknown host with 404', async () => {
    await setup();
    const id = (await register()).json().id as number;
    expect((await patch(id, {})).json()).toMatchObject({ id, power: { method: 'manual' } });
    expect((await patch(id, { hostname: 'pve-ms-99' })).json().error).toMatchObject({ code: 'invalid_request', field: 'hostname' });
    expect((await patch(999, { power: { method: 'manual' } })).json().error.code).toBe('host_not_found');
  });
});

describe('GET /api/hosts/{id}/power', () => {
  it("answers a manual host's state as unknown without asking anyone", async () => {
    await setup();
    const id = (await register()).json().id as number;
    expect((await t.app.inject({ method: 'GET', url: `/api/hosts/${id}/power` })).json()).toEqual({ method: 'manual', state: 'unknown', checked_at: null });
    expect(bmc.calls).toEqual([]);
  });

  it('reads the state from the BMC, changing nothing and recording nothing', async () => {
    await setup();
    const id = (await register(ipmi)).json().id as number;
    bmc.state = 'on';
    const res = await t.app.inject({ method: 'GET', url: `/api/hosts/${id}/power` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ method: 'ipmi', state: 'on', checked_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    expect(bmc.calls).toEqual(['status']);
    expect(powerEvents(id)).toEqual([]);
  });

  it('answers an unreachable BMC with 502 and its code and message', async () => {
    await setup();
    const id = (await register(ipmi)).json().id as number;
    bmc.failure = new PowerError('unreachable', 'pve-ms-03 (ipmi): no answer from 192.168.1.210:623 within 5s');
    const res = await t.app.inject({ method: 'GET', url: `/api/hosts/${id}/power` });
    expect(res.statusCode).toBe(502);
    expect(res.json()).toEqual({ error: { code: 'unreachable', message: 'pve-ms-03 (ipmi): no answer from 192.168.1.210:623 within 5s' } });
  });

  it('answers a WoL host without any broadcast address with 409 invalid_settings', async () => {
    await setup({ powerInput: { pxeSubnet: '' } });
    const id = (await register({ method: 'wol', broadcast: '10.0.0.255' })).json().id as number;
    t.db.prepare("UPDATE host_power SET settings = '{\"broadcast\":null,\"port\":9}' WHERE host_id = ?").run(id); // as if pxe.subnet was removed since
    const res = await t.app.inject({ method: 'GET', url: `/api/hosts/${id}/power` });
    expect(res.statusCode).toBe(409);
    expect(res.json().error).toEqual({ code: 'invalid_settings', message: 'pve-ms-03 (wol): no broadcast address: set power.broadcast or pxe.subnet' });
  });
});

describe('POST /api/hosts/{id}/power', () => {
  it.each(['on', 'off', 'cycle', 'pxe-once'])('does %s and records who, what and the result in the history', async (action) => {
    await setup();
    const id = (await register(ipmi)).json().id as number;
    const res = await act(id, action);
    expect(res.statusCode).toBe(200);
    const state = action === 'pxe-once' ? 'off' : action === 'off' ? 'off' : 'on';
    const what = { on: 'power on', off: 'power off', cycle: 'power cycle', 'pxe-once': 'one-time network boot' }[action];
    expect(res.json()).toEqual({ action, method: 'ipmi', did: `fake: ${action} sent`, state, event_id: expect.any(Number) });
    expect(bmc.calls).toEqual([`act ${action}`]);
    const [event] = powerEvents(id);
    expect(event!.operation_id).toBeNull();
    expect(event!.message).toBe(`${what} of pve-ms-03 (ipmi) by an operator at 127.0.0.1 (open API: no server.api_token): fake: ${action} sent (power ${state})`);
    expect(JSON.parse(event!.details)).toEqual({ action, method: 'ipmi', by: { kind: 'open', address: '127.0.0.1' }, result: 'ok', did: `fake: ${action} sent`, powerState: state });
  });

  it('refuses a host without power control with 409 not_configured, calling nothing', async () => {
    await setup();
    const id = (await register()).json().id as number;
    const res = await act(id, 'cycle');
    expect(res.statusCode).toBe(409);
    expect(res.json().error).toEqual({ code: 'not_configured', message: `pve-ms-03 has no power control (method manual): power it on or reboot it into network boot by hand, or set a power method (PATCH /api/hosts/${id} with power)` });
    expect(bmc.calls).toEqual([]);
  });

  it('refuses an unknown action with 400 naming it', async () => {
    await setup();
    const id = (await register(ipmi)).json().id as number;
    const res = await act(id, 'reset');
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'invalid_request', field: 'action' });
  });

  it('cycles a host in an active rebuild (a stuck installer), recording it in that rebuild', async () => {
    await setup();
    const id = (await register(ipmi)).json().id as number;
    const operation = t.operations.ensure(id, `rebuild-${id}`, 'run-stuck');
    t.hosts.transition(id, 'pxe_ready');
    expect((await act(id, 'cycle')).statusCode).toBe(200);
    const [event] = powerEvents(id);
    expect(event!.operation_id).toBe(operation.id);
    expect(event!.message).toBe(`power cycle of pve-ms-03 (ipmi) by an operator at 127.0.0.1 (open API: no server.api_token) during rebuild #${operation.id}: fake: cycle sent (power on)`);
  });

  it.each([
    ['unsupported', 409, 'pve-ms-03 (wol): Wake-on-LAN cannot power a machine off'],
    ['auth_failed', 502, 'pve-ms-03 (ipmi): the BMC refused user admin'],
    ['refused', 502, 'pve-ms-03 (ipmi): the BMC refused chassis bootdev pxe'],
  ] as const)('answers a %s failure with %i and records it as failed', async (code, status, message) => {
    await setup();
    const id = (await register(ipmi)).json().id as number;
    bmc.failure = new PowerError(code, message);
    const res = await act(id, 'off');
    expect(res.statusCode).toBe(status);
    expect(res.json()).toEqual({ error: { code, message } });
    const [event] = powerEvents(id);
    expect(event!.message).toBe(`power off of pve-ms-03 (ipmi) by an operator at 127.0.0.1 (open API: no server.api_token) failed: ${message}`);
    expect(JSON.parse(event!.details)).toMatchObject({ result: 'failed', code });
    expect(JSON.parse(event!.details).powerState).toBeUndefined();
  });

  it('answers an unexpected driver error with 500 internal, recording the failure without its text', async () => {
    await setup();
    const id = (await register(ipmi)).json().id as number;
    bmc.failure = new Error('socket hang up at 0x7f');
    const res = await act(id, 'on');
    expect(res.statusCode).toBe(500);
    expect(res.json().error.code).toBe('internal');
    expect(powerEvents(id)[0]!.message).toMatch(/power on of pve-ms-03 \(ipmi\) by .* failed: internal error \(the server log has it\)$/);
  });
});

describe('POST /api/hosts/{id}/power/test', () => {
  it("answers the driver's test outcome and records it", async () => {
    await setup();
    const id = (await register(ipmi)).json().id as number;
    const res = await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/power/test` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ action: 'test', method: 'ipmi', did: 'fake: reachable, credentials accepted, Pxe allowed', state: 'off', event_id: expect.any(Number) });
    expect(bmc.calls).toEqual(['test']);
    expect(powerEvents(id).map((e) => e.message)).toEqual(['power test of pve-ms-03 (ipmi) by an operator at 127.0.0.1 (open API: no server.api_token): fake: reachable, credentials accepted, Pxe allowed (power off)']);
  });

  it('answers wrong credentials with 502 auth_failed naming the host and the method', async () => {
    await setup();
    const id = (await register(ipmi)).json().id as number;
    bmc.failure = new PowerError('auth_failed', 'pve-ms-03 (ipmi): 192.168.1.210 refused the user admin or its password');
    const res = await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/power/test` });
    expect(res.statusCode).toBe(502);
    expect(res.json().error).toEqual({ code: 'auth_failed', message: 'pve-ms-03 (ipmi): 192.168.1.210 refused the user admin or its password' });
  });

  it('reaches the real drivers without a fake: proxmox without a cluster API is 409 not_configured, naming the host', async () => {
    bmc = new FakeBmc();
    t = await buildTestApp(); // the drivers of src/power/drivers.ts, no Proxmox API configured
    const id = (await register({ method: 'proxmox' })).json().id as number;
    const res = await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/power/test` });
    expect(res.statusCode).toBe(409);
    expect(res.json().error).toMatchObject({ code: 'not_configured', message: expect.stringMatching(/^pve-ms-03: the proxmox power method reboots through a cluster member's API/) });
    expect(powerEvents(id).map((e) => JSON.parse(e.details).code)).toEqual(['not_configured']);
  });
});

describe('who did it', () => {
  const token = 'power-token-5c1e';

  it('is the API token for a Bearer request', async () => {
    await setup({ apiToken: token });
    const auth = { authorization: `Bearer ${token}` };
    const id = (await t.app.inject({ method: 'POST', url: '/api/hosts', payload: { ...host, power: ipmi }, headers: auth })).json().id as number;
    expect((await act(id, 'on', auth)).statusCode).toBe(200);
    expect(powerEvents(id)[0]!.message).toBe('power on of pve-ms-03 (ipmi) by the API token from 127.0.0.1: fake: on sent (power on)');
  });

  it('is a dashboard session for a request with the session cookie', async () => {
    await setup({ apiToken: token });
    const login = await t.app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `token=${token}` });
    const cookie = String(login.headers['set-cookie']).split(';')[0]!;
    const csrf = /<meta name="csrf-token" content="([^"]+)">/.exec((await t.app.inject({ method: 'GET', url: '/', headers: { cookie } })).body)![1]!;
    const headers = { cookie, 'x-csrf-token': csrf };
    const id = (await t.app.inject({ method: 'POST', url: '/api/hosts', payload: { ...host, power: ipmi }, headers })).json().id as number;
    expect((await act(id, 'off', headers)).statusCode).toBe(200);
    expect(powerEvents(id)[0]!.message).toBe('power off of pve-ms-03 (ipmi) by a dashboard session from 127.0.0.1: fake: off sent (power off)');
    expect(powerEvents(id)[0]!.message).not.toContain(cookie.split('=')[1]!);
    expect((await act(id, 'off', { cookie })).statusCode).toBe(403); // no CSRF token: nothing happens
    expect(powerEvents(id)).toHaveLength(1);
  });
});

describe('the BMC password', () => {
  it('never appears in a response, the history, the log or the database file', async () => {
    await setup();
    const created = await register({ method: 'redfish', url: 'https://192.168.1.211', username: 'root', password: bmcPassword });
    const id = created.json().id as number;
    const responses = [created.body];
    responses.push((await patch(id, { power: { method: 'redfish', url: 'https://192.168.1.212', username: 'root' } })).body);
    responses.push((await act(id, 'cycle')).body);
    responses.push((await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/power/test` })).body);
    bmc.failure = new PowerError('auth_failed', 'pve-ms-03 (redfish): 401 from https://192.168.1.212');
    responses.push((await act(id, 'on')).body);
    bmc.failure = null;
    for (const url of ['/api/hosts', `/api/hosts/${id}`, `/api/hosts/${id}/power`, `/hosts/${id}`, `/hosts/${id}?fragment=1`, '/', '/docs/json']) {
      const res = await t.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      responses.push(res.body);
    }
    expect(bmc.targets.every((target) => 'password' in target && target.password === bmcPassword)).toBe(true); // the driver got it
    for (const body of responses) expect(body).not.toContain(bmcPassword);
    const history = t.db.prepare<[], { message: string; details: string | null }>('SELECT message, details FROM operation_events').all();
    expect(history.length).toBeGreaterThan(3);
    expect(JSON.stringify(history)).not.toContain(bmcPassword);
    expect(logLines.length).toBeGreaterThan(5);
    expect(logLines.join('')).not.toContain(bmcPassword);
    t.db.pragma('wal_checkpoint(TRUNCATE)');
    expect(readFileSync(t.dbPath).toString('latin1')).not.toContain(bmcPassword);
  });
});

describe('OpenAPI', () => {
  it('documents PATCH /api/hosts/{id}, the power routes, and the password as write-only', async () => {
    await setup();
    const doc = (await t.app.inject({ method: 'GET', url: '/docs/json' })).json();
    expect(Object.keys(doc.paths['/api/hosts/{id}'])).toEqual(expect.arrayContaining(['get', 'patch', 'delete']));
    expect(Object.keys(doc.paths['/api/hosts/{id}/power'])).toEqual(['get', 'post']);
    expect(Object.keys(doc.paths['/api/hosts/{id}/power/test'])).toEqual(['post']);
    const body = doc.paths['/api/hosts']['post'].requestBody.content['application/json'].schema;
    expect(body.properties.power.properties.password).toMatchObject({ type: 'string', writeOnly: true });
    expect(doc.paths['/api/hosts/{id}/power']['post'].responses['502']).toBeDefined();
  });
});
