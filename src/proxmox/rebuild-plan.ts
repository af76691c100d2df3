// The pre-flight of a rebuild (issue 16 item 4; proxmox-cluster.md §2, "Safe order" step 1): read-only calls to the
// cluster API that say whether the host is already a member and, if so, what rebuilding it takes (its guests, HA
// resources, a QDevice, replication jobs, the cluster's quorum without it), which member runs the steps, and what
// stops it. Nothing here changes the cluster: the rebuild workflow does the steps, from the MemberRebuild it is given.
import { InvalidInputError } from '../domain/errors';
import type { ClusterMemberRef, MemberRebuild } from '../domain/rebuild';
import { ProxmoxApiError, type ClusterGuest, type ClusterSummary, type HaResource, type ProxmoxApi, type ReplicationJob } from './api-client';

/** What the operator asked for with the rebuild. */
export interface RebuildChoice {
  migrate: boolean; // move the node's guests away first (migrateall)
  migrateTarget: string | null; // to this member (read only with migrate); null: the least loaded online member
  allowQuorumLoss: boolean; // go on although the cluster loses quorum while the node is down
}

/** The choice of a plain "rebuild": no migration, no quorum loss. */
export const defaultRebuildChoice: RebuildChoice = { migrate: false, migrateTarget: null, allowQuorumLoss: false };

/** Why a member's rebuild is refused: stable codes, answered as 409 by the API. */
export const refusalCodes = ['cluster_not_quorate', 'no_other_member', 'qdevice_present', 'replication_jobs', 'quorum_at_risk', 'guests_on_node'] as const;
export type RefusalCode = (typeof refusalCodes)[number];

/** One refusal: what is wrong, how to go on, and the choice that lifts it (when one does). */
export interface Refusal {
  code: RefusalCode;
  message: string;
  override?: 'migrate' | 'allow_quorum_loss'; // the API's name of the choice (GET ?migrate=true, ?allow_quorum_loss=true)
}

/** One step the rebuild takes, in order. */
export interface PlanStep {
  name: string; // migrate_guests, reboot, wait_offline, remove_node, install, join, check_member, remove_old_key
  description: string;
}

/** A member of the cluster as the plan shows it, with the guests on it (its load). */
export interface PlanMember {
  name: string;
  nodeid: number;
  ip: string | null;
  online: boolean;
  votes: number;
  guests: number | null; // null: not read (a fresh host's plan reads no guests)
}

/** Votequorum while the node is down but still listed: the window in which it must be removed (delnode needs quorum). */
export interface QuorumWithout {
  totalVotes: number;
  onlineVotes: number;
  needed: number;
  quorate: boolean;
}

/** What a rebuild of one host will do, and whether it may. */
export interface RebuildPlan {
  configured: boolean; // false: no proxmox.api_token, the cluster is not read and the rebuild is a fresh-host rebuild
  message: string | null; // why configured is false
  member: boolean; // the host's name is in the cluster's nodelist
  cluster: { name: string | null; quorate: boolean; members: PlanMember[]; online: number } | null; // null: not read
  node: { name: string; nodeid: number; online: boolean; ip: string | null } | null; // the host as a member
  quorumWithout: QuorumWithout | null; // null: not a member
  guests: ClusterGuest[]; // on the node
  haResources: HaResource[]; // on the node
  qdevice: boolean;
  replication: ReplicationJob[]; // to or from the node
  via: ClusterMemberRef | null; // the member whose API runs the steps (never the node itself)
  migrateTo: string | null; // where the node's guests go first; null: nothing is moved
  allowQuorumLoss: boolean; // the operator accepted the quorum loss this plan shows
  refusals: Refusal[];
  steps: PlanStep[];
  notes: string[];
}

/** Thrown when the cluster API cannot be read, so whether the host is a member is unknown. */
export class ClusterUnreachableError extends Error {
  readonly code = 'cluster_unreachable';
  constructor(
    message: string,
    readonly apiError: ProxmoxApiError,
  ) {
    super(message);
  }
}

/** The calls the plan makes: all reads. */
export type PlanApi = Pick<ProxmoxApi, 'address' | 'cluster' | 'joinInfo' | 'guests' | 'haResources' | 'qdevice' | 'replicationJobs'>;

/** Plans the rebuild of a host with the operator's choice: planRebuild bound to the configured member. */
export type RebuildPlanner = (host: { hostname: string }, choice: RebuildChoice) => Promise<RebuildPlan>;

