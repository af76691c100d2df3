import { log } from '@temporalio/activity';
import { utils } from 'ssh2';
import { rebuildKeyId } from '../src/domain/rebuild-ids';
import { rebuildRun } from './rebuild-run';
import type { RebuildKeyStore } from '../src/store/rebuild-key-store';
import type { OperationStore } from '../src/store/operation-store';

/** What the workflow may know about a rebuild key: its id and public half, never the private half. */
export interface RebuildKeyRef {
  keyId: string;
  publicKey: string; // ssh-ed25519 AAAA… provisioning-rebuild-<host>
}

/**
 * An ed25519 key pair in OpenSSH format whose halves both parse and match. ssh2's generator strips leading zero
 * bytes from the public key, so about 1 pair in 256 cannot be used to log in (mscdex/ssh2#1390, #1513: the join
 * then fails with "Malformed OpenSSH private key"); such a pair is generated again.
 */
export function generateEd25519KeyPair(comment: string, generate = utils.generateKeyPairSync): { public: string; private: string } {
  for (let attempt = 1; ; attempt++) {
    const pair = generate('ed25519', { comment });
    const publicKey = utils.parseKey(pair.public);
    const privateKey = utils.parseKey(pair.private);
    if (!(publicKey instanceof Error) && !(privateKey instanceof Error) && !Array.isArray(publicKey) && !Array.isArray(privateKey)) {
      if (publicKey.getPublicSSH().equals(privateKey.getPublicSSH())) return pair;
    }
    if (attempt === 10) throw new Error('could not generate a usable ed25519 key pair in 10 attempts');
  }
}

/** Returns the activity that generates the rebuild's ed25519 key pair and stores the private half encrypted. */
export function generateRebuildKey(deps: { keys: RebuildKeyStore; operations: OperationStore }) {
  return async function generateRebuildKey(input: { hostId: number; hostname: string }): Promise<RebuildKeyRef> {
    const { workflowId, runId } = rebuildRun();
    const keyId = rebuildKeyId(runId);
    const existing = deps.keys.find(keyId);
    if (existing) return { keyId, publicKey: existing.publicKey };
    const pair = generateEd25519KeyPair(`provisioning-rebuild-${input.hostname}`);
    const operation = deps.operations.byRunId(runId);
    const saved = deps.keys.save({
      id: keyId,
      workflowId,
      operationId: operation?.id ?? null,
      publicKey: pair.public.trim(),
      privateKey: pair.private,
    });
    log.info('rebuild key generated', { keyId, hostId: input.hostId });
    return { keyId, publicKey: saved.publicKey };
  };
}

/** Returns the activity that deletes the rebuild key's private half (true when it was still there). */
export function destroyRebuildKey(deps: { keys: RebuildKeyStore; operations: OperationStore }) {
  return async function destroyRebuildKey(input: { hostId: number; keyId: string }): Promise<boolean> {
    const removed = deps.keys.delete(input.keyId);
    const operation = deps.operations.byRunId(rebuildRun().runId);
    deps.operations.append({
      hostId: input.hostId,
      operationId: operation?.id ?? null,
      kind: 'key_removed',
      message: removed ? 'rebuild private key deleted from the database' : 'rebuild private key was already gone',
      details: { keyId: input.keyId },
    });
    return removed;
  };
}
