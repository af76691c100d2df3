import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { rebuildRun } from './rebuild-run';
import { powerRetryEventKind } from './power';
import type { RebuildKeyStore } from '../src/store/rebuild-key-store';
import type { OperationEvent, OperationStore } from '../src/store/operation-store';
import type { ProxmoxApi } from '../src/proxmox/api-client';
import type { ClusterMemberRef } from '../src/domain/rebuild';
import { chooseJoinPeer, JoinPeerError, type JoinPeer } from '../src/proxmox/join-peer';
import { AuthRefusedError, HostKeyMismatchError, SshSession, shellQuote, type CommandResult } from './ssh-session';

/** Where things are on a Proxmox node; tests point these into the stand-in's temp dir. */
export interface RemoteLayout {
  corosyncConf: string; // /etc/pve/corosync.conf: exists once the node is in a cluster
  authorizedKeysFiles: string[]; // /root/.ssh/authorized_keys, /etc/pve/priv/authorized_keys (proxmox.md §6.6)
}

export const proxmoxLayout: RemoteLayout = {
  corosyncConf: '/etc/pve/corosync.conf',
  authorizedKeysFiles: ['/root/.ssh/authorized_keys', '/etc/pve/priv/authorized_keys'],
};

/** How to join: the existing member, its certificate fingerprint and root password (never logged), the SSH port. */
export interface JoinSettings {
  existingNode: string; // 192.168.1.10
  fingerprint: string; // AA:BB:… (pvenode cert info)
  password: string; // root@pam of existingNode: secret
  sshPort: number; // 22
  layout: RemoteLayout;
  // The cluster API (proxmox.api_token): the peer is then any online member other than the host, with its own pve_fp.
  cluster?: Pick<ProxmoxApi, 'joinInfo' | 'cluster' | 'clusterNodes' | 'address'> | null;
  // A member rebuild's steps: the API of the member they run through (its address and pinned certificate, the
  // token and the root@pam password); null without proxmox.api_token.
  memberApi?: ((via: ClusterMemberRef) => Pick<ProxmoxApi, 'address' | 'cluster' | 'clusterNodes' | 'joinInfo' | 'guests' | 'reboot' | 'migrateAll' | 'taskStatus' | 'deleteNode' | 'checkRootLogin'>) | null;
}

/** What joinCluster needs from the workflow: no secrets, only references. */
export interface JoinInput {
  hostId: number;
  hostname: string;
  address: string; // the phoned-home IP
  hostKeys: string[]; // from the post-installation webhook
  keyId: string;
  via?: ClusterMemberRef; // a member rebuild: the member whose API chooses the peer (proxmox.existing_node may be the host itself)
}

/** The cluster API the join reads: the member rebuild's `via` member's, else proxmox.existing_node's. */
export function clusterApiOf(join: JoinSettings, via?: ClusterMemberRef): JoinSettings['cluster'] {
  return via && join.memberApi ? join.memberApi(via) : join.cluster;
}

// Lines Proxmox prints when a join definitely failed (proxmox.md §6.3): reported verbatim, not retried.
const failureMarkers = [
  /detected the following error\(s\)/,
  /Check if node may join a cluster failed/,
  /can't add existing node/,
  /already used on link/,
  /fingerprint '.*' not verified/,
  /cluster not ready - no quorum/,
  /authentication failure/i,
  /401 /,
  /Remote side is not able to use API for Cluster join/,
  /An error occurred on the cluster node/,
  /Cluster join aborted/,
];

function scrub(text: string, secret: string): string {
  return secret ? text.split(secret).join('[redacted]') : text;
}

/** Proxmox's own words for a failed join: the error lines of its output. */
export function joinFailureMessage(result: CommandResult): string {
  const lines = `${result.stderr}\n${result.stdout}`.split('\n').map((l) => l.trim()).filter(Boolean);
  const errors = lines.filter((l) => failureMarkers.some((m) => m.test(l)) || l.startsWith('* '));
  const chosen = errors.length > 0 ? errors : lines.slice(-3);
  return chosen.join('; ') || `pvecm add exited with ${result.code} and printed nothing`;
}

const bare = (address: string) => address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');

