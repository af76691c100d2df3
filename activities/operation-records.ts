import { hostStates, isActive, isHostState, type HostState } from '../src/domain/host-state-machine';
import type { RebuildFailureReason } from '../src/domain/rebuild';
import { rebuildRun } from './rebuild-run';
import type { HostStore } from '../src/store/host-store';
import type { OperationStore } from '../src/store/operation-store';

function currentOperation(deps: { operations: OperationStore }, hostId: number) {
  const { workflowId, runId } = rebuildRun();
  return deps.operations.ensure(hostId, workflowId, runId);
}

/** Returns the activity that opens the rebuild's operation record (idempotent) and returns its id. */
export function beginRebuild(deps: { operations: OperationStore }) {
  return async function beginRebuild(input: { hostId: number; hostname: string }): Promise<{ operationId: number }> {
    const operation = currentOperation(deps, input.hostId);
    if (deps.operations.events(operation.id).length === 0) {
      deps.operations.append({
        hostId: input.hostId,
        operationId: operation.id,
        kind: 'rebuild_started',
        message: `rebuild of ${input.hostname} started`,
        details: { workflowId: operation.workflowId, runId: operation.runId },
      });
    }
    return { operationId: operation.id };
  };
}

/** True when an operation at `stage` has already reached `state` or gone past it, in rebuild order. */
function reached(stage: string | null, state: HostState): boolean {
  if (stage === null || !isHostState(stage) || stage === 'failed') return false;
  return hostStates.indexOf(stage) >= hostStates.indexOf(state);
}

/**
 * Returns the activity that moves the host to `state` and records it. It runs at least once: a worker killed before
 * the workflow task that ran it completed runs it again on replay, possibly after later states were recorded. So a
 * state this rebuild has already reached or passed, or a rebuild already finished, is a no-op.
 */
export function recordHostState(deps: { hosts: HostStore; operations: OperationStore }) {
  return async function recordHostState(input: {
    hostId: number;
    state: HostState;
    message: string;
    details?: Record<string, unknown>;
  }): Promise<void> {
    const operation = currentOperation(deps, input.hostId);
    if (operation.status !== 'running' || reached(operation.stage, input.state)) return; // run again on replay
    if (deps.hosts.get(input.hostId).state !== input.state) deps.hosts.transition(input.hostId, input.state);
    deps.operations.setStage(operation.id, input.state);
    deps.operations.append({
      hostId: input.hostId,
      operationId: operation.id,
      kind: 'state',
      state: input.state,
      message: input.message,
      details: input.details ?? null,
    });
  };
}

/** Returns the activity that appends a note (ignored or out-of-order boot event, skipped step) to the history. */
export function recordRebuildEvent(deps: { operations: OperationStore }) {
  return async function recordRebuildEvent(input: {
    hostId: number;
    kind: string;
    message: string;
    details?: Record<string, unknown>;
  }): Promise<void> {
    // Also runs in a finished rebuild's cleanup, when the operator may have deleted the host (and with it the
    // operation): then there is nothing to write to, and append() writes nothing.
    const operation = deps.operations.byRunId(rebuildRun().runId);
    deps.operations.append({ hostId: input.hostId, operationId: operation?.id ?? null, kind: input.kind, message: input.message, details: input.details ?? null });
  };
}

/** Returns the activity that closes the operation: ready, or failed with stage and reason. */
export function finishRebuild(deps: { hosts: HostStore; operations: OperationStore }) {
  return async function finishRebuild(
    input:
      | { hostId: number; outcome: 'ready' }
      | { hostId: number; outcome: 'failed'; stage: HostState; reason: RebuildFailureReason; message: string },
  ): Promise<void> {
    const operation = currentOperation(deps, input.hostId);
    if (operation.status !== 'running') return; // retried after success
    const host = deps.hosts.get(input.hostId);
    if (input.outcome === 'ready') {
      if (host.state !== 'ready') deps.hosts.transition(input.hostId, 'ready');
      deps.operations.setStage(operation.id, 'ready');
      deps.operations.append({ hostId: input.hostId, operationId: operation.id, kind: 'state', state: 'ready', message: `${host.hostname} is ready` });
      deps.operations.finish(operation.id, { status: 'succeeded' });
      return;
    }
    // A rebuild that failed before pxe_ready leaves the host in the state it had.
    if (isActive(host.state)) deps.hosts.transition(input.hostId, 'failed');
    deps.operations.append({
      hostId: input.hostId,
      operationId: operation.id,
      kind: 'state',
      state: isActive(host.state) ? 'failed' : host.state,
      message: `rebuild failed at ${input.stage}: ${input.message}`,
      details: { stage: input.stage, reason: input.reason },
    });
    deps.operations.finish(operation.id, { status: 'failed', reason: input.reason, message: input.message });
  };
}
