import type { Database } from './database';

/** One change notification: written by triggers on hosts, operations and events (migration 2). */
export interface FeedRow {
  id: number;
  hostId: number;
  kind: 'changed' | 'deleted';
}

/** Reads the change feed the dashboard tails (it works whichever process wrote the change). */
export class FeedStore {
  private readonly sinceStmt;
  private readonly maxStmt;
  private readonly minStmt;

  constructor(private readonly db: Database) {
    this.sinceStmt = db.prepare<[number, number], { id: number; host_id: number; kind: 'changed' | 'deleted' }>(
      'SELECT id, host_id, kind FROM feed WHERE id > ? ORDER BY id LIMIT ?',
    );
    this.maxStmt = db.prepare<[], { id: number | null }>('SELECT max(id) AS id FROM feed');
    this.minStmt = db.prepare<[], { id: number | null }>('SELECT min(id) AS id FROM feed');
  }

  /** The newest row id (0 when empty). */
  maxId(): number {
    return this.maxStmt.get()?.id ?? 0;
  }

  /** The oldest retained row id (0 when empty). */
  minId(): number {
    return this.minStmt.get()?.id ?? 0;
  }

  /** Rows after `id`, oldest first, at most `limit`. */
  since(id: number, limit: number): FeedRow[] {
    return this.sinceStmt.all(id, limit).map((r) => ({ id: r.id, hostId: r.host_id, kind: r.kind }));
  }

  /** Deletes all but the newest `keep` rows; returns how many went. */
  prune(keep: number): number {
    return this.db.prepare('DELETE FROM feed WHERE id <= ?').run(this.maxId() - keep).changes;
  }
}
