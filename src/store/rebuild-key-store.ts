import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Database } from './database';

/** The public half of a stored rebuild key; the private half never leaves this module unencrypted except via privateKey(). */
export interface RebuildKeyRecord {
  id: string;
  workflowId: string;
  operationId: number | null;
  publicKey: string;
  createdAt: string;
}

interface KeyRow {
  id: string;
  workflow_id: string;
  operation_id: number | null;
  public_key: string;
  private_key_enc: Buffer;
  created_at: string;
}

const toRecord = (r: KeyRow): RebuildKeyRecord => ({
  id: r.id,
  workflowId: r.workflow_id,
  operationId: r.operation_id,
  publicKey: r.public_key,
  createdAt: r.created_at,
});

/**
 * Ephemeral rebuild keys, private halves encrypted at rest with AES-256-GCM under the key-encryption key
 * (layout: 12-byte IV | 16-byte tag | ciphertext; the key id is bound as additional data).
 */
export class RebuildKeyStore {
  constructor(
    private readonly db: Database,
    private readonly encryptionKey: Buffer,
    private readonly now: () => Date = () => new Date(),
  ) {
    if (encryptionKey.length !== 32) throw new Error('rebuild key store: the key-encryption key must be 32 bytes');
  }

  /** Stores a key pair; storing the same id again keeps the first (activity retries are harmless). */
  save(input: { id: string; workflowId: string; operationId: number | null; publicKey: string; privateKey: string }): RebuildKeyRecord {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.encryptionKey, iv);
    cipher.setAAD(Buffer.from(input.id));
    const ciphertext = Buffer.concat([cipher.update(input.privateKey, 'utf8'), cipher.final()]);
    const blob = Buffer.concat([iv, cipher.getAuthTag(), ciphertext]);
    this.db
      .prepare(
        `INSERT INTO rebuild_keys (id, workflow_id, operation_id, public_key, private_key_enc, created_at)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      )
      .run(input.id, input.workflowId, input.operationId, input.publicKey, blob, this.now().toISOString());
    return this.find(input.id)!;
  }

  find(id: string): RebuildKeyRecord | undefined {
    const row = this.db.prepare<[string], KeyRow>('SELECT * FROM rebuild_keys WHERE id = ?').get(id);
    return row ? toRecord(row) : undefined;
  }

  /** Every stored key (for the sweeper), oldest first. */
  list(): RebuildKeyRecord[] {
    return this.db.prepare<[], KeyRow>('SELECT * FROM rebuild_keys ORDER BY created_at').all().map(toRecord);
  }

  /** Decrypts the private key of `id` (OpenSSH PEM), or undefined when the key is gone. */
  privateKey(id: string): string | undefined {
    const row = this.db.prepare<[string], KeyRow>('SELECT * FROM rebuild_keys WHERE id = ?').get(id);
    if (!row) return undefined;
    const blob = row.private_key_enc;
    const decipher = createDecipheriv('aes-256-gcm', this.encryptionKey, blob.subarray(0, 12));
    decipher.setAAD(Buffer.from(id));
    decipher.setAuthTag(blob.subarray(12, 28));
    return Buffer.concat([decipher.update(blob.subarray(28)), decipher.final()]).toString('utf8');
  }

  /** Deletes the key; returns false when it was already gone. */
  delete(id: string): boolean {
    return this.db.prepare('DELETE FROM rebuild_keys WHERE id = ?').run(id).changes > 0;
  }
}
