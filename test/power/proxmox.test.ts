// Real: the driver's ProxmoxApi over HTTPS (pinned) against the stand-in Proxmox API (test/helpers/
// proxmox-api-standin.ts): a three-node cluster lab (pve1 answers, pve2 and pve3 members) whose reboot and
// shutdown mark the node offline, with API tokens of either privilege list and root@pam tickets.
import { afterEach, describe, expect, it } from 'vitest';
import { ProxmoxApi } from '../../src/proxmox/api-client';
import { ProxmoxPowerDriver } from '../../src/power/proxmox';
import { PowerError } from '../../src/power/types';
import { auditorToken, operatorToken, startProxmoxApiStandIn, type ApiToken, type ProxmoxApiStandIn, type ProxmoxApiStandInOptions } from '../helpers/proxmox-api-standin';
import { Resources } from '../helpers/release';

const resources = new Resources();
afterEach(() => resources.releaseAll());

async function standIn(options: ProxmoxApiStandInOptions = {}): Promise<ProxmoxApiStandIn> {
  return resources.add(await startProxmoxApiStandIn(options), (s) => s.close());
}
const apiOf = (s: ProxmoxApiStandIn, o: { token?: ApiToken; rootPassword?: string | null; fingerprint?: string } = {}) => {
  const token = o.token ?? operatorToken;
  return new ProxmoxApi({ host: '127.0.0.1', port: s.port, fingerprint: o.fingerprint ?? s.fingerprint, apiToken: `${token.id}=${token.secret}`, rootPassword: o.rootPassword ?? null, timeoutMs: 5_000 });
};
const driver = (api: ProxmoxApi, node = 'pve2') => new ProxmoxPowerDriver({ method: 'proxmox', node }, api, 'pve2.lab');

async function failure(p: Promise<unknown>): Promise<PowerError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(PowerError);
  return err as PowerError;
}

describe('ProxmoxPowerDriver', () => {
  it('reads the power state from the cluster: online is on', async () => {
    const s = await standIn();
    const d = driver(apiOf(s));
    expect(await d.status()).toBe('on');
    s.cluster.nodes.find((n) => n.name === 'pve2')!.online = false;
    expect(await d.status()).toBe('off');
  });

  it('reboots the node through the member it talks to, and says the machine must network-boot', async () => {
    const rebooted: string[] = [];
    const s = await standIn({ onReboot: (node) => rebooted.push(node) });
    const d = driver(apiOf(s));
    expect(await d.intoInstaller()).toEqual({ did: `Proxmox API: reboot of pve2 sent through 127.0.0.1:${s.port}; the machine must network-boot first`, state: 'on' });
    await expect.poll(() => rebooted).toEqual(['pve2']);
    expect(await d.status()).toBe('off'); // the stand-in's node is down while it reboots
    expect(s.requests.some((r) => r.method === 'POST' && r.path === '/api2/json/nodes/pve2/status' && r.status === 200)).toBe(true);
    expect(await d.persistentOverride()).toBeNull();
  });

  it('falls back to the root@pam ticket when the token lacks Sys.PowerMgmt', async () => {
    const s = await standIn();
    await driver(apiOf(s, { token: auditorToken, rootPassword: 'join-password' })).intoInstaller();
    expect(s.requests.find((r) => r.path === '/api2/json/nodes/pve2/status' && r.status === 200)?.auth).toBe('ticket');
  });

  it('fails with auth_failed when the token lacks Sys.PowerMgmt and there is no root password', async () => {
    const s = await standIn();
    const err = await failure(driver(apiOf(s, { token: auditorToken })).intoInstaller());
    expect(err.code).toBe('auth_failed');
    expect(err.message).toBe(`pve2.lab: Proxmox API reboot of pve2: POST /nodes/pve2/status on 127.0.0.1:${s.port} answered 403: Permission check failed (/nodes/pve2, Sys.PowerMgmt)`);
  });

  it('shuts the node down for off, and refuses on and pxe-once as unsupported', async () => {
    const s = await standIn();
    const d = driver(apiOf(s));
    expect(await d.act('off')).toEqual({ did: `Proxmox API: shutdown of pve2 sent through 127.0.0.1:${s.port}`, state: 'off' });
    expect(s.cluster.nodes.find((n) => n.name === 'pve2')!.online).toBe(false);
    for (const action of ['on', 'pxe-once'] as const) {
      const err = await failure(d.act(action));
      expect(err.code).toBe('unsupported');
    }
  });

  it('shuts the node down with the root@pam ticket when the token lacks Sys.PowerMgmt', async () => {
    const s = await standIn();
    expect(await driver(apiOf(s, { token: auditorToken, rootPassword: 'join-password' })).act('off')).toEqual({ did: `Proxmox API: shutdown of pve2 sent through 127.0.0.1:${s.port}`, state: 'off' });
    expect(s.cluster.nodes.find((n) => n.name === 'pve2')!.online).toBe(false);
    expect(s.requests.filter((r) => r.method === 'POST').map((r) => [r.path, r.auth, r.status])).toEqual([
      ['/api2/json/nodes/pve2/status', 'token', 403],
      ['/api2/json/access/ticket', 'none', 200],
      ['/api2/json/nodes/pve2/status', 'ticket', 200],
    ]);
  });

  it('fails off with auth_failed naming the host and the method when the token lacks Sys.PowerMgmt and there is no root password', async () => {
    const s = await standIn();
    const err = await failure(driver(apiOf(s, { token: auditorToken })).act('off'));
    expect(err.code).toBe('auth_failed');
    expect(err.message).toBe(`pve2.lab: Proxmox API shutdown of pve2: POST /nodes/pve2/status on 127.0.0.1:${s.port} answered 403: Permission check failed (/nodes/pve2, Sys.PowerMgmt)`);
    expect(s.cluster.nodes.find((n) => n.name === 'pve2')!.online).toBe(true);
  });

  it('refuses to reboot a node the cluster sees offline', async () => {
    const s = await standIn();
    s.cluster.nodes.find((n) => n.name === 'pve2')!.online = false;
    const err = await failure(driver(apiOf(s)).intoInstaller());
    expect(err.code).toBe('refused');
    expect(err.message).toBe(`pve2.lab: Proxmox API at 127.0.0.1:${s.port}: pve2 is offline in the cluster, so the API cannot reach it; power it on by hand or give the host IPMI or Redfish`);
  });

  it('tests the settings: the node is a member, online', async () => {
    const s = await standIn();
    expect(await driver(apiOf(s)).test()).toEqual({ did: `Proxmox API: pve2 is online in cluster lab (through 127.0.0.1:${s.port})`, state: 'on' });
    const err = await failure(driver(apiOf(s), 'pve9').test());
    expect(err).toMatchObject({ code: 'invalid_settings', message: `pve2.lab: Proxmox API at 127.0.0.1:${s.port}: pve9 is not a member of cluster lab (members: pve1, pve2, pve3)` });
  });

  it('fails with invalid_settings when the member presents another certificate', async () => {
    const s = await standIn();
    const err = await failure(driver(apiOf(s, { fingerprint: 'AA:'.repeat(31) + 'AA' })).status());
    expect(err.code).toBe('invalid_settings');
    expect(err.message).toContain(`presents certificate ${s.fingerprint}`);
  });
});
