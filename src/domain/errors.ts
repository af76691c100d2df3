// Domain errors: one base class with a stable snake_case code. Codes cross process boundaries
// (Temporal failures, HTTP bodies, logs) where `instanceof` does not survive, so the edge maps codes.

/** Base of every deliberate error; `code` is stable, `field` names the offending input when there is one. */
export abstract class DomainError extends Error {
  abstract readonly code: string;
  readonly field?: string;
  constructor(message: string, field?: string) {
    super(message);
    this.name = new.target.name;
    if (field !== undefined) this.field = field;
  }
}

/** Thrown when request input fails a domain rule (bad MAC, bad hostname, unknown server type). */
export class InvalidInputError extends DomainError {
  readonly code = 'invalid_request';
  constructor(field: string, message: string) {
    super(message, field);
  }
}

/** Thrown when no host has the given id. */
export class HostNotFoundError extends DomainError {
  readonly code = 'host_not_found';
  constructor(readonly hostId: number | string) {
    super(`no host with id ${hostId}`);
  }
}

/** Thrown when registering a host whose MAC or hostname is already taken. */
export class DuplicateHostError extends DomainError {
  constructor(
    readonly code: 'duplicate_mac' | 'duplicate_hostname',
    field: 'mac' | 'hostname',
    value: string,
  ) {
    super(`a host with ${field} ${value} is already registered`, field);
  }
}

/** Thrown when a rebuild is requested for a host that already has one running. */
export class RebuildInProgressError extends DomainError {
  readonly code = 'rebuild_in_progress';
  constructor(
    readonly hostId: number,
    readonly workflowId: string,
    readonly operationId?: number,
  ) {
    super(
      `host ${hostId} already has a rebuild running (workflow ${workflowId}` +
        (operationId !== undefined ? `, operation ${operationId})` : ')'),
    );
  }
}

/**
 * Thrown when a rebuild is requested while the last one has ended (its outcome recorded) but its workflow is still
 * open: it sends its notifications after the cleanup, retrying a failing receiver for up to 10 minutes.
 */
export class RebuildFinishingError extends DomainError {
  readonly code = 'rebuild_finishing';
  constructor(
    readonly hostId: number,
    readonly workflowId: string,
    outcome: string,
  ) {
    super(`the last rebuild of host ${hostId} has ended (${outcome}), but its workflow ${workflowId} is still sending its notifications (a receiver that fails is retried for up to 10 minutes); start the rebuild again once that workflow has closed (the Temporal Web UI shows it)`);
  }
}

/** Thrown when an action needs a running rebuild and the host has none. */
export class NoActiveRebuildError extends DomainError {
  readonly code = 'no_active_rebuild';
  constructor(readonly hostId: number) {
    super(`host ${hostId} has no rebuild running`);
  }
}

/** Thrown when a host with a running rebuild is about to be deleted. */
export class HostBusyError extends DomainError {
  readonly code = 'host_busy';
  constructor(
    readonly hostId: number,
    message = `host ${hostId} has a rebuild running; cancel it before deleting the host`,
  ) {
    super(message);
  }
}

/** Thrown when a state change is not in the host state machine's table. */
export class IllegalTransitionError extends DomainError {
  readonly code = 'illegal_transition';
  constructor(
    readonly from: string,
    readonly to: string,
  ) {
    super(`host cannot go from ${from} to ${to}`);
  }
}
