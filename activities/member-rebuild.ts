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
    const before = await onNode();
    if (before.length === 0 || migrateTo === null) {
      record('guests_migrated', `no guests on ${node}: nothing to move`);
      return { moved: 0 };
    }
    let upid: string;
    try {
      upid = await api.migrateAll(node, migrateTo);
    } catch (err) {
      throw apiFailure(err, `migrateall of ${node} to ${migrateTo} was refused`, 'MigrationFailed');
    }
    record('migration_started', `moving ${before.length} guest${before.length === 1 ? '' : 's'} of ${node} to ${migrateTo} (${before.map((g) => g.vmid).join(', ')})`, { upid, target: migrateTo });
    const context = Context.current();
    for (;;) {
      context.heartbeat();
      let task;
      try {
        task = await api.taskStatus(node, upid);
      } catch (err) {
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
    record('guests_migrated', `${before.length} guest${before.length === 1 ? '' : 's'} moved from ${node} to ${migrateTo}`, { moved: before.length, target: migrateTo });
    return { moved: before.length };
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

/** Reads the node's own root key and drops every other `root@<name>` line from the cluster's authorized_keys. */
const oldKeyScript = [
  'own=$(cut -d" " -f2 "$1")',
  'comment="root@$2"',
  'f="$3"',
  '[ -n "$own" ] || { echo "no own key in $1" >&2; exit 3; }',
  '[ -e "$f" ] || { echo "removed 0"; exit 0; }',
  'n=0; t=$(mktemp)',
  'while IFS= read -r line; do',
  '  set -- $line',
  '  case "$line" in "#"*|"") printf "%s\\n" "$line" >> "$t"; continue ;; esac',
  '  last=$(printf "%s" "$line" | awk "{print \\$NF}")',
  '  if [ "$last" = "$comment" ] && [ "$2" != "$own" ]; then n=$((n+1)); printf "%s\\n" "$line" >&2; else printf "%s\\n" "$line" >> "$t"; fi',
  'done < "$f"',
  'if [ "$n" -gt 0 ]; then cat "$t" > "$f"; fi',
  'rm -f "$t"',
  'echo "removed $n"',
].join('\n');

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
      const result = await session.exec(`sh -c ${shellQuote(oldKeyScript)} sh ${[ownKey, input.hostname, cluster].map(shellQuote).join(' ')}`);
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
