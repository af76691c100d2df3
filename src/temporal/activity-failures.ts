// A Temporal worker interceptor (not an activity): every failed activity attempt is written to the rebuild's history.
import type { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { ActivityInterceptors } from '@temporalio/worker';
import type { OperationStore } from '../store/operation-store';

/**
 * Returns an activity interceptor factory that writes every failed activity attempt (with its error text and
 * whether it will be retried: not when the error is definite or the retry policy's attempts are used up) into the rebuild's operation history, so operators see retries as they happen.
 */
export function recordActivityFailures(operations: OperationStore) {
  return (ctx: Context): ActivityInterceptors => ({
    inbound: {
      async execute(input, next) {
        try {
          return await next(input);
        } catch (err) {
          if (!(err instanceof CancelledFailure)) record(operations, ctx, input.args[0], err);
          throw err;
        }
      },
    },
  });
}

function record(operations: OperationStore, ctx: Context, firstArg: unknown, err: unknown): void {
  const hostId = (firstArg as { hostId?: unknown } | undefined)?.hostId;
  const execution = ctx.info.workflowExecution;
  if (typeof hostId !== 'number' || !execution) return;
  const policy = ctx.info.retryPolicy;
  const lastAttempt = (policy?.maximumAttempts ?? 0) > 0 && ctx.info.attempt >= policy!.maximumAttempts!;
  const definite =
    err instanceof ApplicationFailure && (err.nonRetryable || (err.type !== undefined && err.type !== null && (policy?.nonRetryableErrorTypes ?? []).includes(err.type)));
  const retrying = !definite && !lastAttempt;
  const message = err instanceof Error ? err.message : String(err);
  try {
    operations.append({
      hostId,
      operationId: operations.byRunId(execution.runId)?.id ?? null,
      kind: 'activity_failed',
      message: `${ctx.info.activityType} attempt ${ctx.info.attempt} failed${retrying ? ' (will retry)' : lastAttempt && !definite ? ' (last attempt)' : ''}: ${message}`,
      details: { activity: ctx.info.activityType, attempt: ctx.info.attempt, retrying },
    });
  } catch {
    // The history is best effort here; the failure itself still reaches the workflow.
  }
}
