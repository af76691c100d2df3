import type { Database } from './database';

/** The stable names of GET /api/events (README "Event stream for scripts"). */
export const streamEventNames = [
  'host.registered',
  'host.updated',
  'host.deleted',
  'rebuild.started',
  'rebuild.stage',
  'rebuild.failed',
  'rebuild.ready',
  'boot.decision',
  'image.progress',
] as const;
export type StreamEventName = (typeof streamEventNames)[number];

/** One event of the stream, as scripts receive it (snake_case, the SSE event id is `id`). */
export interface StreamEvent {
  id: number;
  name: StreamEventName;
  at: string;
  host_id: number | null;
  mac: string | null;
  hostname: string | null;
  state: string | null;
  data: Record<string, unknown>;
}

interface Row {
  id: number;
  name: StreamEventName;
  at: string;
  host_id: number | null;
  mac: string | null;
  hostname: string | null;
  state: string | null;
  data: string;
}

const toEvent = (r: Row): StreamEvent => ({ ...r, data: JSON.parse(r.data) as Record<string, unknown> });

/**
 * The event stream's table (migration 6): triggers write the host and rebuild events whichever process made the
 * change; the gateway appends image progress. Read by id, oldest first.
 */
export class StreamStore {
  private readonly sinceStmt;
  private readonly sinceHostStmt;
  private readonly insertStmt;

  constructor(private readonly db: Database) {
    this.sinceStmt = db.prepare<[number, number], Row>('SELECT id, name, at, host_id, mac, hostname, state, data FROM stream_events WHERE id > ? ORDER BY id LIMIT ?');
    this.sinceHostStmt = db.prepare<[number, number, number], Row>('SELECT id, name, at, host_id, mac, hostname, state, data FROM stream_events WHERE id > ? AND host_id = ? ORDER BY id LIMIT ?');
    this.insertStmt = db.prepare<[string, string], Row>("INSERT INTO stream_events (name, data) VALUES (?, ?) RETURNING id, name, at, host_id, mac, hostname, state, data");
  }

  /** The newest id (0 when empty). */
  maxId(): number {
    return this.db.prepare<[], { id: number | null }>('SELECT max(id) AS id FROM stream_events').get()?.id ?? 0;
  }

  /** The oldest retained id (0 when empty). */
  minId(): number {
    return this.db.prepare<[], { id: number | null }>('SELECT min(id) AS id FROM stream_events').get()?.id ?? 0;
  }

  /** Events after `id`, oldest first, at most `limit`; only host `hostId`'s when given. */
  since(id: number, limit: number, hostId?: number): StreamEvent[] {
    const rows = hostId === undefined ? this.sinceStmt.all(id, limit) : this.sinceHostStmt.all(id, hostId, limit);
    return rows.map(toEvent);
  }

  /** Appends an event that no trigger writes (image progress: no host). */
  append(name: 'image.progress', data: Record<string, unknown>): StreamEvent {
    return toEvent(this.insertStmt.get(name, JSON.stringify(data))!);
  }

  /** Deletes the events before `before` (ISO time), keeping at least the newest `keep`; returns how many went. */
  prune(before: string, keep = 10_000): number {
    return this.db.prepare('DELETE FROM stream_events WHERE at < ? AND id <= ?').run(before, this.maxId() - keep).changes;
  }
}