/** The planner of a service without proxmox.api_token: every plan says the cluster is not read. */
export const uncheckedPlanner =
  (existingNode = ''): RebuildPlanner =>
  (host, choice) =>
    planRebuild(null, host, choice, { existingNode, fingerprint: '' });

const notConfigured =
  'the cluster is not read: without proxmox.api_token (and proxmox.existing_node, proxmox.join_fingerprint) every rebuild is a fresh-host rebuild, and a host still in the cluster fails at the join with "can\'t add existing node"';

const freshSteps = (joinThrough: string): PlanStep[] => [
  { name: 'install', description: 'PXE boot the installer, install Proxmox VE with the answer file, wait for the first boot\'s phone-home' },
  { name: 'join', description: `join the cluster through ${joinThrough} (pvecm add)` },
  { name: 'check_member', description: 'check that the cluster lists the node, sees it online and is quorate' },
];

/**
 * Plans the rebuild of `host` from what the cluster API of proxmox.existing_node (`configured`) says; `api` null: no
 * token, so a fresh-host plan that says so. Throws ClusterUnreachableError when the API cannot be read, and
 * InvalidInputError (field migrate_target) for a migration target that is not an online member other than the node.
 */
export async function planRebuild(api: PlanApi | null, host: { hostname: string }, choice: RebuildChoice, configured: { existingNode: string; fingerprint: string }): Promise<RebuildPlan> {
  const empty = { node: null, quorumWithout: null, guests: [], haResources: [], qdevice: false, replication: [], via: null, migrateTo: null, allowQuorumLoss: false, refusals: [] };
  if (!api) return { configured: false, message: notConfigured, member: false, cluster: null, ...empty, steps: freshSteps(`proxmox.existing_node ${configured.existingNode || '(not set)'}`), notes: [] };
  const read = async <T>(what: Promise<T>): Promise<T> => {
    try {
      return await what;
    } catch (err) {
      if (!(err instanceof ProxmoxApiError)) throw err;
      throw new ClusterUnreachableError(`cannot read the cluster through proxmox.existing_node ${api.address}, so whether ${host.hostname} is a member is unknown and nothing was started: ${err.message}`, err);
    }
  };

  const summary = await read(api.cluster());
  const name = host.hostname.toLowerCase();
  const node = summary.name === null ? undefined : summary.members.find((m) => m.name.toLowerCase() === name);
  if (!node) return { configured: true, message: null, member: false, cluster: clusterOf(summary, []), ...empty, steps: freshSteps('an online member (proxmox.existing_node first)'), notes: freshNotes(summary, api.address, host.hostname) };

  const [allGuests, allHa, qdevice, allJobs] = await read(Promise.all([api.guests(), api.haResources(), api.qdevice(), api.replicationJobs()]));
  const clusterName = summary.name!;
  const guests = allGuests.filter((g) => g.node === node.name);
  const haResources = allHa.filter((r) => r.node === node.name);
  const guestNode = new Map(allGuests.map((g) => [g.vmid, g.node]));
  const replication = allJobs.filter((j) => j.target === node.name || (j.source ?? guestNode.get(j.guest)) === node.name);
  const members = summary.members.map((m) => ({ name: m.name, nodeid: m.nodeid, ip: m.ip, online: m.online, votes: m.votes, guests: allGuests.filter((g) => g.node === m.name).length }));
  const others = members.filter((m) => m.online && m.name !== node.name);
  const quorumWithout = quorumWithoutNode(summary, node);
  const notes: string[] = [];

  // The member whose API runs the steps: existing_node unless it is the node itself (is_join_peer), else another.
  const existing = summary.members.find((m) => m.local) ?? summary.members.find((m) => m.ip === configured.existingNode);
  let via: ClusterMemberRef | null = null;
  if (existing && existing.name !== node.name) {
    via = { name: existing.name, address: configured.existingNode, fingerprint: configured.fingerprint };
  } else if (others.length > 0) {
    const join = await read(api.joinInfo());
    const peer = join.nodelist.filter((n) => others.some((o) => o.name === n.name)).sort((a, b) => Number(a.nodeid) - Number(b.nodeid))[0];
    if (peer) {
      via = { name: peer.name, address: peer.pve_addr, fingerprint: peer.pve_fp };
      notes.push(`proxmox.existing_node (${configured.existingNode}) is ${node.name} itself: the steps run through ${peer.name} (${peer.pve_addr}), another online member, with its own certificate fingerprint.`);
    }
  }

  const migrateTo = choice.migrate ? migrationTarget(choice.migrateTarget, node.name, clusterName, members, others) : null;
  const refusals: Refusal[] = [];
  if (!summary.quorate) {
    const offline = summary.members.filter((m) => !m.online).map((m) => m.name);
    refusals.push({ code: 'cluster_not_quorate', message: `Cluster ${clusterName} is not quorate now (${summary.votes.online} of ${summary.votes.total} votes online, ${summary.votes.needed} needed): without quorum no node can be removed or joined. Bring ${offline.length ? offline.join(', ') : 'the missing members'} back first, then ask again.` });
  }
  if (!via) {
    refusals.push({ code: 'no_other_member', message: `No member of cluster ${clusterName} other than ${node.name} is online to run the steps through (remove ${node.name}, then join the new install): bring another member online first.` });
  }
  if (qdevice) {
    refusals.push({ code: 'qdevice_present', message: `Cluster ${clusterName} has a QDevice, and Proxmox wants it removed before a node is removed or added: remove it with pvecm qdevice remove on a member, rebuild, then set it up again with pvecm qdevice setup.` });
  }
  if (replication.length > 0) {
    const listed = replication.map((j) => `${j.id} (guest ${j.guest} to ${j.target})`).join(', ');
    refusals.push({ code: 'replication_jobs', message: `${count(replication.length, 'replication job')} ${replication.length === 1 ? 'replicates' : 'replicate'} to or from ${node.name}: ${listed}. Remove ${replication.length === 1 ? 'it' : 'them'} first (Datacenter → Replication, or pvesr delete <id> on a member), then ask again.` });
  }
  const quorumAtRisk = !quorumWithout.quorate && summary.quorate;
  const quorumLoss = `from the reboot of ${node.name} until it is removed, cluster ${clusterName} has no quorum (${quorumWithout.onlineVotes} of ${quorumWithout.totalVotes} votes online, ${quorumWithout.needed} needed): /etc/pve is read-only on the other members (no guest can be started, changed or moved there), and removing ${node.name} needs quorum`;
  if (quorumAtRisk && !choice.allowQuorumLoss) {
    refusals.push({ code: 'quorum_at_risk', message: `Without ${node.name}, ${quorumLoss}. To go on anyway, allow quorum loss (allow_quorum_loss=true): an operator then runs pvecm expected ${quorumWithout.onlineVotes} on a remaining member while the rebuild waits.`, override: 'allow_quorum_loss' });
  }
  if (quorumAtRisk && choice.allowQuorumLoss) {
    notes.push(`Quorum loss allowed: ${quorumLoss}. An operator must run pvecm expected ${quorumWithout.onlineVotes} on ${others.map((o) => o.name).join(' or ') || 'a remaining member'} (the service never does that itself); the rebuild waits for quorum before removing ${node.name}, up to timeouts.leave_cluster, and fails after that.`);
  }
  if (guests.length > 0 && !choice.migrate) {
    refusals.push({ code: 'guests_on_node', message: `${count(guests.length, 'guest')} ${guests.length === 1 ? 'is' : 'are'} on ${node.name} (${guests.map((g) => `${g.vmid} ${g.name}`.trim()).join(', ')}): removing a node with guests leaves their configuration behind without their disks. Ask for the migration (migrate=true; POST body migrate_guests: true), optionally with migrate_target, and the rebuild first moves them with migrateall to that member or the least loaded one; or move them yourself, then ask again.`, override: 'migrate' });
  }

  if (migrateTo && guests.length > 0) notes.push(`${count(guests.length, 'guest')} of ${node.name} ${guests.length === 1 ? 'moves' : 'move'} to ${migrateTo}${choice.migrateTarget ? '' : `, the online member with the fewest guests (${members.find((m) => m.name === migrateTo)!.guests})`}, before the reboot, up to timeouts.migrate.`);
  if (guests.length === 0) notes.push(`No guests on ${node.name}, as far as the API token sees: it needs VM.Audit on /vms to see every guest (Proxmox leaves out the others instead of refusing).`);
  if (haResources.length > 0) notes.push(`${count(haResources.length, 'HA resource')} on ${node.name} (${haResources.map((r) => r.sid).join(', ')}): migrateall moves HA-managed guests as HA migrations; one left on ${node.name} when it goes down is fenced by HA and recovered on another member.`);
  if (!node.online) notes.push(`${node.name} is offline already: the reboot through the API cannot reach it; power it on so that it network-boots.`);
  notes.push(`${node.name} must network-boot first (PXE before its disk in the boot order): the reboot through the API boots whatever its firmware boots first, and only a PXE boot reaches the installer.`);

  const through = via ? `${via.name} (${via.address})` : 'another member';
  const steps: PlanStep[] = [
    ...(migrateTo && guests.length > 0 ? [{ name: 'migrate_guests', description: `move the ${count(guests.length, 'guest')} of ${node.name} to ${migrateTo} (migrateall through ${through}), waiting for the task` }] : []),
    { name: 'reboot', description: `reboot ${node.name} through the API of ${through} (POST /nodes/${node.name}/status command=reboot); the machine must network-boot first` },
    { name: 'wait_offline', description: `wait until cluster ${clusterName} sees ${node.name} offline` },
    { name: 'remove_node', description: `remove ${node.name} from cluster ${clusterName} (delnode through ${through}, with the root@pam ticket) and check it is gone${quorumAtRisk ? ', once quorum is back' : ''}` },
    { name: 'install', description: `PXE boot the installer, install Proxmox VE with the answer file, wait for the first boot's phone-home` },
    { name: 'join', description: `join cluster ${clusterName} through ${through} (pvecm add, with its fingerprint)` },
    { name: 'check_member', description: `check that cluster ${clusterName} lists ${node.name}, sees it online and is quorate` },
    { name: 'remove_old_key', description: `remove the old ${node.name}'s root key line from /etc/pve/priv/authorized_keys (by exact key: the new node's key carries the same comment)` },
  ];

  return {
    configured: true,
    message: null,
    member: true,
    cluster: clusterOf(summary, members),
    node: { name: node.name, nodeid: node.nodeid, online: node.online, ip: node.ip },
    quorumWithout,
    guests,
    haResources,
    qdevice,
    replication,
    via,
    migrateTo: guests.length > 0 ? migrateTo : null,
    allowQuorumLoss: quorumAtRisk && choice.allowQuorumLoss,
    refusals,
    steps,
    notes,
  };
}

