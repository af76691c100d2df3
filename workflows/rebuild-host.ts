// rebuildHostWorkflow: one rebuild of one host, from "rebuild" to "ready". Reads as the runbook: each stage
// is a few lines, each wait a condition with a named timeout, and cleanup always runs.
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  TimeoutFailure,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { RebuildKeyRef } from '../activities/rebuild-key';
import type { JoinResult } from '../activities/cluster-join';
import type { ClusterLockTicket } from '../activities/cluster-lock';
import type { RebuildNotice } from '../activities/notify';
import type { HostState } from '../src/domain/host-state-machine';
import {
  bootEvents,
  defaultPowerRetries,
  joinFailureTypes,
  memberStepDefaults,
  memberStepFailureTypes,
  powerFailureTypes,
  type MemberRebuild,
  stateAfter,
  timeoutMessage,
  type BootEventKind,
  type InstalledReport,
  type PhoneHomeReport,
  type RebuildFailureReason,
  type RebuildInput,
  type RebuildProgress,
  sshTaskQueue,
} from '../src/domain/rebuild';
import {
  answerServedSignal,
  clusterLockGrantedSignal,
  installedSignal,
  phonedHomeSignal,
  pxeBootedSignal,
  rebuildProgressQuery,
  releaseClusterLockSignal,
  type BootEventMeta,
} from './messages';
import { HOST_STATE } from './search-attributes';
import { durationMs } from '../src/domain/duration';

// Records and key handling: quick writes to our own SQLite, retried briefly. Local activities: they run inside
// the workflow task on the worker that runs the workflow, so a stage transition costs the Temporal server one
// workflow task instead of an activity task plus two workflow tasks (the Web UI shows them as local activity
// markers with their names).
const quick = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 10 },
});

// The SSH activities run on their own task queue, which the worker polls with a cap on how many run at once
// (proxmox.max_parallel_joins): a rack that reaches first boot together joins a few hosts at a time.
const ssh = () => sshTaskQueue(workflowInfo().taskQueue);

// Removing the public key from the host during cleanup: a few tries, then the private key is destroyed anyway.
const cleanupRemote = () =>
  proxyActivities<Activities>({
    taskQueue: ssh(),
    startToCloseTimeout: '2m',
    retry: { initialInterval: '2s', maximumInterval: '20s', maximumAttempts: 3 },
  });

// Infrastructure: retried while the service is down, for up to 30 minutes.
const external = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  scheduleToCloseTimeout: '30m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', nonRetryableErrorTypes: ['InfrastructureRejected'] },
});

// The SSH join: connection trouble retries with backoff within the stage timeout; a definite "no" does not.
const remote = (joinTimeout: string) =>
  proxyActivities<Activities>({
    taskQueue: ssh(),
    startToCloseTimeout: '5m',
    scheduleToCloseTimeout: joinTimeout,
    heartbeatTimeout: '1m',
    // On cancel, wait until the SSH session is really closed before cleanup removes the key and reports failure.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s', nonRetryableErrorTypes: [...joinFailureTypes] },
  });

// Queueing for the cluster's lock (a signal to the cluster's lock workflow) and the checks after a join: the
// cluster API may be briefly unreachable; a definite "no" (wrong certificate, refused token) is not retried.
const lockRequests = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  scheduleToCloseTimeout: '10m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', nonRetryableErrorTypes: [...joinFailureTypes] },
});
// A member's old key removal: the SSH cleanup's 3 tries of up to 2 minutes. A node removal gets at least 2 minutes
// once it holds the lock, whatever is left of timeouts.leave_cluster.
const oldKeyRemovalMs = 7 * 60_000;
const removalMinimumMs = 2 * 60_000;
// The cluster shows a new member within seconds; the check is retried for up to 5 minutes.
const membershipCheckTimeout = '5m';
// Power calls to a BMC (or a member's API): an unreachable BMC is retried for up to 3 minutes; wrong settings, refused
// credentials or a method that cannot are not.
const powerCalls = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  scheduleToCloseTimeout: '3m',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s', nonRetryableErrorTypes: [...powerFailureTypes] },
});
const clusterChecks = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  scheduleToCloseTimeout: membershipCheckTimeout,
  retry: { initialInterval: '2s', backoffCoefficient: 1.5, maximumInterval: '15s' },
});

