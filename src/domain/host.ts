import type { HostState } from './host-state-machine';
import type { MacAddress } from './mac-address';

/** A registered machine. */
export interface Host {
  id: number;
  hostname: string; // pve-ms-03
  mac: MacAddress; // aa:bb:cc:dd:ee:ff
  serverType: string; // minisforum-ms-01 (a key of server-types.yaml)
  state: HostState;
  ipAddress: string | null; // 192.168.1.53, once the host phoned home
  hardwareId: string | null; // DMI system UUID, once the host phoned home
  machineId: string | null; // /etc/machine-id of the installed system
  sshHostKeys: Record<string, string> | null; // { ed25519: 'ssh-ed25519 AAAA…' } from the installer's webhook
  createdAt: string; // ISO-8601
  updatedAt: string;
}

/** What an operator supplies to register a host (already validated). */
export interface NewHost {
  hostname: string;
  mac: MacAddress;
  serverType: string;
}
