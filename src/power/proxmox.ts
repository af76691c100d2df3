// A cluster member rebooted (or shut down) through the Proxmox VE API (proxmox-cluster.md §4): POST
// /nodes/{node}/status command=reboot|shutdown, with the API token when it has Sys.PowerMgmt, else the root@pam ticket.
// After a reboot the node boots what its firmware boots first, so this method needs network boot first in the boot
// order (our iPXE answers "local disk" except during a rebuild). It cannot power a machine on or set a boot device; it
// reads the power state as the cluster sees the node (online or not).
import { ProxmoxApiError, type ProxmoxApi } from '../proxmox/api-client';
import { PowerError, type PowerAction, type PowerDriver, type PowerErrorCode, type PowerOutcome, type PowerState, type PowerTarget } from './types';

type ProxmoxTarget = Extract<PowerTarget, { method: 'proxmox' }>;

/** The part of ProxmoxApi this driver uses (the stand-in's client in tests). */
export type ProxmoxPowerApi = Pick<ProxmoxApi, 'address' | 'cluster' | 'reboot' | 'shutdown'>;

const codeOf: Record<string, PowerErrorCode> = {
  unreachable: 'unreachable',
  fingerprint_mismatch: 'invalid_settings',
  unauthorized: 'auth_failed',
  forbidden: 'auth_failed',
};

/** Reboots (or shuts down) a cluster member through another member's API. */
export class ProxmoxPowerDriver implements PowerDriver {
  readonly method = 'proxmox' as const;

  constructor(
    private readonly target: ProxmoxTarget,
    private readonly api: ProxmoxPowerApi,
    private readonly hostLabel: string,
  ) {}

  private get where(): string {
    return `${this.hostLabel}: Proxmox API at ${this.api.address}`;
  }

  async status(): Promise<PowerState> {
    const { online } = await this.member();
    return online ? 'on' : 'off';
  }

  async intoInstaller(): Promise<PowerOutcome> {
    await this.reboot();
    return { did: `Proxmox API: reboot of ${this.target.node} sent through ${this.api.address}; the machine must network-boot first`, state: 'on' };
  }

  async act(action: PowerAction): Promise<PowerOutcome> {
    switch (action) {
      case 'cycle':
        await this.reboot();
        return { did: `Proxmox API: reboot of ${this.target.node} sent through ${this.api.address}`, state: 'on' };
      case 'off':
        await this.online();
        await this.call(() => this.api.shutdown(this.target.node), 'shutdown');
        return { did: `Proxmox API: shutdown of ${this.target.node} sent through ${this.api.address}`, state: 'off' };
      case 'on':
      case 'pxe-once':
        throw new PowerError('unsupported', `${this.hostLabel}: the Proxmox API cannot ${action === 'on' ? 'power a machine on' : 'set a one-time network boot'}; it only reboots or shuts down a running member (use IPMI or Redfish for that)`);
    }
  }

  async test(): Promise<PowerOutcome> {
    const { online, cluster } = await this.member();
    return { did: `Proxmox API: ${this.target.node} is ${online ? 'online' : 'offline'} in ${cluster === null ? 'a standalone node' : `cluster ${cluster}`} (through ${this.api.address})`, state: online ? 'on' : 'off' };
  }

  async persistentOverride(): Promise<string | null> {
    return null; // nothing is set on the machine: it boots by its own boot order
  }

  private async reboot(): Promise<void> {
    await this.online();
    await this.call(() => this.api.reboot(this.target.node), 'reboot');
  }

  /** Fails unless the cluster lists the node online: an offline node cannot be reached through the API. */
  private async online(): Promise<void> {
    const { online } = await this.member();
    if (!online) throw new PowerError('refused', `${this.where}: ${this.target.node} is offline in the cluster, so the API cannot reach it; power it on by hand or give the host IPMI or Redfish`);
  }

  private async member(): Promise<{ online: boolean; cluster: string | null }> {
    const cluster = await this.call(() => this.api.cluster(), 'cluster status');
    const member = cluster.members.find((m) => m.name === this.target.node);
    if (!member) {
      throw new PowerError('invalid_settings', `${this.where}: ${this.target.node} is not a member of ${cluster.name === null ? 'this standalone node' : `cluster ${cluster.name}`} (members: ${cluster.members.map((m) => m.name).join(', ')})`);
    }
    return { online: member.online, cluster: cluster.name };
  }

  private async call<T>(fn: () => Promise<T>, what: string): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof ProxmoxApiError)) throw err;
      // forbidden: the token lacks Sys.PowerMgmt on /nodes/<node> and no root@pam password is configured
      throw new PowerError(codeOf[err.code] ?? 'refused', `${this.hostLabel}: Proxmox API ${what} of ${this.target.node}: ${err.message}`);
    }
  }
}
