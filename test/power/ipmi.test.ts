// Real: Debian's ipmitool against Debian's ipmi_sim (a LAN-protocol BMC) on a loopback UDP port
// (test/helpers/ipmi-sim.ts); the "machine" behind it is the sim's chassis_control script. Nothing is faked.
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { IpmiDriver, defaultIpmitool, ipmitoolInvocation, persistentBootFlag, type IpmiOptions } from '../../src/power/ipmi';
import { PowerError, type PowerTarget } from '../../src/power/types';
import { ipmiSimCipherSuite, startIpmiSim, type IpmiSim } from '../helpers/ipmi-sim';
import { Resources } from '../helpers/release';
import { tempDir } from '../helpers/temp-dir';

const resources = new Resources();
afterEach(() => resources.releaseAll());

type IpmiTarget = Extract<PowerTarget, { method: 'ipmi' }>;

async function sim(power: 'on' | 'off' = 'on'): Promise<IpmiSim> {
  return resources.add(await startIpmiSim({ power }), (s) => s.stop());
}
const targetOf = (s: IpmiSim, overrides: Partial<IpmiTarget> = {}): IpmiTarget => ({
  method: 'ipmi', address: s.address, port: s.port, username: s.username, password: s.password, ...overrides,
});
const driver = (target: IpmiTarget, o: Partial<IpmiOptions> = {}) => new IpmiDriver(target, { hostLabel: 'pve-ms-12', requestTimeoutS: 1, retries: 1, cipherSuite: ipmiSimCipherSuite, ...o });

async function failure(p: Promise<unknown>): Promise<PowerError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(PowerError);
  return err as PowerError;
}

