// Real: HTTPS with certificates from our own builder, so pinning and CA checks are tested for real, against two
// peers: sushy-emulator (PyPI sushy-tools, fake driver; test/helpers/sushy-emulator.ts) and our stand-in BMC
// (test/helpers/redfish-standin.ts) for what the emulator ignores: Once consumed by the next boot, If-Match ETags, a
// system without Pxe, allowed reset types.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedfishDriver } from '../../src/power/redfish';
import { PowerError, type PowerTarget } from '../../src/power/types';
import { startRedfishStandIn, type RedfishStandIn, type RedfishStandInOptions } from '../helpers/redfish-standin';
import { Resources } from '../helpers/release';
import { startSushyEmulator, type SushyEmulator, type SushySystem } from '../helpers/sushy-emulator';
import { tempDir } from '../helpers/temp-dir';

const resources = new Resources();
afterEach(() => resources.releaseAll());

type RedfishTarget = Extract<PowerTarget, { method: 'redfish' }>;
const otherFingerprint = 'AA:'.repeat(31) + 'AA';

const peer = (p: { url: string; username: string; password: string; fingerprint: string }, overrides: Partial<RedfishTarget> = {}): RedfishTarget => ({
  method: 'redfish', url: p.url, username: p.username, password: p.password, systemId: null, fingerprint: p.fingerprint, caFile: null, ...overrides,
});
const driver = (target: RedfishTarget) => new RedfishDriver(target, { hostLabel: 'pve-ms-12', settleMs: 0, timeoutMs: 5_000 });

async function failure(p: Promise<unknown>): Promise<PowerError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(PowerError);
  return err as PowerError;
}

describe('RedfishDriver against sushy-emulator', () => {
  const emulator = async (systems?: SushySystem[]): Promise<SushyEmulator> => resources.add(await startSushyEmulator(systems), (e) => e.stop());
  const uuid = '27946b59-9e44-4fa7-8e91-f3527a1ef094';

  // One emulator for the tests that change nothing on it
  let shared: SushyEmulator;
  beforeAll(async () => {
    shared = await startSushyEmulator();
  });
  afterAll(() => shared?.stop());

  it('finds the only system, reads its power state, and tests the settings', async () => {
    const e = shared;
    const d = driver(peer(e));
    expect(await d.status()).toBe('on');
    expect(await d.test()).toEqual({ did: `Redfish: system ${uuid} answers, power On, Pxe among its boot targets`, state: 'on' });
  });

  it('sets the one-time PXE boot and sends ForceRestart to a system that is on, On to one that is off; both come back on', async () => {
    const [on, off] = await Promise.all([emulator(), emulator([{ uuid, name: 'pve-ms-12', power: 'Off' }])]);
    const [dOn, dOff] = [driver(peer(on)), driver(peer(off))];
    expect(await dOff.status()).toBe('off');
    expect((await dOn.intoInstaller()).did).toBe('Redfish: one-time PXE set, ForceRestart sent');
    expect((await dOff.intoInstaller()).did).toBe('Redfish: one-time PXE set, On sent');
    // The target was set (the emulator reports every override as Continuous and ignores Once)
    expect(await dOn.persistentOverride()).toBe(`Redfish: boot override Continuous to Pxe left on system ${uuid} (BootSourceOverrideEnabled)`);
    // The fake driver lands a power change 1–11 s after the reset: both wait at once
    await Promise.all([dOn, dOff].map((d) => expect.poll(() => d.status(), { timeout: 15_000, interval: 500 }).toBe('on')));
  }, 30_000);

  it('fails with auth_failed on a wrong password, without the password in the message', async () => {
    const e = shared;
    const err = await failure(driver(peer(e, { password: 'wrong-password' })).status());
    expect(err.code).toBe('auth_failed');
    expect(err.message).toBe(`pve-ms-12: Redfish at ${e.url}: user admin not accepted (wrong user or password): GET /redfish/v1/Systems answered 401: Incorrect username or password`);
    expect(err.message).not.toContain('wrong-password');
  });

  it('refuses a certificate other than the pinned one, naming both fingerprints', async () => {
    const e = shared;
    const err = await failure(driver(peer(e, { fingerprint: otherFingerprint })).status());
    expect(err.code).toBe('invalid_settings');
    expect(err.message).toBe(`pve-ms-12: Redfish at ${e.url}: the BMC presents certificate ${e.fingerprint}, not the configured ${otherFingerprint} (nothing was sent)`);
  });

  it('asks for the system id when the BMC has several systems, naming them', async () => {
    const e = await emulator([
      { uuid, name: 'node-a', power: 'On' },
      { uuid: '48295f5e-1d5c-4b7f-9d0a-2f8c3b1e6a77', name: 'node-b', power: 'Off' },
    ]);
    const err = await failure(driver(peer(e)).status());
    expect(err.code).toBe('invalid_settings');
    expect(err.message).toMatch(new RegExp(`^pve-ms-12: Redfish at ${e.url}: /redfish/v1/Systems lists 2 systems \\((${uuid}, 48295f5e-1d5c-4b7f-9d0a-2f8c3b1e6a77|48295f5e-1d5c-4b7f-9d0a-2f8c3b1e6a77, ${uuid})\\): set the system id of this host$`));
    expect(await driver(peer(e, { systemId: '48295f5e-1d5c-4b7f-9d0a-2f8c3b1e6a77' })).status()).toBe('off');
  });
});