/**
 * Why the join must not send the password to `address` (the address the phone-home claims), or null: the installer's
 * webhook and the first boot's phone-home, as the gateway observed their source addresses (the rebuild's state
 * records), must both have come from it, and the answer file must have been served once for this rebuild (since its last power retry, which
 * power-cycled the installer that fetched it before).
 */
export function identityProblem(events: readonly OperationEvent[], address: string): string | null {
  // A power retry power-cycled the machine into the installer again: the servings before it went to an installer that is gone.
  const lastRetry = events.findLastIndex((e) => e.kind === powerRetryEventKind);
  const served = events.slice(lastRetry + 1).filter((e) => e.kind === 'answer_served');
  if (served.length > 1) {
    const from = [...new Set(served.map((e) => String(e.details?.remoteAddress ?? 'unknown')))].join(', ');
    return `the answer file was served ${served.length} times for this rebuild (to ${from}): only the one installer it was served to may join`;
  }
  const observed = (event: string) => {
    const entry = events.filter((e) => e.kind === 'state' && e.details?.event === event).at(-1);
    const remote = entry?.details?.remoteAddress;
    return typeof remote === 'string' ? bare(remote) : undefined;
  };
  const phoneHome = observed('phonedHome');
  if (phoneHome === undefined) return `the source address of the first boot's phone-home is not known, so ${address} cannot be tied to the machine that installed`;
  if (phoneHome !== bare(address)) return `the join would connect to ${address}, the address the phone-home claims, but the phone-home came from ${phoneHome}`;
  const webhook = observed('installed');
  if (webhook !== undefined && webhook !== bare(address)) return `the join would connect to ${address}, but the installer's webhook came from ${webhook}`;
  return null;
}

/** The member to join through: chosen from the cluster with the API, else proxmox.existing_node as configured. */
async function joinPeer(join: JoinSettings, hostname: string, via?: ClusterMemberRef): Promise<JoinPeer> {
  const configured = { address: join.existingNode, fingerprint: join.fingerprint };
  const api = clusterApiOf(join, via);
  if (!api) return { name: null, ...configured, why: 'proxmox.existing_node (no cluster API token)' };
  try {
    return await chooseJoinPeer(api, hostname, configured);
  } catch (err) {
    if (!(err instanceof JoinPeerError)) throw err;
    if (err.retryable) throw new Error(err.message); // retried until timeouts.join
    throw ApplicationFailure.nonRetryable(err.message, 'JoinRejected');
  }
}

/** How the join went: skipped (already a member), and how many members the cluster had before it (null: no API). */
export interface JoinResult {
  alreadyMember: boolean;
  membersBefore?: number | null;
}

/**
 * The cluster's member count before the join (null without a cluster API), after making sure the cluster does not
 * still list the host's name: `pvecm add` would refuse it with "can't add existing node" (proxmox-cluster.md §2).
 */
async function staleMemberCheck(api: JoinSettings['cluster'], hostname: string): Promise<number | null> {
  if (!api) return null;
  let nodelist;
  try {
    nodelist = await api.clusterNodes();
  } catch (err) {
    throw new Error(`cannot read the cluster's nodelist before the join: ${(err as Error).message}`); // retried
  }
  const stale = nodelist.find((n) => n.name === hostname);
  if (stale) {
    throw ApplicationFailure.nonRetryable(
      `the cluster still lists ${hostname} (nodeid ${stale.nodeid}) from before this install, so pvecm add would refuse it: rebuild it as a cluster member (its rebuild plan removes the old node first), or remove it with pvecm delnode ${hostname}`,
      'JoinRejected',
    );
  }
  return nodelist.length;
}

