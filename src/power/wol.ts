// Wake-on-LAN (proxmox-cluster.md §4): a UDP broadcast of 6 × 0xFF then the MAC 16 times (102 bytes), sent a few
// times because nothing answers it. It only powers a machine on, and only reaches the sender's own L2 segment.
import { createSocket } from 'node:dgram';
import { inSubnet, parseIpv4, subnetBroadcast } from '../domain/power-settings';
import { PowerError, type PowerAction, type PowerDriver, type PowerOutcome, type PowerState, type PowerTarget } from './types';

type WolTarget = Extract<PowerTarget, { method: 'wol' }>;

export interface WolOptions {
  hostLabel: string; // the host the errors name: pve-ms-12
  pxeSubnet?: string | null; // pxe.subnet: test() checks the broadcast address lies inside it
  repeat?: number; // how many packets: 3
  intervalMs?: number; // between packets: 100
}

/** Returns the magic packet for `mac` (aa:bb:cc:dd:ee:ff, colons or dashes optional): 6 × 0xFF, then the MAC 16 times. */
export function magicPacket(mac: string): Buffer {
  const hex = mac.replace(/[:-]/g, '');
  if (!/^[0-9a-fA-F]{12}$/.test(hex)) throw new PowerError('invalid_settings', `Wake-on-LAN: ${JSON.stringify(mac)} is not a MAC address`);
  const address = Buffer.from(hex, 'hex');
  return Buffer.concat([Buffer.alloc(6, 0xff), ...Array.from({ length: 16 }, () => address)]);
}

/** Returns the broadcast address of an IPv4 CIDR (192.168.1.0/24 → 192.168.1.255): a host's default WoL broadcast. */
export function broadcastOf(subnet: string): string {
  const broadcast = subnetBroadcast(subnet);
  if (broadcast === null) throw new PowerError('invalid_settings', `Wake-on-LAN: pxe.subnet ${JSON.stringify(subnet)} is not an IPv4 CIDR like 192.168.1.0/24`);
  return broadcast;
}

/** Returns why `broadcast` cannot carry a host's magic packet (not IPv4, or outside the PXE subnet), or null. */
export function checkWolBroadcast(broadcast: string, pxeSubnet: string | null | undefined): string | null {
  if (parseIpv4(broadcast) === null) return `expected an IPv4 broadcast address like 192.168.1.255, got ${JSON.stringify(broadcast)}`;
  // The machine sleeps on the PXE LAN; a packet for another subnet is routed (or dropped) and never reaches it.
  if (pxeSubnet && !inSubnet(broadcast, pxeSubnet)) {
    return `${broadcast} is outside pxe.subnet ${pxeSubnet}: the magic packet must be broadcast on the machine's own LAN (${subnetBroadcast(pxeSubnet) ?? 'its broadcast address'})`;
  }
  return null;
}

/** Powers a host on with the magic packet; it cannot tell the power state, power off or set a boot device. */
export class WolDriver implements PowerDriver {
  readonly method = 'wol' as const;

  constructor(
    private readonly target: WolTarget,
    private readonly o: WolOptions,
  ) {}

  private get where(): string {
    return `${this.target.broadcast}:${this.target.port}`;
  }

  async status(): Promise<PowerState> {
    return 'unknown';
  }

  async intoInstaller(): Promise<PowerOutcome> {
    return this.wake();
  }

  async act(action: PowerAction): Promise<PowerOutcome> {
    if (action === 'on') return this.wake();
    throw new PowerError('unsupported', `${this.o.hostLabel}: Wake-on-LAN can only power on; '${action}' needs IPMI, Redfish or the Proxmox API`);
  }

  async test(): Promise<PowerOutcome> {
    this.check();
    return { did: `Wake-on-LAN: settings valid, the magic packet for ${this.target.mac} would go to ${this.where} (WoL has no answer to read)`, state: 'unknown' };
  }

  async persistentOverride(): Promise<string | null> {
    return null;
  }

  private check(): Buffer {
    const problem = checkWolBroadcast(this.target.broadcast, this.o.pxeSubnet);
    if (problem) throw new PowerError('invalid_settings', `${this.o.hostLabel}: Wake-on-LAN broadcast ${problem}`);
    if (!Number.isInteger(this.target.port) || this.target.port < 1 || this.target.port > 65535) {
      throw new PowerError('invalid_settings', `${this.o.hostLabel}: Wake-on-LAN port ${this.target.port} is not a UDP port (9 is usual)`);
    }
    try {
      return magicPacket(this.target.mac);
    } catch (err) {
      throw new PowerError('invalid_settings', `${this.o.hostLabel}: ${(err as Error).message}`);
    }
  }

  private async wake(): Promise<PowerOutcome> {
    const packet = this.check();
    const repeat = this.o.repeat ?? 3;
    const interval = this.o.intervalMs ?? 100;
    const socket = createSocket('udp4');
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(0, () => {
          socket.off('error', reject);
          resolve();
        });
      });
      socket.setBroadcast(true);
      for (let i = 0; i < repeat; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, interval));
        await new Promise<void>((resolve, reject) => socket.send(packet, this.target.port, this.target.broadcast, (err) => (err ? reject(err) : resolve())));
      }
    } catch (err) {
      // ENETUNREACH: no interface on that subnet; EACCES: a broadcast the kernel refuses
      throw new PowerError('unreachable', `${this.o.hostLabel}: Wake-on-LAN to ${this.where} failed: ${(err as Error).message}`);
    } finally {
      socket.close();
    }
    return { did: `Wake-on-LAN: magic packet sent ${repeat} times to ${this.where}`, state: 'unknown' };
  }
}
