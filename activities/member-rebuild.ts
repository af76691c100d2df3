// The steps that take a cluster member out of its cluster before its reinstall, and the one after its join
// (issue 16 item 4; proxmox-cluster.md §2 "Safe order"): move its guests away, reboot it through the API, wait
// until the cluster sees it offline, remove it from the nodelist, and after the join remove the old node's root
// key line. Each runs through the API of another member (MemberRebuild.via) and is safe to repeat: a retry finds
// the step done and says so.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ProxmoxApiError } from '../src/proxmox/api-client';
import type { MemberRebuild } from '../src/domain/rebuild';
import type { OperationStore } from '../src/store/operation-store';
import type { RebuildKeyStore } from '../src/store/rebuild-key-store';
import type { JoinSettings } from './cluster-join';
import { rebuildRun } from './rebuild-run';
import { AuthRefusedError, HostKeyMismatchError, SshSession, shellQuote } from './ssh-session';

export interface MemberStepInput {
  hostId: number;
  member: MemberRebuild;
}

interface Deps {
  operations: OperationStore;
  join: JoinSettings;
}

function helpers(deps: Deps, input: MemberStepInput) {
  const operationId = deps.operations.byRunId(rebuildRun().runId)?.id ?? null;
  const record = (kind: string, message: string, details?: Record<string, unknown>) =>
    deps.operations.append({ hostId: input.hostId, operationId, kind, message, details: details ?? null });
  if (!deps.join.memberApi) {
    throw ApplicationFailure.nonRetryable('a member rebuild needs the cluster API: set proxmox.api_token', 'MemberStepFailed');
  }
  return { record, api: deps.join.memberApi(input.member.via) };
}

/** A definite refusal (certificate, token, privilege) is not retried; anything else (unreachable, 5xx) is. */
function apiFailure(err: unknown, doing: string, type: string): Error {
  if (err instanceof ProxmoxApiError && ['fingerprint_mismatch', 'unauthorized', 'forbidden', 'not_in_cluster'].includes(err.code)) {
    return ApplicationFailure.nonRetryable(`${doing}: ${err.message}`, type);
  }
  return new Error(`${doing}: ${(err as Error).message}`);
}

/** Returns the activity that moves every guest of the node to `migrateTo` (migrateall) and waits for the task. */
export function migrateGuests(deps: Deps) {
  return async function migrateGuests(input: MemberStepInput): Promise<{ moved: number }> {
    const { record, api } = helpers(deps, input);
    const { node, migrateTo } = input.member;
    const onNode = async () => {
      try {
        return (await api.guests()).filter((g) => g.node === node);
      } catch (err) {
        throw apiFailure(err, `cannot list the guests of ${node}`, 'MigrationFailed');
      }
    };
    const context = Context.current();
    // A retried attempt follows the task the first one started (its UPID is the heartbeat) instead of starting another.
    const resumed = context.info.heartbeatDetails as { upid: string; guests: number } | undefined;
    const before = resumed ? null : await onNode();
    if (before !== null && (before.length === 0 || migrateTo === null)) {
      record('guests_migrated', `no guests on ${node}: nothing to move`);
      return { moved: 0 };
    }
    let upid: string;
    const moving = resumed?.guests ?? before!.length;
    if (resumed) upid = resumed.upid;
    else {
      try {
        upid = await api.migrateAll(node, migrateTo!);
      } catch (err) {
        throw apiFailure(err, `migrateall of ${node} to ${migrateTo} was refused`, 'MigrationFailed');
      }
      record('migration_started', `moving ${moving} guest${moving === 1 ? '' : 's'} of ${node} to ${migrateTo} (${before!.map((g) => g.vmid).join(', ')})`, { upid, target: migrateTo });
    }
    let unreadable = 0;
    for (;;) {
      context.heartbeat({ upid, guests: moving });
      let task;
      try {
        task = await api.taskStatus(node, upid);
        unreadable = 0;
      } catch (err) {
        // A blip of the API while the task runs: read again; the task goes on regardless.
        if (++unreadable < 5 && !(err instanceof ProxmoxApiError && ['fingerprint_mismatch', 'unauthorized', 'forbidden'].includes(err.code))) {
          await context.sleep(2_000);
          continue;
        }
        throw apiFailure(err, `cannot read the migrateall task of ${node}`, 'MigrationFailed');
      }
      if (task.status === 'stopped') {
        if (task.exitstatus !== 'OK') throw ApplicationFailure.nonRetryable(`migrateall of ${node} to ${migrateTo} ended with: ${task.exitstatus ?? 'no exit status'}`, 'MigrationFailed');
        break;
      }
      await context.sleep(1_000);
    }
    const left = await onNode();
    if (left.length > 0) {
      throw ApplicationFailure.nonRetryable(`migrateall of ${node} finished, but ${left.length} guest${left.length === 1 ? ' is' : 's are'} still on it (${left.map((g) => g.vmid).join(', ')})`, 'MigrationFailed');
    }
    record('guests_migrated', `${moving} guest${moving === 1 ? '' : 's'} moved from ${node} to ${migrateTo}`, { moved: moving, target: migrateTo });
    return { moved: moving };
  };
}

