// Storage: the SQLite file shared by the gateway and the workers (WAL), its stores, the boot image folder and the
// key that encrypts rebuild private keys at rest.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/load-config';
import type { ReadinessCheck } from '../gateway/routes/health';
import { ImageLibrary } from '../images/image-library';
import type { Logger } from '../logging';
import { databaseProblem, openDatabase, type Database } from '../store/database';
import { HostStore } from '../store/host-store';
import { loadOrCreateKeyFile } from '../store/key-file';
import { OperationStore } from '../store/operation-store';
import { PxeAllowList } from '../store/pxe-allow-list';
import { RebuildKeyStore } from '../store/rebuild-key-store';

export interface Storage {
  db: Database;
  hosts: HostStore;
  operations: OperationStore;
  keys: RebuildKeyStore;
  pxeAllowList: PxeAllowList;
  images: ImageLibrary;
  /** The 32-byte key-encryption key; also signs boot tokens and dashboard sessions. */
  secret: Buffer;
  ready: ReadinessCheck;
  close(): void;
}

/** Opens the database (migrating it) and the image folder. */
export function openStorage(config: Readonly<Config>, log: Logger): Storage {
  const db = openDatabase(config.database.path);
  const secret = keyEncryptionKey(config, log);
  mkdirSync(config.images.dir, { recursive: true });
  return {
    db,
    hosts: new HostStore(db),
    operations: new OperationStore(db),
    keys: new RebuildKeyStore(db, secret),
    pxeAllowList: new PxeAllowList(db),
    images: new ImageLibrary(config.images.dir),
    secret,
    ready: async () => databaseProblem(db),
    close: () => void db.close(),
  };
}

/** The key-encryption key's file in the data dir, when `secrets.key_encryption_key` is not set. */
export const keyEncryptionKeyFile = 'rebuild-key-encryption.key';

/** From config/env (`secrets.key_encryption_key`), else generated once into the data dir. */
function keyEncryptionKey(config: Readonly<Config>, log: Logger): Buffer {
  if (config.secrets.keyEncryptionKey) return Buffer.from(config.secrets.keyEncryptionKey, 'hex');
  const file = join(config.dataDir, keyEncryptionKeyFile);
  const { key, created } = loadOrCreateKeyFile(file);
  if (created) log.info({ file }, 'generated the key-encryption key for rebuild keys');
  return key;
}
