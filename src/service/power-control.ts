// The hosts' power drivers, as the gateway (operators' calls) and the worker (the rebuild's power steps) both use
// them: each call reads the host's target (password included) from the store and builds the driver of its method.
import type { Config } from '../config/load-config';
import type { Host } from '../domain/host';
import { powerDriver } from '../power/drivers';
import type { PowerDriver } from '../power/types';
import { ProxmoxApi } from '../proxmox/api-client';
import type { PowerStore } from '../store/power-store';

export interface PowerControlOf {
  /** The driver of `host`'s current power settings. */
  driver(host: Host): PowerDriver;
  /** The config keys the proxmox method lacks here (empty: it can be used). */
  proxmoxMissing: string[];
}

/** Drivers over `store`: the proxmox method reboots a member through existing_node's API, with the token when it may, else root@pam. */
export function powerControlOf(config: Readonly<Config>, store: PowerStore): PowerControlOf {
  const p = config.proxmox;
  const proxmoxMissing = [
    ...(p.existingNode ? [] : ['proxmox.existing_node']),
    ...(p.joinFingerprint ? [] : ['proxmox.join_fingerprint']),
    ...(p.apiToken || p.joinPassword ? [] : ['proxmox.api_token (or proxmox.join_password)']),
  ];
  const proxmoxApi = proxmoxMissing.length === 0 ? new ProxmoxApi({ host: p.existingNode, port: p.apiPort, fingerprint: p.joinFingerprint, apiToken: p.apiToken || null, rootPassword: p.joinPassword || null }) : null;
  return {
    driver: (host) => powerDriver(store.target(host.id, host), { hostLabel: host.hostname, pxeSubnet: config.pxe.subnet || null, proxmoxApi }),
    proxmoxMissing,
  };
}
