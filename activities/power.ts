// The rebuild's power steps (issue 17): powering the machine into the installer, starting the install again after a
// stuck stage, and checking that no boot override was left persistent. Each BMC call is a `power` event in the host's
// history, as an operator's call is (src/gateway/routes/power.ts); the settings and the password are read from the
// store for each call and never leave this process.
import { ApplicationFailure } from '@temporalio/activity';
import type { Host } from '../src/domain/host';
import type { HostState } from '../src/domain/host-state-machine';
import { PowerError, type PowerDriver, type PowerState } from '../src/power/types';
import type { HostStore } from '../src/store/host-store';
import type { OperationStore } from '../src/store/operation-store';
import { powerEventKind } from '../src/store/power-store';
import { rebuildRun } from './rebuild-run';

/** The hosts' power as the activities use it: a driver of the host's current settings (its target read from the store). */
export interface PowerControl {
  driver(host: Host): PowerDriver;
}

type Deps = { hosts: HostStore; operations: OperationStore; power: PowerControl };

/** What a power call did, for the workflow's stage text: "Redfish: one-time PXE set, ForceRestart sent". */
export interface PowerStep {
  did: string;
  state: PowerState;
}

/** The kind of the event a power retry writes: the stage that timed out, why, and which retry of how many. */
export const powerRetryEventKind = 'power_retry';

function operationOf(deps: Deps) {
  return deps.operations.byRunId(rebuildRun().runId) ?? null;
}

/**
 * Returns the activity that powers the host into the installer: one-time network boot plus a cycle (or power on) for
 * IPMI and Redfish, the magic packet for WoL, the API reboot for proxmox. A BMC that cannot be reached is retried by
 * the workflow's retry policy; settings, credentials or a method that cannot do it fail at once (PowerRefused).
 */
export function powerIntoInstaller(deps: Deps) {
  return async function powerIntoInstaller(input: { hostId: number; why: string }): Promise<PowerStep> {
    const host = deps.hosts.get(input.hostId);
    const operation = operationOf(deps);
    const driver = deps.power.driver(host);
    const head = `power into the installer of ${host.hostname} (${driver.method}) by the rebuild${operation ? ` #${operation.id}` : ''}, ${input.why}`;
    const details = { action: 'into-installer', method: driver.method, by: { kind: 'rebuild' } };
    try {
      const outcome = await driver.intoInstaller();
      const state = outcome.state === 'unknown' ? '' : ` (power ${outcome.state})`;
      deps.operations.append({ hostId: host.id, operationId: operation?.id ?? null, kind: powerEventKind, message: `${head}: ${outcome.did}${state}`, details: { ...details, result: 'ok', did: outcome.did, powerState: outcome.state } });
      return { did: outcome.did, state: outcome.state };
    } catch (err) {
      throw failed(deps, host, operation?.id ?? null, head, details, err);
    }
  };
}

/**
 * Returns the activity that starts the install again after a stuck stage, before the machine is power-cycled: the host
 * goes back to pxe_ready (so its next PXE boot gets the installer and is reported again), with a `power_retry` event
 * saying which stage timed out, why, and which retry this is. Retry `attempt` runs once: a replay does not reset again.
 */
export function restartInstall(deps: Deps) {
  return async function restartInstall(input: { hostId: number; attempt: number; of: number; stage: HostState; reason: string }): Promise<void> {
    const operation = operationOf(deps);
    if (!operation || operation.status !== 'running') return;
    const done = deps.operations.events(operation.id).some((e) => e.kind === powerRetryEventKind && e.details?.attempt === input.attempt);
    if (done) return;
    if (deps.hosts.get(input.hostId).state !== 'pxe_ready') deps.hosts.transition(input.hostId, 'pxe_ready');
    deps.operations.setStage(operation.id, 'pxe_ready');
    deps.operations.append({
      hostId: input.hostId,
      operationId: operation.id,
      kind: powerRetryEventKind,
      state: 'pxe_ready',
      message: `${input.stage} timed out (${input.reason}): power-cycling into the installer, retry ${input.attempt} of ${input.of}`,
      details: { attempt: input.attempt, of: input.of, stage: input.stage, reason: input.reason },
    });
  };
}

/**
 * Returns the activity that checks, after the installer's webhook, that the one-time network boot was used up and no
 * boot override is left persistent (Redfish `Continuous`, an IPMI `persistent` bootdev); writes what it found to the
 * host's history. Never fails the rebuild: the host is installed either way.
 */
export function checkBootOverride(deps: Deps) {
  return async function checkBootOverride(input: { hostId: number }): Promise<{ persistent: string | null }> {
    const host = deps.hosts.get(input.hostId);
    const operation = operationOf(deps);
    const driver = deps.power.driver(host);
    let persistent: string | null;
    try {
      persistent = await driver.persistentOverride();
    } catch (err) {
      const message = err instanceof PowerError ? err.message : String((err as Error).message ?? err);
      deps.operations.append({ hostId: host.id, operationId: operation?.id ?? null, kind: 'boot_override_unchecked', message: `could not check ${host.hostname}'s boot override after the install (${driver.method}): ${message}` });
      return { persistent: null };
    }
    const message = persistent === null
      ? `${host.hostname} (${driver.method}): no boot override left after the install; it boots by its own boot order`
      : `${host.hostname} (${driver.method}): a persistent boot override is left after the install: ${persistent}; it would network-boot on every start (our iPXE then answers "local disk", but clear it in the BMC)`;
    deps.operations.append({ hostId: host.id, operationId: operation?.id ?? null, kind: persistent === null ? 'boot_override_checked' : 'boot_override_left', message, details: { method: driver.method, persistent } });
    return { persistent };
  };
}

/** Records a failed power call and returns the failure the workflow sees: retried only when the BMC was unreachable. */
function failed(deps: Deps, host: Host, operationId: number | null, head: string, details: Record<string, unknown>, err: unknown): Error {
  if (!(err instanceof PowerError)) {
    deps.operations.append({ hostId: host.id, operationId, kind: powerEventKind, message: `${head} failed: internal error (the worker's log has it)`, details: { ...details, result: 'failed', code: 'internal' } });
    return err as Error;
  }
  deps.operations.append({ hostId: host.id, operationId, kind: powerEventKind, message: `${head} failed: ${err.message}`, details: { ...details, result: 'failed', code: err.code } });
  return ApplicationFailure.create({ type: err.code === 'unreachable' ? 'PowerUnreachable' : 'PowerRefused', message: err.message, nonRetryable: err.code !== 'unreachable' });
}