/** Returns the activity that joins the installed host to the cluster over SSH with the rebuild key. */
export function joinCluster(deps: { keys: RebuildKeyStore; operations: OperationStore; join: JoinSettings }) {
  return async function joinCluster(input: JoinInput): Promise<JoinResult> {
    const { join } = deps;
    const operationId = deps.operations.byRunId(rebuildRun().runId)?.id ?? null;
    const record = (kind: string, message: string, details?: Record<string, unknown>) =>
      deps.operations.append({ hostId: input.hostId, operationId, kind, message, details: details ?? null });

    if (!join.existingNode || !join.fingerprint || !join.password) {
      throw ApplicationFailure.nonRetryable(
        'cluster join is not configured: set proxmox.existing_node, proxmox.join_fingerprint and proxmox.join_password',
        'JoinNotConfigured',
      );
    }
    const privateKey = deps.keys.privateKey(input.keyId);
    if (!privateKey) throw ApplicationFailure.nonRetryable(`rebuild key ${input.keyId} is gone; cannot log in to ${input.address}`, 'RebuildKeyMissing');

    const context = Context.current();
    const signal = context.cancellationSignal;
    let session: SshSession;
    try {
      session = await SshSession.connect(
        { host: input.address, port: join.sshPort, username: 'root', privateKey, hostKeys: input.hostKeys },
        signal,
      );
    } catch (err) {
      if (err instanceof HostKeyMismatchError) throw ApplicationFailure.nonRetryable(err.message, 'HostKeyMismatch');
      if (err instanceof AuthRefusedError) {
        throw ApplicationFailure.nonRetryable(`${input.address} refused the rebuild key: the installer did not authorise it`, 'JoinRejected');
      }
      throw new Error(`cannot reach ${input.address}:${join.sshPort} over SSH: ${(err as Error).message}`);
    }

    try {
      const heartbeat = setInterval(() => context.heartbeat(), 5_000);
      try {
        // Idempotent on retry: a node that already has a cluster config joined in an earlier attempt.
        const probe = await session.exec(`test -e ${shellQuote(join.layout.corosyncConf)} && echo member || echo standalone`, undefined, signal);
        if (probe.stdout.trim() === 'member') {
          record('join_skipped', `${input.hostname} is already a cluster member (${join.layout.corosyncConf} exists)`);
          return { alreadyMember: true, membersBefore: null };
        }
        // pvecm add sends the cluster's root password to the node: only to the machine that installed (issue 16 item 5).
        const identity = identityProblem(operationId === null ? [] : deps.operations.events(operationId), input.address);
        if (identity) {
          record('identity_mismatch', `no password sent: ${identity}`);
          throw ApplicationFailure.nonRetryable(identity, 'IdentityMismatch');
        }
        const peer = await joinPeer(join, input.hostname, input.via);
        const membersBefore = await staleMemberCheck(clusterApiOf(join, input.via), input.hostname);
        if (peer.name !== null) record('join_peer', `joining through ${peer.name} (${peer.address}): ${peer.why}`, { peer: peer.name, address: peer.address, fingerprint: peer.fingerprint });
        // The password goes to stdin, one line, no PTY (proxmox.md §6.2); never on the command line.
        const command = `pvecm add ${shellQuote(peer.address)} --fingerprint ${shellQuote(peer.fingerprint)}`;
        log.info('running pvecm add', { hostId: input.hostId, address: input.address, peer: peer.address });
        const result = await session.exec(command, `${join.password}\n`, signal);
        const output = { stdout: scrub(result.stdout, join.password), stderr: scrub(result.stderr, join.password), exitCode: result.code };
        record('pvecm_output', `pvecm add ${peer.address} exited with ${result.code}`, output);

        // pvecm add exits 0 even when the join failed; judge by output plus a post-check (proxmox.md §6.3).
        const claimed = result.stdout.includes('successfully added node');
        const post = await session.exec(`test -e ${shellQuote(join.layout.corosyncConf)} && echo member || echo standalone`, undefined, signal);
        if (claimed && post.stdout.trim() === 'member') {
          record('joined', `${input.hostname} joined the cluster via ${peer.name ?? peer.address}`);
          return { alreadyMember: false, membersBefore };
        }
        const message = scrub(joinFailureMessage(result), join.password);
        if (claimed) throw ApplicationFailure.nonRetryable(`pvecm add reported success but ${join.layout.corosyncConf} is missing`, 'JoinRejected');
        throw ApplicationFailure.nonRetryable(`pvecm add failed: ${message}`, 'JoinRejected');
      } finally {
        clearInterval(heartbeat);
      }
    } finally {
      session.close();
    }
  };
}