/** Returns the activity that reboots the node through the API (unless the cluster already sees it offline). */
export function rebootMember(deps: Deps) {
  return async function rebootMember(input: MemberStepInput): Promise<{ rebooted: boolean }> {
    const { record, api } = helpers(deps, input);
    const { node, via } = input.member;
    let summary;
    try {
      summary = await api.cluster();
    } catch (err) {
      throw apiFailure(err, `cannot read the cluster before rebooting ${node}`, 'RebootFailed');
    }
    const member = summary.members.find((m) => m.name === node);
    if (!member || !member.online) {
      record('member_offline', `${node} is ${member ? 'already offline' : 'no longer in the cluster'}; no reboot sent`);
      return { rebooted: false };
    }
    // Removing the node later needs the root@pam password: refused now, nothing is rebooted.
    try {
      await api.checkRootLogin();
    } catch (err) {
      if (err instanceof ProxmoxApiError && err.code === 'unauthorized') {
        throw ApplicationFailure.nonRetryable(`removing ${node} from the cluster will need the root@pam password (proxmox.join_password), and ${via.name} refused it; nothing was rebooted: ${err.message}`, 'RebootFailed');
      }
      throw apiFailure(err, `cannot log in to ${via.name} as root@pam before rebooting ${node}`, 'RebootFailed');
    }
    try {
      await api.reboot(node);
    } catch (err) {
      throw apiFailure(err, `the reboot of ${node} was refused`, 'RebootFailed');
    }
    record('member_rebooting', `reboot of ${node} sent through ${via.name}'s API; the machine must network-boot first to reach the installer`);
    return { rebooted: true };
  };
}

/** Returns the activity that returns once the cluster sees the node offline (a plain error while it is online: retried). */
export function awaitMemberOffline(deps: Deps) {
  return async function awaitMemberOffline(input: MemberStepInput): Promise<void> {
    const { record, api } = helpers(deps, input);
    const { node } = input.member;
    let summary;
    try {
      summary = await api.cluster();
    } catch (err) {
      throw apiFailure(err, `cannot read the cluster while waiting for ${node} to go offline`, 'RemovalFailed');
    }
    const member = summary.members.find((m) => m.name === node);
    if (member?.online) throw new Error(`${node} is still online in /cluster/status`);
    record('member_offline', `the cluster sees ${node} offline (${summary.votes.online} of ${summary.votes.total} votes online, ${summary.quorate ? 'quorate' : 'not quorate'})`, { quorate: summary.quorate, votes: summary.votes });
  };
}

/** Returns the activity that removes the node from the nodelist (delnode with the root@pam ticket) and checks it is gone. */
export function removeMember(deps: Deps) {
  return async function removeMember(input: MemberStepInput): Promise<{ removed: boolean }> {
    const { record, api } = helpers(deps, input);
    const { node, via } = input.member;
    const listed = async () => {
      try {
        return (await api.clusterNodes()).some((n) => n.name === node);
      } catch (err) {
        throw apiFailure(err, `cannot read the nodelist to remove ${node}`, 'RemovalFailed');
      }
    };
    if (!(await listed())) {
      record('member_removed', `${node} is not in the nodelist (any more)`);
      return { removed: false };
    }
    // Never a live member: it may have come back on its old system since it was seen offline (its disk first).
    let summary;
    try {
      summary = await api.cluster();
    } catch (err) {
      throw apiFailure(err, `cannot read the cluster before removing ${node}`, 'RemovalFailed');
    }
    if (summary.members.find((m) => m.name === node)?.online) {
      throw ApplicationFailure.nonRetryable(`${node} is online again (did it boot its disk instead of the network?): a live member is never removed`, 'RemovalFailed');
    }
    try {
      await api.deleteNode(node);
    } catch (err) {
      // delnode needs quorum: without it (a 2-node cluster, allowed by the operator) it waits until an operator
      // restores quorum (pvecm expected 1 on a survivor); the retries run until timeouts.leave_cluster.
      if (err instanceof ProxmoxApiError && /no quorum/.test(err.message)) throw new Error(`waiting for quorum to remove ${node}: ${err.message}`);
      if (err instanceof ProxmoxApiError && err.code === 'unauthorized') {
        throw ApplicationFailure.nonRetryable(`removing ${node} needs the root@pam password of the cluster (proxmox.join_password), and ${via.name} refused it: ${err.message}`, 'RemovalFailed');
      }
      if (err instanceof ProxmoxApiError && err.code === 'api_error') throw ApplicationFailure.nonRetryable(`${via.name} refused to remove ${node}: ${err.message}`, 'RemovalFailed');
      throw apiFailure(err, `removing ${node} through ${via.name} failed`, 'RemovalFailed');
    }
    if (await listed()) throw new Error(`${node} is still in the nodelist after delnode`);
    record('member_removed', `${node} removed from the cluster through ${via.name} (delnode); the install may reuse its name and address`);
    return { removed: true };
  };
}

