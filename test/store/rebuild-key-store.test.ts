// Real: SQLite file, node:crypto, ssh2 key generation.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { utils } from 'ssh2';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/database';
import { RebuildKeyStore } from '../../src/store/rebuild-key-store';
import { tempDir } from '../helpers/temp-dir';

let dir: ReturnType<typeof tempDir>;
afterEach(() => dir.remove());

function setup() {
  dir = tempDir();
  const path = join(dir.path, 'p.db');
  const db = openDatabase(path);
  const encryptionKey = randomBytes(32);
  return { db, path, encryptionKey, store: new RebuildKeyStore(db, encryptionKey) };
}

describe('RebuildKeyStore', () => {
  it('round-trips the private key but stores only ciphertext on disk', () => {
    const { db, path, store } = setup();
    const pair = utils.generateKeyPairSync('ed25519');
    store.save({ id: 'rk-1', workflowId: 'rebuild-1', operationId: null, publicKey: pair.public, privateKey: pair.private });
    expect(store.privateKey('rk-1')).toBe(pair.private);
    db.pragma('wal_checkpoint(TRUNCATE)');
    const onDisk = readFileSync(path).toString('latin1');
    const body = pair.private.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'));
    for (const line of body) expect(onDisk).not.toContain(line);
    expect(onDisk).toContain(pair.public.split(' ')[1]!.slice(0, 40));
    db.close();
  });

  it('cannot decrypt with another key-encryption key', () => {
    const { db, store } = setup();
    store.save({ id: 'rk-1', workflowId: 'rebuild-1', operationId: null, publicKey: 'ssh-ed25519 AAAA', privateKey: 'secret' });
    const other = new RebuildKeyStore(db, randomBytes(32));
    expect(() => other.privateKey('rk-1')).toThrow();
    db.close();
  });

  it('keeps the first key when the same id is saved again (activity retry)', () => {
    const { db, store } = setup();
    store.save({ id: 'rk-1', workflowId: 'rebuild-1', operationId: null, publicKey: 'ssh-ed25519 FIRST', privateKey: 'first' });
    store.save({ id: 'rk-1', workflowId: 'rebuild-1', operationId: null, publicKey: 'ssh-ed25519 SECOND', privateKey: 'second' });
    expect(store.find('rk-1')?.publicKey).toBe('ssh-ed25519 FIRST');
    expect(store.privateKey('rk-1')).toBe('first');
    db.close();
  });

  it('deletes a key once and reports a second delete as already gone', () => {
    const { db, store } = setup();
    store.save({ id: 'rk-1', workflowId: 'rebuild-1', operationId: null, publicKey: 'ssh-ed25519 A', privateKey: 'p' });
    expect(store.delete('rk-1')).toBe(true);
    expect(store.delete('rk-1')).toBe(false);
    expect(store.privateKey('rk-1')).toBeUndefined();
    expect(store.list()).toEqual([]);
    db.close();
  });

  it('refuses a key-encryption key that is not 32 bytes', () => {
    const { db } = setup();
    expect(() => new RebuildKeyStore(db, randomBytes(16))).toThrow('rebuild key store: the key-encryption key must be 32 bytes');
    db.close();
  });
});
