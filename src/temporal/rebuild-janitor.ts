import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { isActive } from '../domain/host-state-machine';
import { formatDuration } from '../domain/duration';
import { runIdOfRebuildKey } from '../domain/rebuild-ids';
import type { Logger } from '../logging';
import type { HostStore } from '../store/host-store';
import type { OperationStore } from '../store/operation-store';
import type { PxeAllowList } from '../store/pxe-allow-list';
import type { RebuildKeyStore } from '../store/rebuild-key-store';

/** What one sweep did. */
export interface SweepReport {
  keysDeleted: string[];
  operationsClosed: number[];
  allowancesRevoked: string[]; // MACs
}

/** The status the janitor gives a run it terminated for outliving the bound of runs without a run timeout. */
const outlivedBound = 'OUTLIVED_BOUND';

/** The failure reason of a run that ended without its own cleanup: it ran out of time, or it was stopped. */
function reasonOf(status: string): 'timed_out' | 'terminated' {
  return status === 'TIMED_OUT' || status === outlivedBound ? 'timed_out' : 'terminated';
}

/** 'TIMED_OUT' → 'timed out'. */
function statusText(status: string): string {
  return status.toLowerCase().replaceAll('_', ' ');
}

/**
 * Cleans up after rebuilds that ended without running their own cleanup (a terminated or timed-out workflow runs
 * no code): deletes their private keys, closes their operations as failed, and revokes their PXE allowance. An
 * allowance whose rebuild is not running is revoked even when no operation names it: no MAC stays allowed to PXE
 * boot the installer after its rebuild ended.
 */
export class RebuildJanitor {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;

  constructor(
    private readonly deps: {
      client: Client;
      hosts: HostStore;
      operations: OperationStore;
      keys: RebuildKeyStore;
      pxeAllowList: PxeAllowList;
      log: Logger;
      /**
       * The bound for a rebuild started without a run timeout (by a version before rebuilds had one): the run
       * timeout today's stage timeouts give. The janitor terminates such a run once it is older, and closes it as
       * timed out. Absent: no such bound.
       */
      unboundedRunLimitMs?: number;
    },
  ) {}

  /** The workflow status of one run (the newest when `runId` is empty), or 'NOT_FOUND'. */
  private async status(workflowId: string, runId: string): Promise<string> {
    return (await this.describe(workflowId, runId)).status;
  }

  private async describe(workflowId: string, runId: string): Promise<{ status: string; hasRunTimeout: boolean }> {
    try {
      const d = await this.deps.client.workflow.getHandle(workflowId, runId || undefined).describe();
      const runTimeout = d.raw.executionConfig?.workflowRunTimeout;
      return { status: d.status.name, hasRunTimeout: Number(runTimeout?.seconds ?? 0) > 0 || (runTimeout?.nanos ?? 0) > 0 };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return { status: 'NOT_FOUND', hasRunTimeout: false };
      throw err;
    }
  }

  /**
   * The status of a running operation's workflow; a run with no run timeout that is older than the limit is
   * terminated first (status OUTLIVED_BOUND, closed as timed out).
   */
  private async boundedStatus(operation: { workflowId: string; runId: string; startedAt: string }): Promise<string> {
    const { status, hasRunTimeout } = await this.describe(operation.workflowId, operation.runId);
    const limit = this.deps.unboundedRunLimitMs;
    if (status !== 'RUNNING' || hasRunTimeout || limit === undefined || Date.now() - Date.parse(operation.startedAt) <= limit) return status;
    await this.deps.client.workflow
      .getHandle(operation.workflowId, operation.runId)
      .terminate(`started without a run timeout and open for longer than ${formatDuration(limit)}; ended by the janitor`);
    this.deps.log.warn({ workflowId: operation.workflowId, runId: operation.runId, startedAt: operation.startedAt }, 'terminated a rebuild with no run timeout that outlived the bound');
    return outlivedBound;
  }

  /** Checks every stored key and running operation against Temporal once. */
  async sweepOnce(): Promise<SweepReport> {
    const { hosts, operations, keys, pxeAllowList, log } = this.deps;
    const report: SweepReport = { keysDeleted: [], operationsClosed: [], allowancesRevoked: [] };

    for (const operation of operations.listRunning()) {
      const status = await this.boundedStatus(operation);
      if (status === 'RUNNING') continue;
      const reason = reasonOf(status);
      const why =
        status === outlivedBound
          ? `was open for longer than ${formatDuration(this.deps.unboundedRunLimitMs!)} with no run timeout (started by an earlier version) and was terminated`
          : reason === 'timed_out'
            ? 'reached its run timeout'
            : `is ${statusText(status)}`;
      const message = `rebuild workflow ${operation.workflowId} ${why} without having finished its cleanup; closed by the janitor`;
      // Only the host's newest running operation owns its state and PXE allowance: a newer rebuild (same workflow
      // id, new run) may already be under way, and must not be failed or revoked by this old run's closing.
      const owner = operations.running(operation.hostId)?.id === operation.id;
      const host = hosts.find(operation.hostId);
      if (owner && host) {
        const allowance = pxeAllowList.find(host.mac);
        if (allowance?.workflowId === operation.workflowId && pxeAllowList.revoke(host.mac)) report.allowancesRevoked.push(host.mac);
        if (isActive(host.state)) hosts.transition(host.id, 'failed');
      }
      operations.finish(operation.id, { status: 'failed', reason, message });
      operations.append({ hostId: operation.hostId, operationId: operation.id, kind: 'state', state: owner ? 'failed' : null, message, details: { reason, workflowStatus: status } });
      report.operationsClosed.push(operation.id);
      log.warn({ operationId: operation.id, workflowId: operation.workflowId, status }, 'closed a rebuild whose workflow ended without cleanup');
    }

    for (const key of keys.list()) {
      const runId = runIdOfRebuildKey(key.id);
      const status = await this.status(key.workflowId, runId);
      if (status === 'RUNNING') continue;
      keys.delete(key.id);
      report.keysDeleted.push(key.id);
      const operation = operations.byRunId(runId);
      if (operation) {
        operations.append({
          hostId: operation.hostId,
          operationId: operation.id,
          kind: 'key_swept',
          message: `rebuild private key deleted by the janitor: its workflow is ${statusText(status)}`,
          details: { keyId: key.id },
        });
      }
      log.warn({ keyId: key.id, workflowId: key.workflowId, status }, 'deleted the rebuild key of a rebuild that is no longer running');
    }

    // The newest run of the allowance's workflow: a rebuild that is running (the same or a newer run) keeps it.
    for (const allowance of pxeAllowList.list()) {
      const status = await this.status(allowance.workflowId, '');
      if (status === 'RUNNING' || !pxeAllowList.revokeIfUnchanged(allowance)) continue;
      report.allowancesRevoked.push(allowance.mac);
      log.warn({ mac: allowance.mac, workflowId: allowance.workflowId, status }, 'revoked the PXE allowance of a rebuild that is no longer running');
    }
    return report;
  }

  /** Sweeps every `intervalMs` until stop(). */
  start(intervalMs: number): void {
    if (this.timer) return;
    const tick = () => {
      this.running = this.sweepOnce()
        .catch((err) => this.deps.log.warn({ err }, 'janitor sweep failed; trying again later'))
        .finally(() => {
          this.running = null;
          if (this.timer) this.timer = setTimeout(tick, intervalMs);
        });
    };
    this.timer = setTimeout(tick, Math.min(intervalMs, 5_000));
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }
}
