// rebuildHostWorkflow: one rebuild of one host, from "rebuild" to "ready". Reads as the runbook: each stage
// is a few lines, each wait a condition with a named timeout, and cleanup always runs.
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { RebuildKeyRef } from '../activities/rebuild-key';
import type { HostState } from '../src/domain/host-state-machine';
import {
  bootEvents,
  stateAfter,
  timeoutMessage,
  type BootEventKind,
  type RebuildFailureReason,
  type RebuildInput,
  type RebuildProgress,
} from '../src/domain/rebuild';
import {
  answerServedSignal,
  installedSignal,
  phonedHomeSignal,
  pxeBootedSignal,
  rebuildProgressQuery,
  type BootEventMeta,
} from './messages';
import { HOST_STATE } from './search-attributes';

// Records and key handling: quick, local, retried briefly.
const quick = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 10 },
});

/** The outcome a finished rebuild returns (and the Web UI shows as its result). */
export interface RebuildResult {
  hostId: number;
  state: HostState;
  failure: RebuildProgress['failure'];
}

/** Thrown inside the workflow to end a rebuild as failed with a reason; never leaves the workflow. */
class RebuildFailed extends Error {
  constructor(
    readonly reason: RebuildFailureReason,
    message: string,
  ) {
    super(message);
  }
}

export async function rebuildHostWorkflow(input: RebuildInput): Promise<RebuildResult> {
  const progress: RebuildProgress = { hostId: input.hostId, state: 'pxe_ready', reached: {}, lastEvent: null, failure: null };
  const received: Partial<Record<BootEventKind, BootEventMeta & Record<string, unknown>>> = {};
  const ignored: Array<{ kind: BootEventKind; state: HostState }> = [];

  // Signal handlers only record; the main function does the waiting. A duplicate, late or early event is kept
  // in `ignored` and written to the history, never thrown.
  const onBootEvent = (kind: BootEventKind) => (event: BootEventMeta) => {
    progress.lastEvent = kind;
    if (received[kind] === undefined) received[kind] = event as BootEventMeta & Record<string, unknown>;
    else ignored.push({ kind, state: progress.state });
  };
  setHandler(pxeBootedSignal, onBootEvent('pxeBooted'));
  setHandler(answerServedSignal, onBootEvent('answerServed'));
  setHandler(installedSignal, onBootEvent('installed'));
  setHandler(phonedHomeSignal, onBootEvent('phonedHome'));
  setHandler(rebuildProgressQuery, () => progress);

  let key: RebuildKeyRef | undefined;
  let pxeAllowed = false;
  try {
    await quick.beginRebuild({ hostId: input.hostId, hostname: input.hostname });
    key = await generateKey(input);
    await enterState('pxe_ready', `rebuild key ready; waiting for ${input.mac} to PXE boot`);
    await quick.allowPxeBoot({ hostId: input.hostId, mac: input.mac });
    pxeAllowed = true;

    await awaitBootEvent('pxeBooted', input.timeouts.pxeBoot);
    await awaitBootEvent('answerServed', input.timeouts.answerFetch);
    await awaitBootEvent('installed', input.timeouts.install);
    // A rebooting host must boot its new disk, never the installer again.
    await quick.revokePxeBoot({ hostId: input.hostId, mac: input.mac });
    pxeAllowed = false;
    await awaitBootEvent('phonedHome', input.timeouts.phoneHome);

    throw new RebuildFailed('internal_error', 'joining the cluster is not built yet: the rebuild stops after first boot');
  } catch (err) {
    const failure = describeFailure(err, progress.state, input);
    progress.failure = { stage: progress.state, ...failure };
    await CancellationScope.nonCancellable(() =>
      quick.finishRebuild({ hostId: input.hostId, outcome: 'failed', stage: progress.state, ...failure }),
    );
    progress.state = 'failed';
    setCurrentDetails(`failed at ${progress.failure.stage}: ${failure.message}`);
    upsertSearchAttributes([{ key: HOST_STATE, value: 'failed' }]);
    return { hostId: input.hostId, state: 'failed', failure: progress.failure };
  } finally {
    // Cleanup runs on success, failure, timeout and cancel.
    await CancellationScope.nonCancellable(async () => {
      if (pxeAllowed) await quick.revokePxeBoot({ hostId: input.hostId, mac: input.mac });
      if (key) await quick.destroyRebuildKey({ hostId: input.hostId, keyId: key.keyId });
    });
  }

  async function generateKey(i: RebuildInput): Promise<RebuildKeyRef> {
    try {
      return await quick.generateRebuildKey({ hostId: i.hostId, hostname: i.hostname });
    } catch (err) {
      if (isCancellation(err)) throw err;
      throw new RebuildFailed('key_generation_failed', `could not generate the rebuild key: ${(err as Error).message}`);
    }
  }

  async function enterState(state: HostState, message: string, details?: Record<string, unknown>): Promise<void> {
    await quick.recordHostState({ hostId: input.hostId, state, message, details });
    progress.state = state;
    progress.reached[state] = new Date().toISOString();
    setCurrentDetails(`${input.hostname} (${input.mac}): ${state} — ${message}`);
    upsertSearchAttributes([{ key: HOST_STATE, value: state }]);
  }

  async function awaitBootEvent(kind: BootEventKind, timeout: string): Promise<void> {
    const laterOrSame = bootEvents.slice(bootEvents.indexOf(kind));
    const arrived = await condition(() => laterOrSame.some((k) => received[k] !== undefined), timeout);
    await recordIgnoredEvents();
    if (!arrived) throw new RebuildFailed('stage_timeout', timeoutMessage(kind, input.mac, timeout));
    const event = received[kind];
    if (event === undefined) {
      // Out of order: a later event proves this stage passed even though its own event never came.
      const later = laterOrSame.find((k) => received[k] !== undefined)!;
      await enterState(stateAfter[kind], `${kind} was not seen, but ${later} arrived; moving on`, { event: kind, inferredFrom: later });
      return;
    }
    await enterState(stateAfter[kind], describeBootEvent(kind, event), { event: kind, at: event.at, remoteAddress: event.remoteAddress });
  }

  async function recordIgnoredEvents(): Promise<void> {
    while (ignored.length > 0) {
      const { kind, state } = ignored.shift()!;
      await quick.recordRebuildEvent({
        hostId: input.hostId,
        kind: 'boot_event_ignored',
        message: `${kind} received again while ${state}; ignored`,
      });
    }
  }
}

function describeBootEvent(kind: BootEventKind, event: BootEventMeta & Record<string, unknown>): string {
  const from = event.remoteAddress ? ` from ${event.remoteAddress}` : '';
  switch (kind) {
    case 'pxeBooted':
      return `PXE boot script served${from}`;
    case 'answerServed':
      return `answer file served${from}; installing`;
    case 'installed':
      return `installer reported success${from}`;
    case 'phonedHome':
      return `first boot phoned home${from}`;
  }
}

function describeFailure(err: unknown, stage: HostState, input: RebuildInput): { reason: RebuildFailureReason; message: string } {
  if (err instanceof RebuildFailed) return { reason: err.reason, message: err.message };
  if (isCancellation(err)) return { reason: 'cancelled', message: `rebuild cancelled by an operator while ${stage}` };
  if (err instanceof ApplicationFailure) return { reason: 'internal_error', message: err.message };
  log.error('rebuild failed unexpectedly', { hostId: input.hostId, error: String(err) });
  return { reason: 'internal_error', message: (err as Error).message ?? String(err) };
}
