// The generated key-encryption key in the data dir, shared by every process of one install (gateway and worker roles
// may start at the same moment on a fresh data dir). The file appears complete or not at all: the key is written to a
// private temporary file and hard-linked into place, so a second process either wins the link or reads the winner's key.
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';

const KEY_HEX = /^[0-9a-f]{64}$/i;

export interface KeyFile {
  key: Buffer;
  /** True when this call generated the file. */
  created: boolean;
}

/** Reads the 32-byte hex key in `file`, generating it (mode 0600) when there is none; throws naming the file when it is unreadable. */
export function loadOrCreateKeyFile(file: string): KeyFile {
  const existing = readKeyFile(file);
  if (existing) return { key: existing, created: false };
  mkdirSync(dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temporary, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
  let created = false;
  try {
    linkSync(temporary, file);
    created = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    unlinkSync(temporary);
  }
  const key = readKeyFile(file);
  if (!key) throw new Error(`${file}: vanished while it was being created`);
  return { key, created };
}

function readKeyFile(file: string): Buffer | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  if (!KEY_HEX.test(text)) {
    throw new Error(
      `${file}: expected 64 hex characters (a 32-byte key); restore it from a backup, or delete it to generate a new one ` +
        '(rebuilds running now will then fail, their stored keys unreadable)',
    );
  }
  return Buffer.from(text, 'hex');
}
