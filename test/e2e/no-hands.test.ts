// From "rebuild" to "ready" with nobody at the machine (issue 17): the rebuild powers the host into the installer with
// its power method, and a simulated machine starts only when its "BMC" says so: it PXE boots on the Redfish stand-in's
// boot with the one-time override, on ipmi_sim's power-on with boot device pxe (real ipmitool), on the magic packet
// (real UDP). Then it walks the real install order (iPXE script, answer, webhook, first boot) and the worker joins it
// over SSH to the sshd stand-in. A machine can also hang (in firmware, or in the installer after its answer): a stage
// timeout is then cured by a power-cycle retry, never after `installed`. Real: Temporal, worker, SQLite, Fastify, sshd.
import { createSocket } from 'node:dgram';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { rebuildWorkflowId } from '../../src/domain/rebuild-ids';
import type { RebuildTimeouts } from '../../src/domain/rebuild';
import { powerDriver as realPowerDriver } from '../../src/power/drivers';
import { magicPacket } from '../../src/power/wol';
import { freePort } from '../setup/temporal-dev-server';
import { ipmiSimCipherSuite, startIpmiSim, type IpmiSim } from '../helpers/ipmi-sim';
import { startRedfishStandIn, type RedfishStandIn } from '../helpers/redfish-standin';
import { Resources } from '../helpers/release';
import { pxeAndInstall, reportInstalled, runFirstBoot } from '../helpers/simulated-host';
import { startStandInNode, type StandInNode } from '../helpers/sshd-node';
import { buildTestApp, shortTimeouts, type TestApp } from '../helpers/test-app';
import { startTestWorker } from '../helpers/test-worker';
import { waitForEvent } from '../helpers/wait-for';

const resources = new Resources();
afterEach(() => resources.releaseAll());
const password = 'peer-root-pw-nohands';
const mac = 'b4:2e:99:ac:ad:c7';

/** What the machine does on each boot, in order: the whole install, or hang somewhere (the last entry repeats). */
type BootBehaviour = 'install' | 'hang-in-firmware' | 'hang-in-installer' | 'install-no-first-boot';

/** A bare-metal machine that does nothing until it is booted, then what its plan says for that boot. */
class Machine {
  boots = 0;
  private running: Promise<void> = Promise.resolve();
  private error: unknown = null;

  constructor(
    private readonly lab: Lab,
    private readonly plan: BootBehaviour[],
  ) {}

  /** The firmware starts: booting from the network (or from disk, where nothing happens). */
  boot(device: 'network' | 'disk'): void {
    if (device === 'disk') return;
    const behaviour = this.plan[Math.min(this.boots, this.plan.length - 1)]!;
    this.boots++;
    this.running = this.running.then(() => this.run(behaviour)).catch((err: unknown) => void (this.error ??= err));
  }

  /** Fails the test with what went wrong inside the machine, if anything did. */
  async settled(): Promise<void> {
    await this.running;
    if (this.error) throw this.error;
  }

  private async run(behaviour: BootBehaviour): Promise<void> {
    const { publicUrl, node, t } = this.lab;
    if (behaviour === 'hang-in-firmware') return; // a firmware that never gets to its PXE request
    if (behaviour === 'hang-in-installer') {
      await pxeAndInstall(publicUrl, mac, node); // fetched its answer, then sits at the installer's console
      return;
    }
    const trace = await pxeAndInstall(publicUrl, mac, node);
    const status = await reportInstalled(trace, mac, node);
    if (status !== 200) throw new Error(`the installer's webhook answered ${status}`);
    if (behaviour === 'install-no-first-boot') return;
    const firstBoot = await runFirstBoot(trace, t.dir);
    if (firstBoot.code !== 0) throw new Error(`first boot failed: ${firstBoot.output}`);
  }
}

interface Lab {
  t: TestApp;
  node: StandInNode;
  publicUrl: string;
}

async function startLab(timeouts: Partial<RebuildTimeouts> = {}): Promise<Lab> {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const t = resources.add(
    await buildTestApp({
      publicUrl,
      timeouts: { ...shortTimeouts, join: '30s', ...timeouts },
      // Loopback has no broadcast: the WoL host sends its packet to 127.0.0.1 (the broadcast itself: test/power/wol.test.ts).
      powerInput: { pxeSubnet: '' },
      powerDriver: (target, host) => realPowerDriver(target, { hostLabel: host.hostname, pxeSubnet: null, ipmi: { cipherSuite: ipmiSimCipherSuite, requestTimeoutS: 1, retries: 1 } }),
    }),
    (a) => a.close(),
  );
  const node = resources.add(await startStandInNode(password), (n) => n.stop());
  resources.add(await startTestWorker(t, { join: { password, sshPort: node.port, layout: node.layout } }), (w) => w.stop());
  mkdirSync(join(t.images.dir, 'pve-9.1'));
  for (const f of ['vmlinuz', 'initrd.img', 'proxmox-ve_9.1-auto-from-http.iso']) writeFileSync(join(t.images.dir, 'pve-9.1', f), `contents of ${f}`);
  await t.app.listen({ host: '127.0.0.1', port });
  return { t, node, publicUrl };
}

