// A consistent copy of the service's SQLite database, taken with SQLite's online backup API, also while the service
// runs and writes (`provisioning backup <file>`, src/service/backup.ts).
import { closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, rmSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';

/** Thrown when no backup can be written; the message names the file and what is wrong. */
export class BackupError extends Error {}

/** What a backup wrote. */
export interface BackupReport {
  source: string; // /srv/provisioning/data/provisioning.db
  target: string; // /srv/provisioning/backups/provisioning-2026-12-02.db
  bytes: number;
  schemaVersion: number; // PRAGMA user_version of the copy
  hosts: number;
}

// After SQLite's first (empty) step, the rest in one: one read transaction, so the copy is one committed state of the
// database. In WAL mode writers neither wait for it nor restart it, as they would a copy taken in many small steps.
const allPages = 0x7fffffff;

/**
 * Writes a consistent copy of the SQLite database `source` to `target`: into a temporary file beside it, checked,
 * flushed, then linked into place, so `target` is complete or absent. Never migrates `source` and never overwrites
 * `target`; throws BackupError naming the file.
 */
export async function backupDatabase(source: string, target: string): Promise<BackupReport> {
  source = resolve(source);
  target = resolve(target);
  if (!existsSync(source)) throw new BackupError(`${source}: no database there, nothing to back up (database.path in the config says where it is)`);
  if (existsSync(target)) throw new BackupError(`${target}: already exists; a backup never overwrites a file, give a new name`);
  mkdirSync(dirname(target), { recursive: true });
  const temporary = `${target}.${process.pid}.tmp`;
  try {
    await copyDatabase(source, temporary);
    const { schemaVersion, hosts } = checkCopy(source, temporary);
    flush(temporary);
    try {
      linkSync(temporary, target); // unlike rename, fails if the target appeared meanwhile
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new BackupError(`${target}: appeared while the backup was written; left it alone`);
      throw err;
    }
    flush(dirname(target));
    return { source, target, bytes: statSync(target).size, schemaVersion, hosts };
  } finally {
    for (const suffix of ['', '-journal', '-wal', '-shm']) rmSync(`${temporary}${suffix}`, { force: true });
  }
}

async function copyDatabase(source: string, temporary: string): Promise<void> {
  let db: BetterSqlite3.Database | undefined;
  try {
    db = new BetterSqlite3(source, { fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    db.pragma('query_only = ON');
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version === 0) throw new BackupError(`${source}: not a Provisioning database (schema version 0)`);
    await db.backup(temporary, { progress: () => allPages });
  } catch (err) {
    if ((err as { code?: string }).code === 'SQLITE_NOTADB') throw new BackupError(`${source}: not an SQLite database`);
    throw err;
  } finally {
    db?.close();
  }
}

/** Turns the copy into one self-contained file (rollback journal, no -wal beside it) and checks it. */
function checkCopy(source: string, temporary: string): { schemaVersion: number; hosts: number } {
  const copy = new BetterSqlite3(temporary, { fileMustExist: true });
  try {
    copy.pragma('journal_mode = DELETE');
    const check = copy.pragma('quick_check', { simple: true }) as string;
    if (check !== 'ok') throw new BackupError(`${source}: the copy fails SQLite's quick_check (${check}); the database may be damaged`);
    const schemaVersion = copy.pragma('user_version', { simple: true }) as number;
    const { hosts } = copy.prepare<[], { hosts: number }>('SELECT count(*) AS hosts FROM hosts').get()!;
    return { schemaVersion, hosts };
  } finally {
    copy.close();
  }
}

function flush(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
