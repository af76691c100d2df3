// clusterLockWorkflow: one cluster, one nodelist edit at a time (proxmox-cluster.md §1: concurrent joins fail with
// a corosync.conf lock timeout). A long-running workflow per cluster (id `cluster-lock/<task queue>/<name>`), started
// by a request (signalWithStart from an activity) and finished after idleTimeout without one: it grants in order by
// signalling the requesting rebuild, holds each grant for at most its lease (a terminated rebuild cannot block the
// cluster for ever), answers who holds it and who waits, and continues as new with its queue when its history grows.
import {
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import {
  acquireClusterLockSignal,
  clusterLockGrantedSignal,
  clusterLockStateQuery,
  releaseClusterLockSignal,
  type ClusterLockRequest,
  type ClusterLockState,
} from './messages';

/** Where a lock workflow starts: its cluster, and (after continue-as-new) the holder and queue it carried over. */
export interface ClusterLockInput {
  cluster: string;
  holder?: ClusterLockState['holder'];
  waiting?: ClusterLockState['waiting'];
}

/** How long a free lock with nobody waiting stays open; the next request starts it again. */
const idleTimeout = '5m';

export async function clusterLockWorkflow(input: ClusterLockInput): Promise<void> {
  const state: ClusterLockState = { cluster: input.cluster, holder: input.holder ?? null, waiting: [...(input.waiting ?? [])] };
  let released = false;
  const now = () => new Date().toISOString();
  const isQueued = (runId: string) => state.holder?.runId === runId || state.waiting.some((w) => w.runId === runId);

  // A repeated request from the same run (an activity retried) keeps its place; a release counts only from the
  // holder, and a waiter's release (a rebuild cancelled while waiting) just leaves the queue.
  setHandler(acquireClusterLockSignal, (request: ClusterLockRequest) => {
    if (!isQueued(request.runId)) state.waiting.push({ ...request, since: now() });
    describe();
  });
  setHandler(releaseClusterLockSignal, ({ runId }: { runId: string }) => {
    if (state.holder?.runId === runId) released = true;
    else state.waiting = state.waiting.filter((w) => w.runId !== runId);
    describe();
  });
  setHandler(clusterLockStateQuery, () => state);

  for (;;) {
    if (state.holder === null) {
      describe();
      // A request that arrives while this run finishes is applied first, so the queue is checked again.
      const requested = await condition(() => state.waiting.length > 0, idleTimeout);
      if (!requested && state.waiting.length === 0) return;
      const next = state.waiting.shift()!;
      state.holder = { ...next, since: now(), leaseUntil: new Date(Date.now() + next.leaseMs).toISOString() };
      released = false;
      describe();
      try {
        await getExternalWorkflowHandle(next.workflowId, next.runId).signal(clusterLockGrantedSignal, { cluster: state.cluster, grantedAt: state.holder.since });
      } catch (err) {
        // The requesting rebuild is gone (finished, terminated): the next in line gets the lock.
        log.warn('cluster lock: requester gone, skipping it', { cluster: state.cluster, hostname: next.hostname, error: String(err) });
        state.holder = null;
        continue;
      }
    }
    const leaseLeft = Math.max(0, Date.parse(state.holder.leaseUntil) - Date.now());
    const inTime = await condition(() => released, leaseLeft);
    if (!inTime) log.warn('cluster lock: lease expired, the next in line gets the lock', { cluster: state.cluster, hostname: state.holder.hostname });
    state.holder = null;
    released = false;
    if (workflowInfo().continueAsNewSuggested) await continueAsNew<typeof clusterLockWorkflow>({ cluster: state.cluster, waiting: state.waiting });
  }

  function describe(): void {
    const holder = state.holder ? `held by ${state.holder.hostname} since ${state.holder.since}` : 'free';
    const waiting = state.waiting.length > 0 ? `; waiting: ${state.waiting.map((w) => w.hostname).join(', ')}` : '';
    setCurrentDetails(`cluster ${state.cluster}: ${holder}${waiting}`);
  }
}