/** The outcome a finished rebuild returns (and the Web UI shows as its result). */
export interface RebuildResult {
  hostId: number;
  state: HostState;
  failure: RebuildProgress['failure'];
}

/** Thrown inside the workflow to end a rebuild as failed with a reason; never leaves the workflow. */
class RebuildFailed extends Error {
  constructor(
    readonly reason: RebuildFailureReason,
    message: string,
  ) {
    super(message);
  }
}

export async function rebuildHostWorkflow(input: RebuildInput): Promise<RebuildResult> {
  const progress: RebuildProgress = { hostId: input.hostId, state: 'pxe_ready', reached: {}, lastEvent: null, failure: null };
  const received: Partial<Record<BootEventKind, BootEventMeta & Record<string, unknown>>> = {};
  const ignored: Array<{ kind: BootEventKind; state: HostState }> = [];

  // Signal handlers only record; the main function does the waiting. A duplicate, late or early event is kept
  // in `ignored` and written to the history, never thrown.
  const onBootEvent = (kind: BootEventKind) => (event: BootEventMeta) => {
    progress.lastEvent = kind;
    if (received[kind] === undefined) received[kind] = event as BootEventMeta & Record<string, unknown>;
    else ignored.push({ kind, state: progress.state });
  };
  setHandler(pxeBootedSignal, onBootEvent('pxeBooted'));
  setHandler(answerServedSignal, onBootEvent('answerServed'));
  setHandler(installedSignal, onBootEvent('installed'));
  setHandler(phonedHomeSignal, onBootEvent('phonedHome'));
  setHandler(rebuildProgressQuery, () => progress);
  let lockGranted: { cluster: string; grantedAt: string } | null = null;
  setHandler(clusterLockGrantedSignal, (grant) => void (lockGranted = grant));

  // Notifications started and not yet finished (a power retry's goes on while the rebuild does).
  const notices: Array<Promise<void>> = [];

  let key: RebuildKeyRef | undefined;
  let pxeAllowed = false;
  let keyRemovedFromHost = false;
  try {
    await quick.beginRebuild({ hostId: input.hostId, hostname: input.hostname });
    key = await generateKey(input);
    // Since the second version of a member's steps: a member may PXE boot the installer only from its reboot on (not
    // while its guests move), and its old key is removed while the cluster lock is still held.
    const memberV2 = input.member !== undefined && patched('member-steps-v2');
    if (!memberV2) {
      // Allow first, then announce: a host that PXE boots the moment it shows pxe_ready gets the installer.
      pxeAllowed = true; // before the await: a cancel while it runs must still revoke (revoking is idempotent)
      await quick.allowPxeBoot({ hostId: input.hostId, mac: input.mac });
    }
    await enterState('pxe_ready', input.member ? `rebuild key ready; taking ${input.member.node} out of cluster ${input.member.cluster} first` : `rebuild key ready; waiting for ${input.mac} to PXE boot`);
    // Since member rebuilds: a member leaves its cluster (guests moved, rebooted into the installer, removed) first.
    if (input.member && patched('member-rebuild')) await leaveCluster(input.member, memberV2);

    // Since power control: a host with a power method is powered into the installer (a member was, by its reboot),
    // and a stage before `installed` that times out is retried by power.
    const power = input.power !== undefined && patched('power-control') ? input.power.method : null;
    if (power !== null) {
      if (!input.member) await powerIntoInstaller('to start the install');
      await installWithPowerRetries(power);
    } else {
      await awaitBootEvent('pxeBooted', input.timeouts.pxeBoot);
      await awaitBootEvent('answerServed', input.timeouts.answerFetch);
      await awaitBootEvent('installed', input.timeouts.install);
    }
    // A rebooting host must boot its new disk, never the installer again.
    await quick.revokePxeBoot({ hostId: input.hostId, mac: input.mac });
    pxeAllowed = false;
    if (power === 'ipmi' || power === 'redfish') await powerCalls.checkBootOverride({ hostId: input.hostId }).catch(ignoreUnlessCancelled);
    await awaitBootEvent('phonedHome', input.timeouts.phoneHome);

    const target = joinTarget();
    await enterState('joining', `joining the cluster over SSH to ${target.address}`);
    if (patched('cluster-lock')) {
      // Since the cluster lock: one join at a time per cluster, and ready only once the cluster shows the node.
      // The old key's removal rewrites the cluster's authorized_keys, which a join also writes: under the lock too.
      const oldKeyLease = memberV2 ? oldKeyRemovalMs : 0;
      await withClusterLock('join', durationMs(input.timeouts.join) + durationMs(membershipCheckTimeout) + oldKeyLease + 60_000, async () => {
        const joined = await joinTheCluster(target);
        await checkMembership(joined);
        if (memberV2) await removeOldNodeKey(target);
      });
      if (input.member && !memberV2 && patched('member-rebuild')) await removeOldNodeKey(target);
    } else {
      await joinTheCluster(target);
    }
    await removeKeyFromHost(); // now, while the key still works; cleanup would try again otherwise
    await registerInInfrastructure(target.address);

    await quick.finishRebuild({ hostId: input.hostId, outcome: 'ready' });
    progress.state = 'ready';
    progress.reached.ready = new Date().toISOString();
    setCurrentDetails(`${input.hostname} (${input.mac}) is ready`);
    upsertSearchAttributes([{ key: HOST_STATE, value: 'ready' }]);
    return { hostId: input.hostId, state: 'ready', failure: null };
  } catch (err) {
    const failure = describeFailure(err, progress.state, input);
    progress.failure = { stage: progress.state, ...failure };
    await CancellationScope.nonCancellable(() =>
      quick.finishRebuild({ hostId: input.hostId, outcome: 'failed', stage: progress.state, ...failure }),
    );
    progress.state = 'failed';
    setCurrentDetails(`failed at ${progress.failure.stage}: ${failure.message}`);
    upsertSearchAttributes([{ key: HOST_STATE, value: 'failed' }]);
    return { hostId: input.hostId, state: 'failed', failure: progress.failure };
  } finally {
    // Cleanup runs on success, failure, timeout and cancel.
    await CancellationScope.nonCancellable(async () => {
      if (pxeAllowed) await quick.revokePxeBoot({ hostId: input.hostId, mac: input.mac });
      if (key && !keyRemovedFromHost && received.installed !== undefined) await removeKeyFromHost();
      if (key) await quick.destroyRebuildKey({ hostId: input.hostId, keyId: key.keyId });
    });
    // Since notifications: the outcome goes out after cleanup, so a slow receiver never delays the PXE revoke or the
    // key's destruction; the run ends once every notice is delivered or given up.
    if ((progress.state === 'ready' || progress.state === 'failed') && notifying()) notices.push(notify(outcomeNotice()));
    await Promise.all(notices);
  }

  /** True when this rebuild sends notifications: targets were configured when it started (and it is new enough). */
  function notifying(): boolean {
    return input.notify === true && patched('notifications');
  }

  /**
   * Sends a notice to the targets that want it: which ones and how long to retry come from the worker (a local
   * activity), each target's delivery is its own activity with retries. Never fails the rebuild nor changes its
   * result, and a cancel does not stop it; what was not delivered is written to the host's history.
   */
  function notify(notice: Pick<RebuildNotice, 'event' | 'state' | 'stage' | 'reason' | 'message' | 'retry'>): Promise<void> {
    const full: RebuildNotice = { hostId: input.hostId, hostname: input.hostname, mac: input.mac, serverType: input.serverType, at: new Date().toISOString(), ...notice };
    return CancellationScope.nonCancellable(async () => {
      try {
        const plan = await quick.planNotification({ hostId: input.hostId, event: notice.event, state: notice.state });
        if (plan.targets.length === 0) return;
        // The activity gives up after giveUpAfter itself, with the receiver's last answer; the timeout is for a worker
        // that does not run it at all.
        const send = proxyActivities<Activities>({
          startToCloseTimeout: '1m',
          scheduleToCloseTimeout: durationMs(plan.retry.giveUpAfter) + 60_000,
          retry: { initialInterval: plan.retry.initialInterval, backoffCoefficient: 2, maximumInterval: plan.retry.maximumInterval, nonRetryableErrorTypes: ['NotificationRejected', 'NotificationGaveUp'] },
        });
        await Promise.all(
          plan.targets.map(async (target) => {
            try {
              await send.sendNotification({ hostId: input.hostId, target, notice: full });
            } catch (err) {
              const gaveUp = err instanceof ActivityFailure && (err.retryState === 'TIMEOUT' || err.cause instanceof TimeoutFailure) ? ' in time' : '';
              await quick.recordRebuildEvent({
                hostId: input.hostId,
                kind: 'notification_failed',
                message: `the ${notice.event} notification to ${target} was not delivered${gaveUp}: ${failureText(err)}`,
                details: { target, event: notice.event },
              });
            }
          }),
        );
      } catch (err) {
        log.warn('notification not sent', { hostId: input.hostId, event: notice.event, error: String(err) });
      }
    });
  }

  /** The rebuild's end as a notice: ready, or failed with the most specific event (targets of `failed` get them all). */
  function outcomeNotice(): Pick<RebuildNotice, 'event' | 'state' | 'stage' | 'reason' | 'message' | 'retry'> {
    const failure = progress.failure;
    if (progress.state === 'ready' || failure === null) {
      return { event: 'ready', state: 'ready', stage: null, reason: null, message: `${input.hostname} (${input.mac}) is ready`, retry: null };
    }
    const event = failure.reason === 'identity_mismatch' ? 'identity_mismatch' : failure.reason === 'stage_timeout' ? 'stage_timeout' : 'failed';
    return { event, state: 'failed', stage: failure.stage, reason: failure.reason, message: `rebuild failed at ${failure.stage}: ${failure.message}`, retry: null };
  }

  /**
   * The three waits up to `installed`; when one times out, the machine is power-cycled into the installer and the
   * waits start again from the PXE boot, up to timeouts.power_retries times in the rebuild. Never after `installed`.
   * Only a BMC can cycle a machine that hangs: Wake-on-LAN only wakes one that is off, and the proxmox method reboots
   * through the cluster, which a removed member (or a hung installer) is no longer in.
   */
  async function installWithPowerRetries(method: NonNullable<RebuildInput['power']>['method']): Promise<void> {
    const stages = [['pxeBooted', input.timeouts.pxeBoot], ['answerServed', input.timeouts.answerFetch], ['installed', input.timeouts.install]] as const;
    const retries = method === 'ipmi' || method === 'redfish' ? input.timeouts.powerRetries ?? defaultPowerRetries : 0;
    let attempt = 0;
    for (let i = 0; i < stages.length; ) {
      const [kind, timeout] = stages[i]!;
      try {
        await awaitBootEvent(kind, timeout);
        i++;
      } catch (err) {
        if (!(err instanceof RebuildFailed) || err.reason !== 'stage_timeout' || attempt >= retries) throw err;
        attempt++;
        const stuck = progress.state;
        // Forget the boots of the stuck attempt: the next PXE boot and answer fetch are awaited again.
        delete received.pxeBooted;
        delete received.answerServed;
        await quick.restartInstall({ hostId: input.hostId, attempt, of: retries, stage: stuck, reason: err.message });
        progress.state = 'pxe_ready';
        upsertSearchAttributes([{ key: HOST_STATE, value: 'pxe_ready' }]);
        // Since notifications: not awaited, so the power cycle does not wait for a slow receiver.
        if (notifying()) {
          const message = `${stuck} timed out (${err.message}): power-cycling into the installer, retry ${attempt} of ${retries}`;
          notices.push(notify({ event: 'stage_timeout', state: 'pxe_ready', stage: stuck, reason: 'stage_timeout', message, retry: `${attempt} of ${retries}` }));
        }
        await powerIntoInstaller(`retry ${attempt} of ${retries}: ${stuck} timed out`, err.message);
        i = 0;
      }
    }
  }

  /** Powers the machine into the installer; says what it did on the run's details. A power failure ends the rebuild. */
  async function powerIntoInstaller(why: string, after?: string): Promise<void> {
    try {
      const step = await powerCalls.powerIntoInstaller({ hostId: input.hostId, why });
      setCurrentDetails(`${input.hostname} (${input.mac}): ${progress.state} — ${step.did}; waiting for it to PXE boot`);
    } catch (err) {
      if (isCancellation(err)) throw err;
      throw new RebuildFailed('power_failed', `${after ? `${after}; then ` : ''}could not power ${input.hostname} into the installer (${input.power!.method}): ${failureText(err)}`);
    }
  }

  function joinTarget(): { address: string; hostKeys: string[] } {
    const installed = received.installed as (BootEventMeta & InstalledReport) | undefined;
    const phoned = received.phonedHome as (BootEventMeta & PhoneHomeReport) | undefined;
    const hostKeys = Object.values(installed?.sshHostKeys ?? {});
    if (hostKeys.length === 0) {
      throw new RebuildFailed('host_key_mismatch', 'the installer reported no SSH host keys, so the host cannot be verified; refusing to trust on first use');
    }
    const address = phoned?.ip ?? installed?.managementAddress?.split('/')[0];
    if (!address) throw new RebuildFailed('internal_error', 'no address is known for the host: neither phone-home nor the installer reported one');
    return { address, hostKeys };
  }

  async function joinTheCluster(target: { address: string; hostKeys: string[] }): Promise<JoinResult> {
    try {
      return await remote(input.timeouts.join).joinCluster({ hostId: input.hostId, hostname: input.hostname, ...target, keyId: key!.keyId, via: input.member?.via });
    } catch (err) {
      throw joinFailure(err, input.timeouts.join);
    }
  }

  /** Runs `change` holding the cluster's lock: queued behind other rebuilds of the same cluster, in order. */
  async function withClusterLock<T>(purpose: string, leaseMs: number, change: () => Promise<T>): Promise<T> {
    lockGranted = null;
    let ticket: ClusterLockTicket;
    try {
      // Not cancellable: once queued, the rebuild must know its ticket to leave the queue again (the finally below).
      ticket = await CancellationScope.nonCancellable(() =>
        lockRequests.requestClusterLock({ hostId: input.hostId, hostname: input.hostname, purpose, leaseMs, cluster: input.member?.cluster }),
      );
    } catch (err) {
      if (isCancellation(err)) throw err;
      throw new RebuildFailed(purpose === 'join' ? 'join_rejected' : 'removal_failed', `could not queue for the cluster lock to ${purpose}: ${failureText(err)}`);
    }
    try {
      if (lockGranted === null) {
        const behind = ticket.ahead.length === 0 ? '' : ` behind ${ticket.ahead[0]}${ticket.ahead.length > 1 ? ` (${ticket.ahead.length} ahead)` : ''}`;
        const message = `waiting for the cluster lock${behind} to ${purpose}`;
        await quick.recordRebuildEvent({ hostId: input.hostId, kind: 'cluster_lock_waiting', message, details: { cluster: ticket.cluster, ahead: ticket.ahead } });
        setCurrentDetails(`${input.hostname} (${input.mac}): ${progress.state} — ${message}`);
        const timeout = input.timeouts.joinQueue ?? memberStepDefaults.joinQueue;
        const granted = await condition(() => lockGranted !== null, timeout, { summary: `wait for the lock of cluster ${ticket.cluster}${behind}` });
        if (!granted) throw new RebuildFailed('stage_timeout', `waited ${timeout} for the lock of cluster ${ticket.cluster}${behind} without getting it`);
      }
      await quick.recordRebuildEvent({ hostId: input.hostId, kind: 'cluster_lock_acquired', message: `holding the lock of cluster ${ticket.cluster} to ${purpose}`, details: { cluster: ticket.cluster } });
      return await change();
    } finally {
      // Also when cancelled while waiting: the release takes this rebuild out of the queue.
      await CancellationScope.nonCancellable(async () => {
        try {
          await getExternalWorkflowHandle(ticket.lockId).signal(releaseClusterLockSignal, { runId: workflowInfo().runId });
        } catch (err) {
          log.warn('could not release the cluster lock; its lease frees it', { lockId: ticket.lockId, error: String(err) });
        }
      });
    }
  }

  /**
   * A member leaves its cluster before its install (proxmox-cluster.md §2): its guests moved to another member
   * when the operator asked, a reboot through the API into network boot, the cluster seeing it offline, and its
   * removal from the nodelist (under the cluster lock: delnode edits the nodelist as a join does).
   */
  async function leaveCluster(member: MemberRebuild, allowPxeAtReboot: boolean): Promise<void> {
    if (member.migrateTo !== null) {
      const timeout = input.timeouts.migrate ?? memberStepDefaults.migrate;
      setCurrentDetails(`${input.hostname} (${input.mac}): moving its guests to ${member.migrateTo}`);
      await memberStep('migrateGuests', member, durationMs(timeout), 'migration_failed', `moving the guests of ${member.node} to ${member.migrateTo}`);
    }
    if (allowPxeAtReboot) {
      pxeAllowed = true;
      await quick.allowPxeBoot({ hostId: input.hostId, mac: input.mac });
    }
    const leaveTimeout = input.timeouts.leaveCluster ?? memberStepDefaults.leaveCluster;
    const deadline = Date.now() + durationMs(leaveTimeout);
    const left = () => Math.max(1_000, deadline - Date.now());
    setCurrentDetails(`${input.hostname} (${input.mac}): rebooting ${member.node} through ${member.via.name}'s API`);
    await memberStep('rebootMember', member, left(), 'reboot_failed', `rebooting ${member.node} through the API`);
    setCurrentDetails(`${input.hostname} (${input.mac}): waiting until cluster ${member.cluster} sees ${member.node} offline`);
    await memberStep('awaitMemberOffline', member, left(), 'still_online', `waiting until the cluster sees ${member.node} offline`);
    // The removal's own time starts when the lock is granted: a queue of joins ahead must not eat it.
    await withClusterLock(`remove ${member.node} from the cluster`, Math.max(left(), removalMinimumMs), () =>
      memberStep('removeMember', member, Math.max(left(), removalMinimumMs), 'removal_failed', `removing ${member.node} from cluster ${member.cluster}`),
    );
    setCurrentDetails(`${input.hostname} (${input.mac}): out of cluster ${member.cluster}; waiting for it to PXE boot`);
  }

  /** Runs one member step with its own time budget; its failure, or running out of time, fails with `reason`. */
  async function memberStep(
    name: 'migrateGuests' | 'rebootMember' | 'awaitMemberOffline' | 'removeMember',
    member: MemberRebuild,
    budgetMs: number,
    reason: RebuildFailureReason,
    what: string,
  ): Promise<void> {
    const step = proxyActivities<Activities>({
      startToCloseTimeout: name === 'migrateGuests' ? budgetMs : '1m',
      scheduleToCloseTimeout: budgetMs,
      ...(name === 'migrateGuests' ? { heartbeatTimeout: '1m' } : {}),
      retry: { initialInterval: '2s', backoffCoefficient: 1.5, maximumInterval: '15s', nonRetryableErrorTypes: [...memberStepFailureTypes] },
    });
    try {
      await step[name]({ hostId: input.hostId, member });
    } catch (err) {
      if (isCancellation(err)) throw err;
      const timedOut = err instanceof ActivityFailure && (err.retryState === 'TIMEOUT' || err.cause instanceof TimeoutFailure);
      throw new RebuildFailed(reason, timedOut ? `${what} did not finish within ${Math.round(budgetMs / 1000)} s: ${failureText(err)}` : failureText(err));
    }
  }

  /** After a member's join: its old root key line leaves the cluster's authorized_keys (the new one has the same comment). */
  async function removeOldNodeKey(target: { address: string; hostKeys: string[] }): Promise<void> {
    try {
      await cleanupRemote().removeOldNodeKey({ hostId: input.hostId, hostname: input.hostname, ...target, keyId: key!.keyId });
    } catch (err) {
      if (isCancellation(err)) throw err;
      // The node is in the cluster; the old key's machine is the one just reinstalled. Said, not failed.
      await quick.recordRebuildEvent({
        hostId: input.hostId,
        kind: 'old_key_not_removed',
        message: `could not remove the old root@${input.hostname} key line from /etc/pve/priv/authorized_keys: ${failureText(err)}; remove it by hand (keep the line whose key is in the new node's /root/.ssh/id_rsa.pub)`,
      });
    }
  }

  /** After the join: the cluster lists the node, sees it online and is quorate with one member more. */
  async function checkMembership(joined: JoinResult): Promise<void> {
    const before = joined.membersBefore ?? null;
    try {
      await clusterChecks.checkClusterMembership({ hostId: input.hostId, hostname: input.hostname, expectedMembers: joined.alreadyMember || before === null ? null : before + 1, via: input.member?.via });
    } catch (err) {
      if (isCancellation(err)) throw err;
      throw new RebuildFailed('join_unverified', `the join ran, but within ${membershipCheckTimeout} the cluster did not show ${input.hostname} as it should: ${failureText(err)}`);
    }
  }

  async function removeKeyFromHost(): Promise<void> {
    const installed = received.installed as (BootEventMeta & InstalledReport) | undefined;
    const phoned = received.phonedHome as (BootEventMeta & PhoneHomeReport) | undefined;
    try {
      await cleanupRemote().removeRebuildKeyFromHost({
        hostId: input.hostId,
        address: phoned?.ip ?? installed?.managementAddress?.split('/')[0] ?? null,
        hostKeys: Object.values(installed?.sshHostKeys ?? {}),
        keyId: key!.keyId,
        publicKey: key!.publicKey,
      });
      keyRemovedFromHost = true;
    } catch (err) {
      if (isCancellation(err)) throw err;
      // The private key is destroyed right after, which makes the public key on the host useless.
      await quick.recordRebuildEvent({
        hostId: input.hostId,
        kind: 'key_cleanup_failed',
        message: `could not remove the rebuild key from the host: ${failureText(err)}; the private key is destroyed anyway`,
      });
    }
  }

  async function registerInInfrastructure(address: string): Promise<void> {
    const installed = received.installed as (BootEventMeta & InstalledReport) | undefined;
    const phoned = received.phonedHome as (BootEventMeta & PhoneHomeReport) | undefined;
    try {
      await external.registerInInfrastructure({
        hostId: input.hostId,
        hostname: input.hostname,
        mac: input.mac,
        serverType: input.serverType,
        ipAddress: address,
        machineId: installed?.machineId ?? null,
        hardwareId: phoned?.hardwareId ?? null,
      });
    } catch (err) {
      if (isCancellation(err)) throw err;
      throw new RebuildFailed('infrastructure_failed', `Infrastructure registration failed: ${failureText(err)}`);
    }
  }

  async function generateKey(i: RebuildInput): Promise<RebuildKeyRef> {
    try {
      return await quick.generateRebuildKey({ hostId: i.hostId, hostname: i.hostname });
    } catch (err) {
      if (isCancellation(err)) throw err;
      throw new RebuildFailed('key_generation_failed', `could not generate the rebuild key: ${(err as Error).message}`);
    }
  }

  async function enterState(state: HostState, message: string, details?: Record<string, unknown>): Promise<void> {
    await quick.recordHostState({ hostId: input.hostId, state, message, details });
    progress.state = state;
    progress.reached[state] = new Date().toISOString();
    setCurrentDetails(`${input.hostname} (${input.mac}): ${state} — ${message}`);
    upsertSearchAttributes([{ key: HOST_STATE, value: state }]);
  }

  async function awaitBootEvent(kind: BootEventKind, timeout: string): Promise<void> {
    const laterOrSame = bootEvents.slice(bootEvents.indexOf(kind));
    const arrived = await condition(() => laterOrSame.some((k) => received[k] !== undefined), timeout, {
      summary: `wait for ${kind} from ${input.mac} (up to ${timeout})`,
    });
    await recordIgnoredEvents();
    if (!arrived) throw new RebuildFailed('stage_timeout', timeoutMessage(kind, input.mac, timeout));
    const event = received[kind];
    if (event === undefined) {
      // Out of order: a later event proves this stage passed even though its own event never came.
      const later = laterOrSame.find((k) => received[k] !== undefined)!;
      await enterState(stateAfter[kind], `${kind} was not seen, but ${later} arrived; moving on`, { event: kind, inferredFrom: later });
      return;
    }
    await enterState(stateAfter[kind], describeBootEvent(kind, event), { event: kind, at: event.at, remoteAddress: event.remoteAddress });
  }

  async function recordIgnoredEvents(): Promise<void> {
    while (ignored.length > 0) {
      const { kind, state } = ignored.shift()!;
      await quick.recordRebuildEvent({
        hostId: input.hostId,
        kind: 'boot_event_ignored',
        message: `${kind} received again while ${state}; ignored`,
      });
    }
  }
}