/** The workflow's input for a member's rebuild when the plan allows one; null for a fresh host. Throws on a refused plan. */
export function memberRebuildOf(plan: RebuildPlan): MemberRebuild | null {
  if (!plan.member) return null;
  if (plan.refusals.length > 0) throw new Error(`the rebuild of ${plan.node?.name} is refused: ${plan.refusals.map((r) => r.code).join(', ')}`);
  return { node: plan.node!.name, cluster: plan.cluster!.name!, via: plan.via!, migrateTo: plan.migrateTo, allowQuorumLoss: plan.allowQuorumLoss };
}

function clusterOf(s: ClusterSummary, members: PlanMember[]): RebuildPlan['cluster'] {
  const listed = members.length > 0 ? members : s.members.map((m) => ({ name: m.name, nodeid: m.nodeid, ip: m.ip, online: m.online, votes: m.votes, guests: null }));
  return { name: s.name, quorate: s.quorate, members: listed, online: s.members.filter((m) => m.online).length };
}

function quorumWithoutNode(s: ClusterSummary, node: ClusterSummary['members'][number]): QuorumWithout {
  const onlineVotes = s.votes.online - (node.online ? node.votes : 0);
  return { totalVotes: s.votes.total, onlineVotes, needed: s.votes.needed, quorate: onlineVotes >= s.votes.needed };
}

