import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { migrations as allMigrations, type Migration } from './migrations';

export type Database = BetterSqlite3.Database;

/** Opens (creating if needed) the SQLite database at `path` in WAL mode with foreign keys on, and migrates it. */
export function openDatabase(path: string, migrations: readonly Migration[] = allMigrations): Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new BetterSqlite3(path);
  // First: a gateway and a worker may open a new file at the same moment; the second waits instead of failing.
  db.pragma('busy_timeout = 5000');
  enableWal(db);
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  migrate(db, migrations);
  return db;
}

/** Null when the database answers a trivial query, else why not (for /readyz). */
export function databaseProblem(db: Database): string | null {
  return db.prepare('SELECT 1 AS ok').get() ? null : 'database did not answer';
}

/**
 * Switches a connection to WAL. SQLite answers SQLITE_BUSY at once, without its busy handler, when another process is
 * switching the same new file at that moment (gateway and worker starting together), so this waits and retries for
 * up to 5 s; the second process then finds the file already in WAL mode.
 */
function enableWal(db: Database): void {
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      const mode = db.pragma('journal_mode = WAL', { simple: true }) as string;
      if (mode !== 'wal' && !db.memory) throw new Error(`${db.name}: SQLite could not switch to WAL mode (journal_mode is ${mode})`);
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() > deadline) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10 + Math.random() * 40);
    }
  }
}

/**
 * Applies every migration newer than the database's user_version, all in one IMMEDIATE transaction: two processes
 * starting together take turns, and the second finds nothing left to do. A failing migration leaves no trace.
 */
export function migrate(db: Database, migrations: readonly Migration[]): number {
  const newest = migrations.at(-1)?.version ?? 0;
  db.transaction(() => {
    const current = db.pragma('user_version', { simple: true }) as number;
    if (current > newest) {
      throw new Error(`database schema version ${current} is newer than this build knows (${newest}); refusing to touch it`);
    }
    for (const m of migrations) {
      if (m.version <= current) continue;
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    }
  }).immediate();
  return db.pragma('user_version', { simple: true }) as number;
}