/** Registers the host with `power`, starts its rebuild and returns the workflow's result. */
async function rebuild(lab: Lab, power: Record<string, unknown>): Promise<{ id: number; result: { state: string; failure: { stage: string; reason: string; message: string } | null } }> {
  const id = await startRebuild(lab, power);
  const result = await lab.t.client.workflow.getHandle(rebuildWorkflowId(id)).result();
  return { id, result };
}

/** Registers the host with `power` and starts its rebuild; returns the host id. */
async function startRebuild(lab: Lab, power: Record<string, unknown>): Promise<number> {
  const registered = await lab.t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname: 'pve-ms-07', mac, server_type: 'minisforum-ms-01', power } });
  expect(registered.statusCode, registered.body).toBe(201);
  const id: number = registered.json().id;
  const started = await lab.t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild` });
  expect(started.statusCode, started.body).toBe(202);
  return id;
}

const eventsOf = (t: TestApp, id: number, kind: string) => t.operations.listForHost(id).flatMap((o) => t.operations.events(o.id)).filter((e) => e.kind === kind);

async function redfishMachine(lab: Lab, plan: BootBehaviour[]): Promise<{ bmc: RedfishStandIn; machine: Machine }> {
  const machine = new Machine(lab, plan);
  const bmc = resources.add(await startRedfishStandIn({ systems: [{ id: '1', power: 'Off' }], onBoot: (_s, device) => machine.boot(device === 'Pxe' ? 'network' : 'disk') }), (b) => b.close());
  return { bmc, machine };
}

const redfishPower = (bmc: RedfishStandIn) => ({ method: 'redfish', url: bmc.url, username: bmc.username, password: bmc.password, fingerprint: bmc.fingerprint });

describe('a rebuild with nobody at the machine', () => {
  it('Redfish: one-time PXE and power on bring the machine to the installer; the Once override is used up', async () => {
    const lab = await startLab();
    const { bmc, machine } = await redfishMachine(lab, ['install']);
    const { id, result } = await rebuild(lab, redfishPower(bmc));
    await machine.settled();
    expect(result).toMatchObject({ state: 'ready', failure: null });
    expect(machine.boots).toBe(1);
    const system = bmc.systems.get('1')!;
    expect(system.boots).toEqual(['Pxe']);
    expect(system.override.enabled).toBe('Disabled');
    const [power, ...more] = eventsOf(lab.t, id, 'power');
    expect(more).toEqual([]);
    expect(power!.message).toMatch(/^power into the installer of pve-ms-07 \(redfish\) by the rebuild #\d+, to start the install: Redfish: one-time PXE set.*\(power on\)$/);
    expect(power!.details).toMatchObject({ action: 'into-installer', method: 'redfish', by: { kind: 'rebuild' }, result: 'ok', powerState: 'on' });
    expect(eventsOf(lab.t, id, 'boot_override_checked').map((e) => e.message)).toEqual(['pve-ms-07 (redfish): no boot override left after the install; it boots by its own boot order']);
    expect(lab.node.pvecmArgs()).toHaveLength(1);
    // The BMC password is in no workflow history (the Web UI shows them) and no event.
    const encoded = JSON.stringify((await lab.t.client.workflow.getHandle(rebuildWorkflowId(id)).fetchHistory()).events);
    const history = encoded.replace(/"data":"([A-Za-z0-9+/=]*)"/g, (_, data: string) => Buffer.from(data, 'base64').toString()); // payloads as the Web UI shows them
    expect(history).toContain('"redfish"');
    expect(history).not.toContain(bmc.password);
    expect(JSON.stringify(lab.t.operations.listForHost(id).flatMap((o) => lab.t.operations.events(o.id)))).not.toContain(bmc.password);
  }, 90_000);

  it('IPMI: the real ipmitool sets boot device pxe and powers the machine on through ipmi_sim', async () => {
    const lab = await startLab();
    const bmc = resources.add(await startIpmiSim({ power: 'off' }), (b) => b.stop());
    const machine = new Machine(lab, ['install']);
    // The machine starts when ipmi_sim's chassis turns its power on, from the device the BMC passes on.
    const watch = watchIpmiPowerOn(bmc, (device) => machine.boot(device === 'pxe' ? 'network' : 'disk'));
    const { id, result } = await rebuild(lab, { method: 'ipmi', address: bmc.address, port: bmc.port, username: bmc.username, password: bmc.password });
    clearInterval(watch);
    await machine.settled();
    expect(result).toMatchObject({ state: 'ready', failure: null });
    expect(bmc.calls().filter((c) => c.startsWith('set'))).toEqual(['set boot pxe', 'set power 1']);
    expect(machine.boots).toBe(1);
    expect(eventsOf(lab.t, id, 'power').map((e) => e.message)).toEqual([expect.stringMatching(/\(ipmi\) by the rebuild #\d+, to start the install: IPMI: one-time PXE boot set.*\(power on\)$/)]);
    expect(eventsOf(lab.t, id, 'boot_override_checked')).toHaveLength(1);
  }, 90_000);

  it('Wake-on-LAN: the magic packet wakes the machine, which then network-boots', async () => {
    const lab = await startLab();
    const machine = new Machine(lab, ['install']);
    const listener = createSocket('udp4');
    await new Promise<void>((resolve) => listener.bind(0, '127.0.0.1', resolve));
    resources.add(listener, (l) => new Promise<void>((resolve) => l.close(() => resolve())));
    let on = false;
    listener.on('message', (packet) => {
      // Powered off, its NIC listens for its own magic packet; once on, it ignores the repeats.
      if (on || !packet.equals(magicPacket(mac))) return;
      on = true;
      machine.boot('network');
    });
    const { id, result } = await rebuild(lab, { method: 'wol', broadcast: '127.0.0.1', port: listener.address().port });
    await machine.settled();
    expect(result).toMatchObject({ state: 'ready', failure: null });
    expect(machine.boots).toBe(1);
    expect(eventsOf(lab.t, id, 'power').map((e) => e.message)).toEqual([expect.stringMatching(/\(wol\) by the rebuild #\d+, to start the install: Wake-on-LAN: magic packet sent 3 times to 127\.0\.0\.1:\d+$/)]);
    expect(eventsOf(lab.t, id, 'boot_override_checked')).toEqual([]); // nothing to check: WoL sets no boot device
  }, 90_000);

  it('fails at once with power_failed when the BMC refuses the credentials, naming the host and the method', async () => {
    const lab = await startLab();
    const bmc = resources.add(await startIpmiSim({ power: 'off' }), (b) => b.stop());
    const { id, result } = await rebuild(lab, { method: 'ipmi', address: bmc.address, port: bmc.port, username: bmc.username, password: 'not-the-password' });
    expect(result).toMatchObject({ state: 'failed', failure: { stage: 'pxe_ready', reason: 'power_failed', message: expect.stringMatching(/^could not power pve-ms-07 into the installer \(ipmi\): pve-ms-07: /) } });
    expect(eventsOf(lab.t, id, 'power').map((e) => e.details)).toEqual([expect.objectContaining({ result: 'failed', code: 'auth_failed' })]);
    expect(lab.t.hosts.get(id).state).toBe('failed');
    expect(lab.t.pxeAllowList.list()).toEqual([]);
    expect(bmc.calls().filter((c) => c.startsWith('set'))).toEqual([]);
  }, 90_000);
});

describe('a stuck stage retried by power', () => {
  it('power-cycles a machine that hung in firmware back into the installer, and it installs', async () => {
    const lab = await startLab({ pxeBoot: '4s' });
    const { bmc, machine } = await redfishMachine(lab, ['hang-in-firmware', 'install']);
    const { id, result } = await rebuild(lab, redfishPower(bmc));
    await machine.settled();
    expect(result).toMatchObject({ state: 'ready', failure: null });
    expect(bmc.systems.get('1')!.boots).toEqual(['Pxe', 'Pxe']);
    expect(eventsOf(lab.t, id, 'power_retry').map((e) => e.message)).toEqual([`pxe_ready timed out (no PXE request from ${mac} within 4s): power-cycling into the installer, retry 1 of 2`]);
    expect(eventsOf(lab.t, id, 'power').map((e) => e.message)).toEqual([
      expect.stringContaining('to start the install: Redfish: one-time PXE set'),
      expect.stringContaining('retry 1 of 2: pxe_ready timed out: Redfish: one-time PXE set'),
    ]);
  }, 90_000);

  it('starts the install again when the installer hangs after its answer, and the one machine still joins', async () => {
    const lab = await startLab({ install: '5s' });
    const { bmc, machine } = await redfishMachine(lab, ['hang-in-installer', 'install']);
    const { id, result } = await rebuild(lab, redfishPower(bmc));
    await machine.settled();
    expect(result).toMatchObject({ state: 'ready', failure: null });
    // The host went back to pxe_ready, so its next boot got the installer and the answer again.
    expect(eventsOf(lab.t, id, 'power_retry').map((e) => e.details)).toEqual([{ attempt: 1, of: 2, stage: 'installing', reason: `no post-installation webhook from ${mac} within 5s of serving its answer file` }]);
    expect(eventsOf(lab.t, id, 'answer_served')).toHaveLength(2);
    // Served twice, but once since the power cycle: the join trusts the installer of the last boot.
    expect(lab.node.pvecmArgs()).toHaveLength(1);
    const states = eventsOf(lab.t, id, 'state').map((e) => e.state);
    expect(states).toEqual(['pxe_ready', 'pxe_booted', 'installing', 'pxe_booted', 'installing', 'installed', 'first_boot', 'joining', 'ready']);
  }, 90_000);

  it('fails as before when the retries are used up, each retry in the history', async () => {
    const lab = await startLab({ pxeBoot: '3s', powerRetries: 1 });
    const { bmc, machine } = await redfishMachine(lab, ['hang-in-firmware']);
    const { id, result } = await rebuild(lab, redfishPower(bmc));
    await machine.settled();
    expect(result).toMatchObject({ state: 'failed', failure: { stage: 'pxe_ready', reason: 'stage_timeout', message: `no PXE request from ${mac} within 3s` } });
    expect(machine.boots).toBe(2);
    expect(eventsOf(lab.t, id, 'power_retry').map((e) => e.details?.attempt)).toEqual([1]);
    expect(eventsOf(lab.t, id, 'power')).toHaveLength(2);
  }, 90_000);

  it('never power-cycles after installed: a missing phone-home fails the rebuild', async () => {
    const lab = await startLab({ phoneHome: '3s' });
    const { bmc, machine } = await redfishMachine(lab, ['install-no-first-boot']);
    const { id, result } = await rebuild(lab, redfishPower(bmc));
    await machine.settled();
    expect(result).toMatchObject({ state: 'failed', failure: { stage: 'installed', reason: 'stage_timeout' } });
    expect(eventsOf(lab.t, id, 'power_retry')).toEqual([]);
    expect(eventsOf(lab.t, id, 'power')).toHaveLength(1);
    expect(bmc.systems.get('1')!.boots).toEqual(['Pxe']);
  }, 90_000);
});

// Runs an upgrade meets: each test leaves a powered rebuild open at a wait (`npm run histories:record` writes them as
// `…--open-at-<state>.json` for the replay suite); the stage timeouts here are far beyond the test.
describe('a powered rebuild left open', () => {
  it('waits for the PXE boot after powering the machine into the installer', async () => {
    const lab = await startLab({ pxeBoot: '10m' });
    const { bmc } = await redfishMachine(lab, ['hang-in-firmware']);
    const id = await startRebuild(lab, redfishPower(bmc));
    await waitForEvent(lab.t.operations, id, (e) => e.kind === 'power');
    expect(lab.t.hosts.get(id).state).toBe('pxe_ready');
    expect(bmc.systems.get('1')!.boots).toEqual(['Pxe']);
  }, 60_000);

  it('waits for the PXE boot again after a power-cycle retry', async () => {
    const lab = await startLab({ pxeBoot: '3s', powerRetries: 2 });
    const { bmc } = await redfishMachine(lab, ['hang-in-firmware', 'hang-in-firmware', 'hang-in-firmware']);
    const id = await startRebuild(lab, redfishPower(bmc));
    await waitForEvent(lab.t.operations, id, (e) => e.kind === 'power' && e.message.includes('retry 1 of 2'));
    expect(lab.t.hosts.get(id).state).toBe('pxe_ready');
    expect(eventsOf(lab.t, id, 'power_retry')).toHaveLength(1);
  }, 60_000);

  it('waits for the phone-home after the boot override was checked', async () => {
    const lab = await startLab({ phoneHome: '10m' });
    const { bmc, machine } = await redfishMachine(lab, ['install-no-first-boot']);
    const id = await startRebuild(lab, redfishPower(bmc));
    await waitForEvent(lab.t.operations, id, (e) => e.kind === 'boot_override_checked');
    await machine.settled();
    expect(lab.t.hosts.get(id).state).toBe('installed');
  }, 60_000);
});

/** Calls `onPowerOn` with the boot device each time ipmi_sim's chassis is powered on (its call log gains "set power 1"). */
function watchIpmiPowerOn(bmc: IpmiSim, onPowerOn: (device: string) => void): NodeJS.Timeout {
  let seen = 0;
  return setInterval(() => {
    const ons = bmc.calls().filter((c) => c === 'set power 1').length;
    for (; seen < ons; seen++) onPowerOn(bmc.bootDevice());
  }, 50);
}