/** The operator's target, checked, or the online member other than the node with the fewest guests (then lowest nodeid). */
function migrationTarget(asked: string | null, node: string, cluster: string, members: PlanMember[], others: PlanMember[]): string | null {
  const candidates = others.map((o) => o.name).join(', ') || 'none';
  if (asked !== null) {
    const target = members.find((m) => m.name === asked);
    const why = !target ? `is not a member of cluster ${cluster}` : target.name === node ? 'is the node being rebuilt' : !target.online ? 'is offline' : null;
    if (why) throw new InvalidInputError('migrate_target', `migrate_target: ${asked} ${why}; the online members other than ${node}: ${candidates}`);
    return target!.name;
  }
  return [...others].sort((a, b) => (a.guests ?? 0) - (b.guests ?? 0) || a.nodeid - b.nodeid)[0]?.name ?? null;
}

function freshNotes(s: ClusterSummary, address: string, hostname: string): string[] {
  if (s.name === null) return [`${address} is a standalone node, in no cluster: create the cluster first with pvecm create on it, or the join fails.`];
  const notes = [`${hostname} is not a member of cluster ${s.name}: a fresh-host rebuild.`];
  if (!s.quorate) notes.push(`Cluster ${s.name} is not quorate now (${s.votes.online} of ${s.votes.total} votes online, ${s.votes.needed} needed): the join waits for quorum, up to timeouts.join.`);
  return notes;
}

const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;