/**
 * Drops every `root@<name>` line of the cluster's authorized_keys ($3) whose key is not the node's own ($1), and
 * prints the dropped lines to stderr and "removed N". The key is the field after the key type (options may come
 * first); comments and blank lines stay; a last line without a newline and CRLF lines count like any other; the
 * file is replaced by a rename of a complete copy beside it, never truncated first.
 */
export const oldKeyScript = String.raw`
own="$1"; comment="root@$2"; f="$3"
keyof() { awk '{ sub(/\r$/, ""); for (i = 1; i < NF; i++) if ($i ~ /^(ssh-|ecdsa-|sk-)/) { print $(i + 1); exit } }'; }
ownkey=$(keyof < "$own")
[ -n "$ownkey" ] || { echo "no key in $own" >&2; exit 3; }
[ -e "$f" ] || { echo "removed 0"; exit 0; }
t="$f.provisioning.$$"
awk -v own="$ownkey" -v comment="$comment" '
  { line = $0; sub(/\r$/, "", line) }
  line ~ /^[ \t]*(#|$)/ { print; next }
  { n = split(line, w, /[ \t]+/); key = ""; for (i = 1; i < n; i++) if (w[i] ~ /^(ssh-|ecdsa-|sk-)/) { key = w[i + 1]; break } }
  key != "" && i + 1 < n && w[n] == comment && key != own { print line > dropped; next }
  { print }
' dropped="$t.dropped" "$f" > "$t" || { rm -f "$t" "$t.dropped"; exit 4; }
touch "$t.dropped"
n=$(wc -l < "$t.dropped")
cat "$t.dropped" >&2
chmod --reference="$f" "$t" 2>/dev/null || true
if [ "$n" -gt 0 ]; then mv "$t" "$f"; else rm -f "$t"; fi
rm -f "$t.dropped"
echo "removed $n"
`;

/**
 * Returns the activity that, on the rebuilt node after its join, removes the old node's root key line from the
 * cluster-wide /etc/pve/priv/authorized_keys: the old line has the same `root@<name>` comment as the new node's,
 * so it is told apart by the key itself (the new node's /root/.ssh/id_rsa.pub), and then runs `pvecm updatecerts`.
 */
export function removeOldNodeKey(deps: Deps & { keys: RebuildKeyStore }) {
  return async function removeOldNodeKey(input: { hostId: number; hostname: string; address: string; hostKeys: string[]; keyId: string }): Promise<{ removed: number }> {
    const operationId = deps.operations.byRunId(rebuildRun().runId)?.id ?? null;
    const record = (kind: string, message: string, details?: Record<string, unknown>) =>
      deps.operations.append({ hostId: input.hostId, operationId, kind, message, details: details ?? null });
    const privateKey = deps.keys.privateKey(input.keyId);
    if (!privateKey) throw ApplicationFailure.nonRetryable(`rebuild key ${input.keyId} is gone; cannot log in to ${input.address}`, 'RebuildKeyMissing');
    const [rootKeys, priv] = deps.join.layout.authorizedKeysFiles;
    const ownKey = `${rootKeys!.replace(/[^/]*$/, '')}id_rsa.pub`; // /root/.ssh/id_rsa.pub beside /root/.ssh/authorized_keys
    const cluster = priv ?? '/etc/pve/priv/authorized_keys';
    let session: SshSession;
    try {
      session = await SshSession.connect({ host: input.address, port: deps.join.sshPort, username: 'root', privateKey, hostKeys: input.hostKeys });
    } catch (err) {
      if (err instanceof HostKeyMismatchError || err instanceof AuthRefusedError) throw ApplicationFailure.nonRetryable(err.message, 'OldKeyNotRemoved');
      throw new Error(`cannot reach ${input.address} to remove the old node's key: ${(err as Error).message}`);
    }
    try {
      const result = await session.exec(`bash -c ${shellQuote(oldKeyScript)} sh ${[ownKey, input.hostname, cluster].map(shellQuote).join(' ')}`);
      if (result.code !== 0) throw ApplicationFailure.nonRetryable(`removing the old key of ${input.hostname} failed (exit ${result.code}): ${result.stderr.trim()}`, 'OldKeyNotRemoved');
      const removed = Number(/removed (\d+)/.exec(result.stdout)?.[1] ?? 0);
      const lines = result.stderr.split('\n').filter(Boolean).map((l) => `${l.split(' ')[0]} …${l.split(' ')[1]?.slice(-12) ?? ''} ${l.split(' ').at(-1)}`);
      const certs = await session.exec('pvecm updatecerts');
      record(
        'old_key_removed',
        removed === 0
          ? `no old root@${input.hostname} key line in ${cluster}`
          : `removed the old node's key line${removed === 1 ? '' : 's'} root@${input.hostname} from ${cluster} (${lines.join(', ')}); pvecm updatecerts exited ${certs.code}`,
        { removed, updatecerts: certs.code },
      );
      return { removed };
    } finally {
      session.close();
    }
  };
}
