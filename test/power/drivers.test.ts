// Unit: which driver a target gets, and the manual method (no I/O).
import { describe, expect, it } from 'vitest';
import { ManualDriver, powerDriver } from '../../src/power/drivers';
import { IpmiDriver } from '../../src/power/ipmi';
import { RedfishDriver } from '../../src/power/redfish';
import { WolDriver } from '../../src/power/wol';
import { PowerError } from '../../src/power/types';

const deps = { hostLabel: 'pve-ms-12' };

describe('powerDriver', () => {
  it('gives each method its driver', () => {
    expect(powerDriver({ method: 'manual' }, deps)).toBeInstanceOf(ManualDriver);
    expect(powerDriver({ method: 'wol', mac: '52:54:00:ab:cd:ef', broadcast: '192.168.1.255', port: 9 }, deps)).toBeInstanceOf(WolDriver);
    expect(powerDriver({ method: 'ipmi', address: '192.168.1.210', port: 623, username: 'admin', password: 'x' }, deps)).toBeInstanceOf(IpmiDriver);
    expect(powerDriver({ method: 'redfish', url: 'https://192.168.1.211', username: 'admin', password: 'x', systemId: null, fingerprint: null, caFile: null }, deps)).toBeInstanceOf(RedfishDriver);
  });

  it('fails every proxmox call with not_configured when the service has no cluster API', async () => {
    const d = powerDriver({ method: 'proxmox', node: 'pve2' }, deps);
    expect(d.method).toBe('proxmox');
    const err = await d.intoInstaller().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PowerError);
    expect(err).toMatchObject({ code: 'not_configured', message: expect.stringMatching(/^pve-ms-12: the proxmox power method reboots through a cluster member's API/) });
  });
});

describe('ManualDriver', () => {
  const manual = new ManualDriver('pve-ms-12');

  it('asks a person to power the machine', async () => {
    expect(await manual.status()).toBe('unknown');
    expect(await manual.intoInstaller()).toEqual({ did: 'manual: power on or reboot the machine into network boot', state: 'unknown' });
    expect(await manual.persistentOverride()).toBeNull();
  });

  it('refuses operator actions with not_configured', async () => {
    const err = await manual.act('cycle').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'not_configured', message: "pve-ms-12: no power control (method manual), so 'cycle' cannot be sent: set a power method for the host" });
  });
});
