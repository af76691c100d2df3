import type { Database } from './database';

export type OperationStatus = 'running' | 'succeeded' | 'failed';

/** One rebuild of one host. */
export interface Operation {
  id: number;
  hostId: number;
  kind: 'rebuild';
  workflowId: string;
  runId: string;
  status: OperationStatus;
  stage: string | null;
  failureReason: string | null;
  failureMessage: string | null;
  startedAt: string;
  finishedAt: string | null;
}

/** One entry of an operation's append-only history. */
export interface OperationEvent {
  id: number;
  hostId: number;
  operationId: number | null;
  at: string;
  kind: string; // state | activity_failed | boot_request | note | …
  state: string | null;
  message: string;
  details: Record<string, unknown> | null;
}

interface OperationRow {
  id: number;
  host_id: number;
  kind: 'rebuild';
  workflow_id: string;
  run_id: string;
  status: OperationStatus;
  stage: string | null;
  failure_reason: string | null;
  failure_message: string | null;
  started_at: string;
  finished_at: string | null;
}

interface EventRow {
  id: number;
  host_id: number;
  operation_id: number | null;
  at: string;
  kind: string;
  state: string | null;
  message: string;
  details: string | null;
}

const toOperation = (r: OperationRow): Operation => ({
  id: r.id,
  hostId: r.host_id,
  kind: r.kind,
  workflowId: r.workflow_id,
  runId: r.run_id,
  status: r.status,
  stage: r.stage,
  failureReason: r.failure_reason,
  failureMessage: r.failure_message,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
});

const toEvent = (r: EventRow): OperationEvent => ({
  id: r.id,
  hostId: r.host_id,
  operationId: r.operation_id,
  at: r.at,
  kind: r.kind,
  state: r.state,
  message: r.message,
  details: r.details === null ? null : (JSON.parse(r.details) as Record<string, unknown>),
});

/** What to append to a history. */
export interface NewEvent {
  hostId: number;
  operationId?: number | null;
  kind: string;
  state?: string | null;
  message: string;
  details?: Record<string, unknown> | null;
}

/** Operations (one per rebuild) and their append-only event history. */
interface EventParams {
  hostId: number;
  operationId: number | null;
  at: string;
  kind: string;
  state: string | null;
  message: string;
  details: string | null;
}

export class OperationStore {
  private readonly insertEvent;
  private readonly listeners = new Set<(event: OperationEvent) => void>();

  constructor(
    private readonly db: Database,
    private readonly now: () => Date = () => new Date(),
  ) {
    // Nothing is written for a host deleted meanwhile (a rebuild's cleanup can still run after the operator deletes
    // a host whose rebuild has finished): its history went with it, and a foreign-key error would fail the cleanup.
    this.insertEvent = db.prepare<[EventParams], EventRow>(
      `INSERT INTO operation_events (host_id, operation_id, at, kind, state, message, details)
       SELECT @hostId, @operationId, @at, @kind, @state, @message, @details
       WHERE EXISTS (SELECT 1 FROM hosts WHERE id = @hostId) RETURNING *`,
    );
  }

  /** Returns the operation of run `runId`, creating it if this is the first caller (gateway or workflow). */
  ensure(hostId: number, workflowId: string, runId: string): Operation {
    const at = this.now().toISOString();
    this.db
      .prepare(
        `INSERT INTO operations (host_id, workflow_id, run_id, started_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (run_id) DO NOTHING`,
      )
      .run(hostId, workflowId, runId, at);
    return this.byRunId(runId)!;
  }

  byRunId(runId: string): Operation | undefined {
    const row = this.db.prepare<[string], OperationRow>('SELECT * FROM operations WHERE run_id = ?').get(runId);
    return row ? toOperation(row) : undefined;
  }

  find(id: number): Operation | undefined {
    const row = this.db.prepare<[number], OperationRow>('SELECT * FROM operations WHERE id = ?').get(id);
    return row ? toOperation(row) : undefined;
  }

  /** Every operation of a host, newest first. */
  listForHost(hostId: number): Operation[] {
    return this.db
      .prepare<[number], OperationRow>('SELECT * FROM operations WHERE host_id = ? ORDER BY id DESC')
      .all(hostId)
      .map(toOperation);
  }

  /** The host's running operation, if any. */
  running(hostId: number): Operation | undefined {
    const row = this.db
      .prepare<[number], OperationRow>(`SELECT * FROM operations WHERE host_id = ? AND status = 'running' ORDER BY id DESC LIMIT 1`)
      .get(hostId);
    return row ? toOperation(row) : undefined;
  }

  /** Every running operation of every host (for the janitor). */
  listRunning(): Operation[] {
    return this.db.prepare<[], OperationRow>(`SELECT * FROM operations WHERE status = 'running' ORDER BY id`).all().map(toOperation);
  }

  setStage(id: number, stage: string): void {
    this.db.prepare('UPDATE operations SET stage = ? WHERE id = ?').run(stage, id);
  }

  /** Closes a running operation; a second call leaves the first outcome in place. */
  finish(id: number, outcome: { status: 'succeeded' } | { status: 'failed'; reason: string; message: string }): Operation {
    this.db
      .prepare(
        `UPDATE operations SET status = ?, failure_reason = ?, failure_message = ?, finished_at = ?
         WHERE id = ? AND status = 'running'`,
      )
      .run(
        outcome.status,
        outcome.status === 'failed' ? outcome.reason : null,
        outcome.status === 'failed' ? outcome.message : null,
        this.now().toISOString(),
        id,
      );
    return this.find(id)!;
  }

  /** Appends one event and tells subscribers; null (nothing written) when the host has been deleted. */
  append(event: NewEvent): OperationEvent | null {
    const row = this.insertEvent.get({
      hostId: event.hostId,
      operationId: event.operationId ?? null,
      at: this.now().toISOString(),
      kind: event.kind,
      state: event.state ?? null,
      message: event.message,
      details: event.details ? JSON.stringify(event.details) : null,
    });
    if (!row) return null;
    const appended = toEvent(row);
    for (const listener of this.listeners) listener(appended);
    return appended;
  }

  /** Events of one operation, oldest first. */
  events(operationId: number): OperationEvent[] {
    return this.db
      .prepare<[number], EventRow>('SELECT * FROM operation_events WHERE operation_id = ? ORDER BY id')
      .all(operationId)
      .map(toEvent);
  }

  /** Events of a host that belong to no operation (e.g. refused boot requests), oldest first. */
  hostEvents(hostId: number, limit = 100): OperationEvent[] {
    return this.db
      .prepare<[number, number], EventRow>(
        'SELECT * FROM (SELECT * FROM operation_events WHERE host_id = ? AND operation_id IS NULL ORDER BY id DESC LIMIT ?) ORDER BY id',
      )
      .all(hostId, limit)
      .map(toEvent);
  }

  /** Calls `listener` for every appended event; returns the unsubscribe function. */
  subscribe(listener: (event: OperationEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
