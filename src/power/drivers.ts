// Picks a host's power driver from its target, and the `manual` one: the default, where a person powers the machine.
import { IpmiDriver, type IpmiOptions } from './ipmi';
import { ProxmoxPowerDriver, type ProxmoxPowerApi } from './proxmox';
import { RedfishDriver, type RedfishOptions } from './redfish';
import { PowerError, type PowerAction, type PowerDriver, type PowerOutcome, type PowerState, type PowerTarget } from './types';
import { WolDriver, type WolOptions } from './wol';

/** What the drivers need besides the target. */
export interface PowerDeps {
  hostLabel: string; // the host the errors name: pve-ms-12
  proxmoxApi?: ProxmoxPowerApi | null; // a member's API (proxmox.existing_node): needed by the proxmox method
  pxeSubnet?: string | null; // pxe.subnet: the WoL broadcast must lie inside it
  ipmi?: Omit<IpmiOptions, 'hostLabel'>;
  redfish?: Omit<RedfishOptions, 'hostLabel'>;
  wol?: Omit<WolOptions, 'hostLabel' | 'pxeSubnet'>;
}

/** Returns the driver of `target`'s method. */
export function powerDriver(target: PowerTarget, deps: PowerDeps): PowerDriver {
  switch (target.method) {
    case 'manual':
      return new ManualDriver(deps.hostLabel);
    case 'wol':
      return new WolDriver(target, { ...deps.wol, hostLabel: deps.hostLabel, pxeSubnet: deps.pxeSubnet ?? null });
    case 'ipmi':
      return new IpmiDriver(target, { ...deps.ipmi, hostLabel: deps.hostLabel });
    case 'redfish':
      return new RedfishDriver(target, { ...deps.redfish, hostLabel: deps.hostLabel });
    case 'proxmox':
      if (!deps.proxmoxApi) return new UnconfiguredDriver('proxmox', `${deps.hostLabel}: the proxmox power method reboots through a cluster member's API: set proxmox.existing_node and proxmox.api_token (with Sys.PowerMgmt) or proxmox.join_password`);
      return new ProxmoxPowerDriver(target, deps.proxmoxApi, deps.hostLabel);
  }
}

/** No power control: a person powers the machine on or reboots it into network boot. */
export class ManualDriver implements PowerDriver {
  readonly method = 'manual' as const;

  constructor(private readonly hostLabel: string) {}

  async status(): Promise<PowerState> {
    return 'unknown';
  }

  async intoInstaller(): Promise<PowerOutcome> {
    return { did: 'manual: power on or reboot the machine into network boot', state: 'unknown' };
  }

  async act(action: PowerAction): Promise<PowerOutcome> {
    throw new PowerError('not_configured', `${this.hostLabel}: no power control (method manual), so '${action}' cannot be sent: set a power method for the host`);
  }

  async test(): Promise<PowerOutcome> {
    return { did: 'manual: nothing to test; a person powers the machine', state: 'unknown' };
  }

  async persistentOverride(): Promise<string | null> {
    return null;
  }
}

/** A method whose dependencies the service lacks: every call fails with not_configured, saying what to set. */
class UnconfiguredDriver implements PowerDriver {
  constructor(
    readonly method: PowerTarget['method'],
    private readonly why: string,
  ) {}

  status(): Promise<PowerState> {
    return Promise.reject(new PowerError('not_configured', this.why));
  }
  intoInstaller(): Promise<PowerOutcome> {
    return Promise.reject(new PowerError('not_configured', this.why));
  }
  act(): Promise<PowerOutcome> {
    return Promise.reject(new PowerError('not_configured', this.why));
  }
  test(): Promise<PowerOutcome> {
    return Promise.reject(new PowerError('not_configured', this.why));
  }
  persistentOverride(): Promise<string | null> {
    return Promise.reject(new PowerError('not_configured', this.why));
  }
}
