// Which member a new node joins through (issue 16 item 2): any online member of the cluster other than the host being
// rebuilt, with that member's own certificate fingerprint (pve_fp of /cluster/config/join), proxmox.existing_node
// first when it qualifies. Without a cluster API token the configured existing_node and join_fingerprint are the peer.
import { ProxmoxApiError, type ProxmoxApi } from './api-client';

/** The peer `pvecm add` is pointed at. */
export interface JoinPeer {
  name: string | null; // pve2; null when it comes from the configuration alone
  address: string; // 192.168.1.12 (pve_addr)
  fingerprint: string; // AB:CD:… (pve_fp)
  why: string; // how it was chosen, for the host's history
}

/** Why no peer can be chosen; `retryable` when the cluster may answer later (unreachable, not quorate, all offline). */
export class JoinPeerError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

/** Chooses the peer for `hostname` from the cluster `api` reports; `configured` is proxmox.existing_node's. */
export async function chooseJoinPeer(api: Pick<ProxmoxApi, 'joinInfo' | 'cluster' | 'address'>, hostname: string, configured: { address: string; fingerprint: string }): Promise<JoinPeer> {
  let cluster;
  let join;
  try {
    cluster = await api.cluster();
    join = cluster.name === null ? null : await api.joinInfo();
  } catch (err) {
    if (!(err instanceof ProxmoxApiError)) throw err;
    // A certificate that is not the pinned one, or a token that is refused, does not mend itself by waiting.
    throw new JoinPeerError(`cannot choose a member to join through: ${err.message}`, err.code === 'unreachable' || err.code === 'api_error');
  }
  if (!join || cluster.name === null) throw new JoinPeerError(`${api.address} is a standalone node, in no cluster: create the cluster first with pvecm create on it`, false);
  if (!cluster.quorate) throw new JoinPeerError(`cluster ${cluster.name} is not quorate (${cluster.votes.online} of ${cluster.votes.total} votes online, ${cluster.votes.needed} needed): no node can join now`, true);
  const online = new Set(cluster.members.filter((m) => m.online).map((m) => m.name));
  const candidates = join.nodelist.filter((n) => n.name !== hostname && online.has(n.name)).sort((a, b) => Number(a.nodeid) - Number(b.nodeid));
  if (candidates.length === 0) throw new JoinPeerError(`cluster ${cluster.name} has no online member other than ${hostname} to join through`, true);
  const first = candidates.find((n) => n.pve_addr === configured.address);
  const preferred = candidates.find((n) => n.name === join.preferred_node);
  const peer = first ?? preferred ?? candidates[0]!;
  const why = first
    ? `proxmox.existing_node ${configured.address} (${peer.name}) is online`
    : `proxmox.existing_node ${configured.address} ${join.nodelist.some((n) => n.pve_addr === configured.address) ? 'is offline or is the host being rebuilt' : 'is not in the nodelist'}; ${peer.name} is an online member`;
  return { name: peer.name, address: peer.pve_addr, fingerprint: peer.pve_fp, why };
}