describe('RedfishDriver against the stand-in BMC', () => {
  const standIn = async (options?: RedfishStandInOptions): Promise<RedfishStandIn> => resources.add(await startRedfishStandIn(options), (s) => s.close());

  it('sets Once + Pxe (UEFI) with If-Match, sends ForceRestart, and the boot uses the override up', async () => {
    const s = await standIn();
    const d = driver(peer(s));
    expect(await d.intoInstaller()).toEqual({ did: 'Redfish: one-time PXE set (UEFI), ForceRestart sent', state: 'on' });
    const patch = s.requests.find((r) => r.method === 'PATCH')!;
    expect(patch).toMatchObject({ path: '/redfish/v1/Systems/1', ifMatch: 'W/"1"', status: 204, body: { Boot: { BootSourceOverrideEnabled: 'Once', BootSourceOverrideTarget: 'Pxe', BootSourceOverrideMode: 'UEFI' } } });
    expect(s.requests.find((r) => r.method === 'POST')).toMatchObject({ path: '/redfish/v1/Systems/1/Actions/ComputerSystem.Reset', body: { ResetType: 'ForceRestart' }, status: 204 });
    const system = s.systems.get('1')!;
    expect(system.boots).toEqual(['Pxe']);
    expect(system.override).toMatchObject({ enabled: 'Disabled', target: 'None' }); // gone after the boot
    expect(await d.persistentOverride()).toBeNull();
    // The installer's reboot then boots the disk
    await d.act('cycle');
    expect(system.boots).toEqual(['Pxe', 'Hdd']);
  });

  it('powers on a system that is off with On', async () => {
    const s = await standIn({ systems: [{ id: '1', power: 'Off' }] });
    expect(await driver(peer(s)).intoInstaller()).toEqual({ did: 'Redfish: one-time PXE set (UEFI), On sent', state: 'on' });
    expect(s.systems.get('1')!.boots).toEqual(['Pxe']);
  });

  it('picks the reset type from the allowed values', async () => {
    const s = await standIn({ systems: [{ id: '1', allowedResets: ['On', 'ForceOff', 'PowerCycle'], allowedModes: null }] });
    expect((await driver(peer(s)).intoInstaller()).did).toBe('Redfish: one-time PXE set, PowerCycle sent');
    expect(s.requests.find((r) => r.method === 'PATCH')!.body).toEqual({ Boot: { BootSourceOverrideEnabled: 'Once', BootSourceOverrideTarget: 'Pxe' } });
  });

  it('fails with unsupported when Pxe is not among the allowed boot targets, and changes nothing', async () => {
    const s = await standIn({ systems: [{ id: '1', allowedTargets: ['None', 'Hdd', 'Cd'] }] });
    const d = driver(peer(s));
    for (const call of [() => d.intoInstaller(), () => d.test(), () => d.act('pxe-once')]) {
      const err = await failure(call());
      expect(err.code).toBe('unsupported');
      expect(err.message).toBe(`pve-ms-12: Redfish at ${s.url}: system 1 cannot network-boot: its allowed boot targets are None, Hdd, Cd, without Pxe`);
    }
    expect(s.requests.filter((r) => r.method !== 'GET')).toEqual([]);
  });

  it('fails with refused naming the 412 when the BMC wants If-Match but gives no ETag, and sends no reset', async () => {
    const s = await standIn({ systems: [{ id: '1', etag: 'hidden' }] });
    const err = await failure(driver(peer(s)).intoInstaller());
    expect(err.code).toBe('refused');
    expect(err.message).toBe(`pve-ms-12: Redfish at ${s.url}: PATCH /redfish/v1/Systems/1 without If-Match (the BMC gave no ETag for the system) answered 412 Precondition Failed: The request requires an If-Match header with the ETag of the resource.`);
    expect(s.requests.some((r) => r.method === 'POST')).toBe(false);
  });

  it('reads the ETag again once when it changed since the read', async () => {
    const s = await standIn({ systems: [{ id: '1', staleEtagOnce: true }] });
    expect((await driver(peer(s)).intoInstaller()).did).toBe('Redfish: one-time PXE set (UEFI), ForceRestart sent');
    expect(s.requests.filter((r) => r.method === 'PATCH').map((r) => r.status)).toEqual([412, 204]);
  });

  it('sends no If-Match to a BMC without ETags', async () => {
    const s = await standIn({ systems: [{ id: '1', etag: 'none' }] });
    await driver(peer(s)).act('pxe-once');
    expect(s.requests.find((r) => r.method === 'PATCH')).toMatchObject({ ifMatch: null, status: 204 });
  });

  it('reports a Continuous override left behind', async () => {
    const s = await standIn({ systems: [{ id: '1', override: { enabled: 'Continuous', target: 'Pxe' } }] });
    expect(await driver(peer(s)).persistentOverride()).toBe('Redfish: boot override Continuous to Pxe left on system 1 (BootSourceOverrideEnabled)');
  });

  it('acts on operator requests: off, on, and cycle of a system that is off sends On', async () => {
    const s = await standIn();
    const d = driver(peer(s));
    expect(await d.act('off')).toEqual({ did: 'Redfish: ForceOff sent', state: 'off' });
    expect(await d.act('off')).toEqual({ did: 'Redfish: already off, nothing sent', state: 'off' });
    expect(await d.act('cycle')).toEqual({ did: 'Redfish: On sent', state: 'on' });
    expect(await d.act('on')).toEqual({ did: 'Redfish: already on, nothing sent', state: 'on' });
    expect(await d.act('pxe-once')).toEqual({ did: 'Redfish: one-time PXE set (UEFI); the next boot takes it', state: 'on' });
    expect(s.systems.get('1')!.override).toMatchObject({ enabled: 'Once', target: 'Pxe' });
  });

  it('fails with auth_failed on a wrong password', async () => {
    const s = await standIn();
    const err = await failure(driver(peer(s, { password: 'nope' })).status());
    expect(err.code).toBe('auth_failed');
    expect(err.message).toMatch(/user admin not accepted \(wrong user or password\): GET \/redfish\/v1\/Systems answered 401: There are insufficient privileges/);
  });

  it('finds the system id when there is one, and asks for it when there are several', async () => {
    const s = await standIn({ systems: [{ id: 'System.Embedded.1' }, { id: 'System.Embedded.2', power: 'Off' }] });
    const err = await failure(driver(peer(s)).status());
    expect(err).toMatchObject({ code: 'invalid_settings', message: `pve-ms-12: Redfish at ${s.url}: /redfish/v1/Systems lists 2 systems (System.Embedded.1, System.Embedded.2): set the system id of this host` });
    expect(await driver(peer(s, { systemId: 'System.Embedded.2' })).status()).toBe('off');
    const err404 = await failure(driver(peer(s, { systemId: 'System.Embedded.9' })).status());
    expect(err404.code).toBe('invalid_settings');
  });

  it('verifies the certificate against a CA file instead of a pin', async () => {
    const s = await standIn();
    const dir = resources.add(tempDir(), async (d) => d.remove());
    const ca = join(dir.path, 'ca.pem');
    writeFileSync(ca, s.certificate);
    expect(await driver(peer(s, { fingerprint: null, caFile: ca })).status()).toBe('on');
    const wrong = await failure(driver(peer(s, { fingerprint: null, caFile: join(dir.path, 'missing.pem') })).status());
    expect(wrong.code).toBe('invalid_settings');
  });

  it('refuses to talk without a pin or a CA file', async () => {
    const s = await standIn();
    const err = await failure(driver(peer(s, { fingerprint: null })).status());
    expect(err).toMatchObject({ code: 'invalid_settings', message: `pve-ms-12: Redfish at ${s.url}: set the BMC certificate's SHA-256 fingerprint or a CA file; the password is not sent to a BMC that cannot be authenticated` });
    expect(s.requests).toEqual([]);
  });

  it('fails with unreachable when nothing listens', async () => {
    const s = await standIn();
    const target = peer(s);
    await s.close();
    const err = await failure(driver(target).status());
    expect(err.code).toBe('unreachable');
    expect(err.message).toMatch(new RegExp(`^pve-ms-12: Redfish at ${s.url}: connect ECONNREFUSED`));
  });
});