function describeBootEvent(kind: BootEventKind, event: BootEventMeta & Record<string, unknown>): string {
  const from = event.remoteAddress ? ` from ${event.remoteAddress}` : '';
  switch (kind) {
    case 'pxeBooted':
      return `PXE boot script served${from}`;
    case 'answerServed':
      return `answer file served${from}; installing`;
    case 'installed':
      return `installer reported success${from}`;
    case 'phonedHome':
      return `first boot phoned home${from}`;
  }
}

/** For best-effort steps: a failure is already in the host's history; a cancellation still cancels. */
function ignoreUnlessCancelled(err: unknown): void {
  if (isCancellation(err)) throw err;
}

/** The innermost failure message (an ActivityFailure wraps the activity's own ApplicationFailure). */
function failureText(err: unknown): string {
  let current = err as { message?: string; cause?: unknown } | undefined;
  while (current?.cause) current = current.cause as { message?: string; cause?: unknown };
  return current?.message ?? String(err);
}

/** Maps a failed join to its reason: a pinned host key that did not match, Proxmox's refusal, or the stage timeout. */
function joinFailure(err: unknown, timeout: string): unknown {
  if (isCancellation(err)) return err;
  if (!(err instanceof ActivityFailure)) return new RebuildFailed('join_rejected', failureText(err));
  // Retries ran out of time (connection refused, host unreachable): the stage timed out.
  if (err.retryState === 'TIMEOUT' || err.cause instanceof TimeoutFailure) {
    return new RebuildFailed('stage_timeout', `cluster join did not finish within ${timeout}: ${failureText(err)}`);
  }
  if (err.cause instanceof ApplicationFailure && err.cause.type === 'HostKeyMismatch') {
    return new RebuildFailed('host_key_mismatch', err.cause.message);
  }
  // Since identity checks: the address the join connects to is not the one the host's webhook and phone-home came from.
  if (err.cause instanceof ApplicationFailure && err.cause.type === 'IdentityMismatch' && patched('identity-mismatch-reason')) {
    return new RebuildFailed('identity_mismatch', err.cause.message);
  }
  return new RebuildFailed('join_rejected', failureText(err));
}

function describeFailure(err: unknown, stage: HostState, input: RebuildInput): { reason: RebuildFailureReason; message: string } {
  if (err instanceof RebuildFailed) return { reason: err.reason, message: err.message };
  if (isCancellation(err)) return { reason: 'cancelled', message: `rebuild cancelled by an operator while ${stage}` };
  if (err instanceof ApplicationFailure) return { reason: 'internal_error', message: err.message };
  log.error('rebuild failed unexpectedly', { hostId: input.hostId, error: String(err) });
  return { reason: 'internal_error', message: (err as Error).message ?? String(err) };
}
