// The activities around a cluster's join lock (issue 16 item 3): asking the cluster's lock workflow for the lock,
// and checking after the join that the cluster really has the node. The lock itself is workflows/cluster-lock.ts;
// the grant and the release are signals between the two workflows.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ProxmoxApiError } from '../src/proxmox/api-client';
import {
  acquireClusterLockSignal,
  clusterLockStateQuery,
  clusterLockWorkflowId,
  type ClusterLockRequest,
  type ClusterLockState,
} from '../workflows/messages';
import type { clusterLockWorkflow } from '../workflows/cluster-lock';
import type { OperationStore } from '../src/store/operation-store';
import type { ClusterMemberRef } from '../src/domain/rebuild';
import { clusterApiOf, type JoinSettings } from './cluster-join';
import { rebuildRun } from './rebuild-run';

export interface ClusterLockTicket {
  lockId: string; // cluster-lock:lab
  cluster: string; // lab, or the configured existing_node without a cluster API
  holder: string | null; // the hostname holding the lock now, when not this rebuild
  ahead: string[]; // hostnames before this rebuild in the queue, the holder first
}

/** Which lock a join takes: the cluster's name from its API, else the one configured member's address. */
async function clusterKey(join: JoinSettings, known?: string): Promise<string> {
  if (known) return known;
  if (!join.cluster) return join.existingNode || 'unconfigured'; // the join itself then fails, naming the settings
  try {
    const summary = await join.cluster.cluster();
    return summary.name ?? (join.existingNode || 'unconfigured');
  } catch (err) {
    if (err instanceof ProxmoxApiError && (err.code === 'fingerprint_mismatch' || err.code === 'unauthorized' || err.code === 'forbidden')) {
      throw ApplicationFailure.nonRetryable(`cannot read the cluster's name for its lock: ${err.message}`, 'JoinRejected');
    }
    throw new Error(`cannot read the cluster's name for its lock: ${(err as Error).message}`);
  }
}

/** Returns the activity that queues the calling rebuild for its cluster's lock (the grant comes as a signal). */
export function requestClusterLock(deps: { join: JoinSettings }) {
  return async function requestClusterLock(input: { hostId: number; hostname: string; purpose: string; leaseMs: number; cluster?: string }): Promise<ClusterLockTicket> {
    const context = Context.current();
    const { workflowExecution, taskQueue } = context.info;
    if (!workflowExecution) throw ApplicationFailure.nonRetryable('requestClusterLock runs only for a rebuild workflow', 'JoinNotConfigured');
    const cluster = await clusterKey(deps.join, input.cluster);
    const lockId = clusterLockWorkflowId(taskQueue, cluster);
    const handle = await context.client.workflow.signalWithStart<typeof clusterLockWorkflow, [ClusterLockRequest]>('clusterLockWorkflow', {
      workflowId: lockId,
      taskQueue,
      args: [{ cluster }],
      signal: acquireClusterLockSignal,
      signalArgs: [{ workflowId: workflowExecution.workflowId, runId: workflowExecution.runId, hostname: input.hostname, purpose: input.purpose, leaseMs: input.leaseMs }],
      staticSummary: `cluster lock ${cluster}`,
      staticDetails: `One nodelist change at a time in cluster ${cluster}: joins and node removals wait here in order.`,
    });
    // Queued now; who is ahead is only for the history, so a query that fails leaves it unsaid.
    let state: ClusterLockState;
    try {
      state = await handle.query(clusterLockStateQuery);
    } catch {
      state = { cluster, holder: null, waiting: [] };
    }
    const me = workflowExecution.runId;
    const holder = state.holder && state.holder.runId !== me ? state.holder.hostname : null;
    const position = state.waiting.findIndex((w) => w.runId === me);
    const ahead = [...(holder ? [holder] : []), ...state.waiting.slice(0, Math.max(0, position)).map((w) => w.hostname)];
    return { lockId, cluster, holder, ahead };
  };
}

/** What the cluster must show after a join before the rebuild may call the host ready. */
export interface MembershipCheck {
  hostId: number;
  hostname: string;
  expectedMembers: number | null; // the member count before the join plus one; null: not known
  via?: ClusterMemberRef; // a member rebuild: the member whose API to ask
}

/**
 * Returns the activity that checks, through the cluster API, that the joined node is in the nodelist, online and
 * the cluster quorate with the expected number of members. Not there yet: a plain error, retried by Temporal until
 * the activity's schedule-to-close timeout. Without a cluster API there is nothing to check.
 */
export function checkClusterMembership(deps: { join: JoinSettings; operations: OperationStore }) {
  return async function checkClusterMembership(input: MembershipCheck): Promise<{ checked: boolean; members: number | null }> {
    const api = clusterApiOf(deps.join, input.via);
    if (!api) return { checked: false, members: null };
    const [summary, nodelist] = await Promise.all([api.cluster(), api.clusterNodes()]);
    const problems: string[] = [];
    if (!nodelist.some((n) => n.name === input.hostname)) problems.push(`${input.hostname} is not in /cluster/config/nodes`);
    const member = summary.members.find((m) => m.name === input.hostname);
    if (!member?.online) problems.push(`${input.hostname} is not online in /cluster/status`);
    if (!summary.quorate) problems.push(`cluster ${summary.name ?? ''} is not quorate (${summary.votes.online} of ${summary.votes.total} votes, ${summary.votes.needed} needed)`);
    if (input.expectedMembers !== null && summary.members.length !== input.expectedMembers) {
      problems.push(`the cluster has ${summary.members.length} members, ${input.expectedMembers} expected`);
    }
    if (problems.length > 0) throw new Error(`the cluster does not show the join yet: ${problems.join('; ')}`);
    const operationId = deps.operations.byRunId(rebuildRun().runId)?.id ?? null;
    deps.operations.append({
      hostId: input.hostId,
      operationId,
      kind: 'cluster_checked',
      message: `${input.hostname} is in the nodelist and online; cluster ${summary.name ?? ''} is quorate with ${summary.members.length} members (${summary.votes.online} of ${summary.votes.total} votes)`,
      details: { members: summary.members.length, votes: summary.votes },
    });
    return { checked: true, members: summary.members.length };
  };
}
