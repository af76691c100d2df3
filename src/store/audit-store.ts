import type { Database } from './database';

/** Who did it, in words that name no secret: "the API token", "a dashboard session", "an operator (open API)", "host". */
export interface AuditEntry {
  id: number;
  at: string;
  kind: string; // host.register, rebuild.start, power.cycle, login.failed, boot.decision, … (README "Audit trail")
  actor: string;
  address: string | null;
  host_id: number | null;
  mac: string | null;
  hostname: string | null;
  result: 'ok' | 'refused' | 'failed';
  message: string;
  details: Record<string, unknown> | null;
}

export type NewAuditEntry = Omit<AuditEntry, 'id' | 'at'> & { at?: string };

/** Filters of GET /api/audit; every one optional. */
export interface AuditQuery {
  hostId?: number;
  mac?: string;
  kind?: string; // exact, or a prefix ending in '.': 'power.' matches power.on, power.cycle, …
  since?: string; // ISO time, inclusive
  until?: string; // ISO time, exclusive
  before?: number; // paging: entries with an id below this (the previous page's next_before)
  limit: number;
}

interface Row extends Omit<AuditEntry, 'details'> {
  details: string | null;
}

const toEntry = (r: Row): AuditEntry => ({ ...r, details: r.details === null ? null : (JSON.parse(r.details) as Record<string, unknown>) });

/** The audit trail (migration 6): append-only, newest first when read, pruned by age. */
export class AuditStore {
  private readonly insertStmt;

  constructor(
    private readonly db: Database,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.insertStmt = db.prepare<[string, string, string, string | null, number | null, string | null, string | null, string, string, string | null], Row>(
      'INSERT INTO audit (at, kind, actor, address, host_id, mac, hostname, result, message, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *',
    );
  }

  record(entry: NewAuditEntry): AuditEntry {
    const row = this.insertStmt.get(
      entry.at ?? this.now().toISOString(),
      entry.kind,
      entry.actor,
      entry.address,
      entry.host_id,
      entry.mac,
      entry.hostname,
      entry.result,
      entry.message,
      entry.details === null ? null : JSON.stringify(entry.details),
    )!;
    return toEntry(row);
  }

  /** Entries matching `q`, newest first, and the id to pass as `before` for the next page (null on the last). */
  list(q: AuditQuery): { entries: AuditEntry[]; nextBefore: number | null } {
    const where: string[] = [];
    const args: (string | number)[] = [];
    const add = (condition: string, ...values: (string | number)[]) => {
      where.push(condition);
      args.push(...values);
    };
    if (q.hostId !== undefined) add('host_id = ?', q.hostId);
    if (q.mac !== undefined) add('mac = ?', q.mac);
    if (q.kind !== undefined) {
      if (q.kind.endsWith('.')) add('substr(kind, 1, ?) = ?', q.kind.length, q.kind);
      else add('kind = ?', q.kind);
    }
    if (q.since !== undefined) add('at >= ?', q.since);
    if (q.until !== undefined) add('at < ?', q.until);
    if (q.before !== undefined) add('id < ?', q.before);
    const sql = `SELECT * FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    const rows = this.db.prepare<(string | number)[], Row>(sql).all(...args, q.limit + 1);
    const entries = rows.slice(0, q.limit).map(toEntry);
    return { entries, nextBefore: rows.length > q.limit ? entries.at(-1)!.id : null };
  }

  /**
   * Deletes the entries older than `retentionMs`, and the oldest beyond the newest `maxRows` (a flood of refused
   * requests or boot requests cannot grow the table without bound); returns how many went.
   */
  prune(retentionMs: number, maxRows = 1_000_000): number {
    const before = new Date(this.now().getTime() - retentionMs).toISOString();
    const byAge = this.db.prepare('DELETE FROM audit WHERE at < ?').run(before).changes;
    const newest = this.db.prepare<[], { id: number | null }>('SELECT max(id) AS id FROM audit').get()?.id ?? 0;
    return byAge + this.db.prepare('DELETE FROM audit WHERE id <= ?').run(newest - maxRows).changes;
  }
}
