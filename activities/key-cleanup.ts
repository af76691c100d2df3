import { rebuildRun } from './rebuild-run';
import type { JoinSettings } from './cluster-join';
import type { RebuildKeyStore } from '../src/store/rebuild-key-store';
import type { OperationStore } from '../src/store/operation-store';
import { AuthRefusedError, HostKeyMismatchError, SshSession, shellQuote } from './ssh-session';

/** What was done with the rebuild's public key on the host. */
export interface KeyRemovalReport {
  outcome: 'removed' | 'already_gone' | 'not_reachable' | 'skipped';
  files: Record<string, number | 'absent'>; // file → lines removed
}

// Reads the key line from stdin and removes exact matches from each file given as an argument, writing back
// through the path (`cat >`) so a symlink (/root/.ssh/authorized_keys → /etc/pve/priv/…) stays a symlink.
const removalScript = [
  'IFS= read -r key',
  'for f in "$@"; do',
  '  if [ -e "$f" ]; then',
  '    n=$(grep -cxF -- "$key" "$f" || true)',
  '    if [ "$n" -gt 0 ]; then t=$(mktemp) && grep -vxF -- "$key" "$f" > "$t"; cat "$t" > "$f"; rm -f "$t"; fi',
  '    echo "$f $n"',
  '  else echo "$f absent"; fi',
  'done',
].join('\n');

/** Returns the activity that removes the rebuild's public key from the host's authorized_keys files. */
export function removeRebuildKeyFromHost(deps: { keys: RebuildKeyStore; operations: OperationStore; join: JoinSettings }) {
  return async function removeRebuildKeyFromHost(input: {
    hostId: number;
    address: string | null;
    hostKeys: string[];
    keyId: string;
    publicKey: string;
  }): Promise<KeyRemovalReport> {
    const operationId = deps.operations.byRunId(rebuildRun().runId)?.id ?? null;
    const record = (message: string, report: KeyRemovalReport) => {
      deps.operations.append({ hostId: input.hostId, operationId, kind: 'key_cleanup', message, details: { ...report } });
      return report;
    };
    const privateKey = deps.keys.privateKey(input.keyId);
    if (!privateKey) return record('rebuild key already destroyed; nothing to remove on the host', { outcome: 'skipped', files: {} });
    if (!input.address || input.hostKeys.length === 0) {
      return record('host address or host keys unknown, so the public key was not removed from it; the private key is destroyed next, so the public key is useless', { outcome: 'not_reachable', files: {} });
    }
    let session: SshSession;
    try {
      session = await SshSession.connect({ host: input.address, port: deps.join.sshPort, username: 'root', privateKey, hostKeys: input.hostKeys });
    } catch (err) {
      if (err instanceof AuthRefusedError) return record(`${input.address} no longer accepts the rebuild key: already gone`, { outcome: 'already_gone', files: {} });
      if (err instanceof HostKeyMismatchError) return record(`${err.message}; nothing sent to it`, { outcome: 'not_reachable', files: {} });
      throw new Error(`cannot reach ${input.address} to remove the rebuild key: ${(err as Error).message}`);
    }
    try {
      const files = deps.join.layout.authorizedKeysFiles;
      const result = await session.exec(`sh -c ${shellQuote(removalScript)} sh ${files.map(shellQuote).join(' ')}`, `${input.publicKey.trim()}\n`);
      if (result.code !== 0) throw new Error(`removing the rebuild key on ${input.address} failed (exit ${result.code}): ${result.stderr.trim()}`);
      const report: KeyRemovalReport = { outcome: 'already_gone', files: {} };
      for (const line of result.stdout.trim().split('\n')) {
        const m = /^(.*) (\d+|absent)$/.exec(line);
        if (!m) continue;
        report.files[m[1]!] = m[2] === 'absent' ? 'absent' : Number(m[2]);
        if (m[2] !== 'absent' && Number(m[2]) > 0) report.outcome = 'removed';
      }
      const summary = Object.entries(report.files)
        .map(([f, n]) => `${f}: ${n === 'absent' ? 'absent' : `${n} line${n === 1 ? '' : 's'} removed`}`)
        .join(', ');
      return record(`rebuild key removed from ${input.address} (${summary})`, report);
    } finally {
      session.close();
    }
  };
}