describe('IpmiDriver', () => {
  it('reads the power state without changing it', async () => {
    const bmc = await sim('on');
    // As in production: ipmitool picks the cipher suite itself (ipmi_sim does not answer the query: 1 s more)
    expect(await driver(targetOf(bmc), { cipherSuite: undefined }).status()).toBe('on');
    const off = await sim('off');
    expect(await driver(targetOf(off)).status()).toBe('off');
    expect(bmc.calls().filter((c) => c.startsWith('set'))).toEqual([]);
  });

  it('sets a one-time PXE boot and power-cycles a machine that is on', async () => {
    const bmc = await sim('on');
    const outcome = await driver(targetOf(bmc)).intoInstaller();
    expect(outcome).toEqual({ did: 'IPMI: one-time PXE boot set (UEFI), power cycle sent', state: 'on' });
    expect(bmc.bootDevice()).toBe('pxe');
    const sets = bmc.calls().filter((c) => c.startsWith('set'));
    expect(sets).toEqual(['set boot pxe', 'set power 0', 'set power 1']); // the cycle: off, then on after 1 s
    expect(bmc.power()).toBe('on');
  });

  it('sets a one-time PXE boot and powers on a machine that is off', async () => {
    const bmc = await sim('off');
    const outcome = await driver(targetOf(bmc)).intoInstaller();
    expect(outcome).toEqual({ did: 'IPMI: one-time PXE boot set (UEFI), power on sent (it was off)', state: 'on' });
    expect(bmc.power()).toBe('on');
    expect(bmc.calls().filter((c) => c.startsWith('set'))).toEqual(['set boot pxe', 'set power 1']);
  });

  it('acts on an operator request: off, on, pxe-once, and cycle of a machine that is off powers it on', async () => {
    const bmc = await sim('on');
    const d = driver(targetOf(bmc));
    expect(await d.act('off')).toEqual({ did: 'IPMI: power off sent', state: 'off' });
    expect(bmc.power()).toBe('off');
    expect(await d.act('cycle')).toEqual({ did: 'IPMI: power on sent (it was off)', state: 'on' });
    expect(await d.act('pxe-once')).toEqual({ did: 'IPMI: one-time PXE boot set (UEFI); the next boot takes it', state: 'on' });
    expect(bmc.bootDevice()).toBe('pxe');
    await d.act('off');
    expect(await d.act('on')).toEqual({ did: 'IPMI: power on sent', state: 'on' });
  });

  it('tests the settings by reading the power state and the boot flags only', async () => {
    const bmc = await sim('off');
    const outcome = await driver(targetOf(bmc)).test();
    expect(outcome).toEqual({ did: `IPMI: BMC at 127.0.0.1:${bmc.port} accepts user admin, power is off, boot flags readable`, state: 'off' });
    expect(bmc.calls().filter((c) => c.startsWith('set'))).toEqual([]);
    expect(bmc.power()).toBe('off');
  });

  it('reports no persistent boot override after a one-time PXE boot', async () => {
    const bmc = await sim('on');
    const d = driver(targetOf(bmc));
    await d.act('pxe-once');
    expect(await d.persistentOverride()).toBeNull();
  });

  it('fails with auth_failed naming the BMC and the method when the password is wrong', async () => {
    const bmc = await sim();
    const err = await failure(driver(targetOf(bmc, { password: 'not-the-password' })).status());
    expect(err.code).toBe('auth_failed');
    expect(err.message).toBe(`pve-ms-12: IPMI at 127.0.0.1:${bmc.port}: user admin not accepted (wrong password): RAKP 2 HMAC is invalid; Error: Unable to establish IPMI v2 / RMCP+ session`);
    expect(err.message).not.toContain('not-the-password');
  });

  it('fails with auth_failed for an unknown user', async () => {
    const bmc = await sim();
    const err = await failure(driver(targetOf(bmc, { username: 'nobody' })).status());
    expect(err.code).toBe('auth_failed');
    expect(err.message).toContain('user nobody not accepted (unknown user)');
  });

  it('fails fast with unreachable when nothing answers on the BMC port', async () => {
    const bmc = await sim();
    const port = bmc.port;
    await bmc.stop();
    const started = Date.now();
    const err = await failure(driver(targetOf(bmc, { port })).status());
    expect(err.code).toBe('unreachable');
    expect(err.message).toMatch(new RegExp(`^pve-ms-12: IPMI at 127\\.0\\.0\\.1:${port}: the BMC does not answer \\(chassis power status\\): `));
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('fails with unreachable when ipmitool runs past its time limit', async () => {
    const bmc = await sim();
    const port = bmc.port;
    await bmc.stop();
    const err = await failure(driver(targetOf(bmc, { port }), { requestTimeoutS: 5, retries: 3, timeoutMs: 500 }).status());
    expect(err.code).toBe('unreachable');
    expect(err.message).toBe(`pve-ms-12: IPMI at 127.0.0.1:${port}: no answer to chassis power status within 0.5 s`);
  });

  it('fails with refused when the BMC refuses the boot device, and leaves the power alone', async () => {
    const bmc = await sim('on');
    bmc.refuseBootdev(true);
    const err = await failure(driver(targetOf(bmc)).intoInstaller());
    expect(err.code).toBe('refused');
    expect(err.message).toBe(`pve-ms-12: IPMI at 127.0.0.1:${bmc.port}: the BMC refused the one-time network boot (chassis bootdev pxe): Set Chassis Boot Parameter 5 failed: Unspecified error`);
    expect(bmc.calls().filter((c) => c.startsWith('set power'))).toEqual([]);
    expect(bmc.power()).toBe('on');
  });

  it('says to install ipmitool when the binary is missing', async () => {
    const err = await failure(driver({ method: 'ipmi', address: '127.0.0.1', port: 623, username: 'admin', password: 'x' }, { binary: '/nonexistent/ipmitool' }).status());
    expect(err.code).toBe('not_configured');
    expect(err.message).toBe('pve-ms-12: IPMI at 127.0.0.1:623: /nonexistent/ipmitool not found: install ipmitool (apt-get install ipmitool)');
  });
});

describe('the BMC password', () => {
  const target: IpmiTarget = { method: 'ipmi', address: '192.0.2.10', port: 623, username: 'admin', password: 'hunter2-secret' };

  it('is never on the ipmitool command line: -E and IPMI_PASSWORD, no -P', () => {
    const run = ipmitoolInvocation(target, ['chassis', 'power', 'status']);
    expect(run.file).toBe(defaultIpmitool);
    expect(run.args).toEqual(['-I', 'lanplus', '-H', '192.0.2.10', '-p', '623', '-U', 'admin', '-E', '-L', 'OPERATOR', '-N', '2', '-R', '2', '-v', 'chassis', 'power', 'status']);
    expect(run.args.join(' ')).not.toContain('hunter2-secret');
    expect(run.args).not.toContain('-P');
    expect(run.env).toEqual({ IPMI_PASSWORD: 'hunter2-secret', LC_ALL: 'C' });
  });

  it('is not in the argv of the ipmitool process the driver starts', async () => {
    const bmc = await sim('on');
    const dir = resources.add(tempDir(), async (d) => d.remove());
    const argvFile = join(dir.path, 'argv');
    const wrapper = join(dir.path, 'ipmitool');
    // Records the argv of every run, then is ipmitool itself.
    writeFileSync(wrapper, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${argvFile}'\nexec ${defaultIpmitool} "$@"\n`);
    chmodSync(wrapper, 0o755);
    await driver(targetOf(bmc), { binary: wrapper }).intoInstaller();
    const argv = readFileSync(argvFile, 'utf8').trim().split('\n');
    expect(argv.filter((a) => / chassis (bootdev pxe options=efiboot|power cycle)$/.test(a))).toHaveLength(2);
    expect(argv.every((a) => a.includes(`-U admin -E`) && !a.includes(bmc.password))).toBe(true);
  });
});

describe('persistentBootFlag', () => {
  // ipmitool 1.8.19's `chassis bootparam get 5` on a BMC that keeps the flags (ipmi_sim does not)
  const output = (valid: boolean, persistent: boolean, device = 'Force PXE') =>
    [
      'Boot parameter version: 1',
      'Boot parameter 5 is valid/unlocked',
      'Boot parameter data: e004000000',
      ' Boot Flags :',
      `   - Boot Flag ${valid ? 'Valid' : 'Invalid'}`,
      `   - Options apply to ${persistent ? 'all future boots' : 'only next boot'}`,
      '   - BIOS EFI boot ',
      `   - Boot Device Selector : ${device}`,
    ].join('\n');

  it.each([
    ['a one-time PXE boot', output(true, false), null],
    ['persistent flags that are not valid', output(false, true), null],
    ['a persistent "no override"', output(true, true, 'No override'), null],
    ['a persistent PXE boot', output(true, true), 'IPMI: boot device "Force PXE" is set persistent, for all future boots (chassis bootparam get 5)'],
  ])('reads %s', (_name, text, expected) => {
    expect(persistentBootFlag(text)).toBe(expected);
  });
});
