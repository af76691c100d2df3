// The rebuild's pure rules: stages, which boot event moves which state, failure reasons. Imported by the
// workflow, so no I/O and no Node built-ins here.
import { durationMs } from './duration';
import type { HostState } from './host-state-machine';

/** Stage timeouts (config `timeouts.*`) as ms-format strings ('20m'); workflow arguments, so tests pass '2s'. */
export interface RebuildTimeouts {
  pxeBoot: string; // PXE request after the rebuild starts
  answerFetch: string; // answer-file fetch after PXE boot
  install: string; // post-install webhook after the answer was served
  phoneHome: string; // first-boot phone-home after the install
  join: string; // the whole cluster join
  // A member rebuild's steps before the install (issue 16); absent in rebuilds started before them: defaults apply.
  migrate?: string; // migrateall of the node's guests: 30m
  leaveCluster?: string; // reboot, seen offline, removed from the nodelist: 15m
  joinQueue?: string; // waiting for the cluster's lock (one join at a time per cluster): 1h
  // Power retries (issue 17): how often a stage before `installed` that timed out is cured by power-cycling the
  // machine back into the installer, per rebuild, when the host has power control. Absent: the default.
  powerRetries?: number;
}

/** Default of timeouts.power_retries. */
export const defaultPowerRetries = 2;

/** Defaults of the member steps' timeouts, for rebuilds whose input predates them. */
export const memberStepDefaults = { migrate: '30m', leaveCluster: '15m', joinQueue: '1h' } as const;

/** A cluster member, by the cluster's name for it, with the address and certificate to reach its API. */
export interface ClusterMemberRef {
  name: string; // pve-ms-01
  address: string; // 192.168.1.10 (pve_addr, or proxmox.existing_node as configured)
  fingerprint: string; // its pve_fp (AA:BB:…), pinned
}

/**
 * Set when the host is already a member of the cluster (its hostname is in the nodelist): the rebuild first moves
 * its guests (when asked), reboots it through the API, waits until the cluster sees it offline and removes it,
 * then installs and joins as usual, and after the join removes the old node's root key line. No secrets.
 */
export interface MemberRebuild {
  node: string; // the cluster's name for the host: its hostname
  cluster: string; // the cluster's name
  via: ClusterMemberRef; // the member whose API runs the steps: never the node itself
  migrateTo: string | null; // move the node's guests to this member first (migrateall); null: none to move
  allowQuorumLoss: boolean; // the operator accepted that the cluster is without quorum while the node is down
}

/**
 * What a rebuild may spend beyond its stage timeouts: Infrastructure registration (retried for up to 30 minutes),
 * removing the key from the host during cleanup (3 tries of up to 2 minutes), the records, and slack for a worker
 * restart.
 */
export const runTimeoutMarginMs = 60 * 60_000;

/**
 * The run timeout of a rebuild: the sum of its stage timeouts plus the margin. A run still open then is ended by
 * Temporal (status timed out, no workflow code runs) and the janitor does its cleanup, so no rebuild keeps a MAC
 * allowed to PXE boot forever.
 */
export function rebuildRunTimeoutMs(timeouts: RebuildTimeouts, options: { powered?: boolean } = {}): number {
  const stages = [timeouts.pxeBoot, timeouts.answerFetch, timeouts.install, timeouts.phoneHome, timeouts.join];
  // Each power retry (IPMI and Redfish) waits for the PXE boot, the answer fetch and the install again.
  if (options.powered) for (let i = 0; i < (timeouts.powerRetries ?? defaultPowerRetries); i++) stages.push(timeouts.pxeBoot, timeouts.answerFetch, timeouts.install);
  if (timeouts.migrate !== undefined) stages.push(timeouts.migrate); // a member rebuild's steps, when configured
  if (timeouts.leaveCluster !== undefined) stages.push(timeouts.leaveCluster);
  if (timeouts.joinQueue !== undefined) stages.push(timeouts.joinQueue);
  return stages.reduce((sum, t) => sum + durationMs(t), runTimeoutMarginMs);
}

/** Everything the workflow needs to know at start. No secrets: keys are referenced by id. */
export interface RebuildInput {
  hostId: number;
  hostname: string; // pve-ms-03
  mac: string; // aa:bb:cc:dd:ee:ff
  serverType: string; // minisforum-ms-01
  timeouts: RebuildTimeouts;
  member?: MemberRebuild; // the host is a cluster member being rebuilt (issue 16); absent: a fresh host
  // The host's power method when the rebuild started (issue 17): not manual, the rebuild powers the machine into the
  // installer and retries a stuck stage by power. Absent (rebuilds before power control, manual hosts): by hand.
  // Only the method: the activities read the settings and the password from the store for each call.
  power?: { method: 'wol' | 'ipmi' | 'redfish' | 'proxmox' }; // src/power/types.ts's PowerMethod but manual
  // True when notification targets were configured when the rebuild started (issue 18): the rebuild then sends its
  // outcome and its power retries. Only that: the activities read the targets, URLs and secrets from the worker's config.
  notify?: boolean;
}

/** Facts the Proxmox post-installation webhook reports (proxmox.md §3). */
export interface InstalledReport {
  managementAddress: string | null; // 10.0.0.5/24
  sshHostKeys: Record<string, string>; // { ed25519: 'ssh-ed25519 AAAA…' }
  machineId: string | null;
}

/** What the first-boot script reports when it phones home. */
export interface PhoneHomeReport {
  ip: string; // 10.0.0.5
  hardwareId: string | null; // DMI system UUID
}

/** Common fields of every boot event: when the gateway saw it and from where. */
export interface BootEventMeta {
  at: string; // ISO-8601, as received by the gateway
  remoteAddress?: string; // 192.168.1.53
}

/** The payload of each boot event the gateway delivers to a rebuild (as a signal of the same name). */
export interface BootSignalArgs {
  pxeBooted: BootEventMeta;
  answerServed: BootEventMeta;
  installed: BootEventMeta & InstalledReport;
  phonedHome: BootEventMeta & PhoneHomeReport;
}

/** Delivers a boot event to the host's running rebuild; throws NoActiveRebuildError when none runs. */
export interface BootEventSink {
  deliver<K extends keyof BootSignalArgs>(hostId: number, kind: K, payload: BootSignalArgs[K]): Promise<void>;
}

/** Boot events, in the order a real install produces them (proxmox.md §9). */
export const bootEvents = ['pxeBooted', 'answerServed', 'installed', 'phonedHome'] as const;
export type BootEventKind = (typeof bootEvents)[number];

/** The host state each boot event moves the rebuild to. */
export const stateAfter: Readonly<Record<BootEventKind, HostState>> = {
  pxeBooted: 'pxe_booted',
  answerServed: 'installing',
  installed: 'installed',
  phonedHome: 'first_boot',
};

/** Why a rebuild failed: a closed set, so the dashboard and API can act on it. */
export const failureReasons = [
  'stage_timeout',
  'cancelled',
  'key_generation_failed',
  'join_rejected',
  'host_key_mismatch',
  'migration_failed', // a member rebuild: moving the node's guests away failed or did not finish in time
  'reboot_failed', // a member rebuild: the API refused to reboot the node
  'still_online', // a member rebuild: the cluster still saw the node online when timeouts.leave_cluster ran out
  'removal_failed', // a member rebuild: removing the node from the cluster (delnode) failed
  'join_unverified', // the join ran, but the cluster did not show the node listed, online and quorate in time
  'power_failed', // the host's power method could not power it into the installer (BMC unreachable, credentials refused, …)
  'identity_mismatch', // the join would send the password to an address the host's webhook or phone-home did not come from
  'infrastructure_failed',
  'terminated', // the run was terminated (operator, `temporal workflow terminate`); the janitor cleaned up
  'timed_out', // the run reached its run timeout; the janitor cleaned up
  'internal_error',
] as const;
export type RebuildFailureReason = (typeof failureReasons)[number];

/**
 * The task queue of the SSH activities (the cluster join and the key removal): `<task_queue>-ssh`. The worker polls
 * it with at most `proxmox.max_parallel_joins` of them running at once; the others wait on the Temporal server.
 */
export const sshTaskQueue = (taskQueue: string): string => `${taskQueue}-ssh`;

/** Failure types of the join activity that are definite (not retried): Proxmox said no, or the host is not who it claims. */
export const joinFailureTypes = ['JoinRejected', 'HostKeyMismatch', 'RebuildKeyMissing', 'JoinNotConfigured'] as const;

/** Failure types of the power activities that are definite (not retried): wrong settings, refused credentials, a method that cannot. */
export const powerFailureTypes = ['PowerRefused'] as const;

/** Failure types of a member rebuild's steps that are definite (not retried). */
export const memberStepFailureTypes = ['MemberStepFailed', 'MigrationFailed', 'RebootFailed', 'RemovalFailed', 'OldKeyNotRemoved', 'RebuildKeyMissing'] as const;

/** The awaited thing of each wait, for timeout messages: "no PXE request from aa:bb:… within 20m". */
export function timeoutMessage(awaited: BootEventKind, mac: string, timeout: string): string {
  switch (awaited) {
    case 'pxeBooted':
      return `no PXE request from ${mac} within ${timeout}`;
    case 'answerServed':
      return `no answer-file request from ${mac} within ${timeout} of its PXE boot`;
    case 'installed':
      return `no post-installation webhook from ${mac} within ${timeout} of serving its answer file`;
    case 'phonedHome':
      return `no phone-home from ${mac} within ${timeout} of its installation finishing`;
  }
}

/** The workflow's view of one rebuild, answered by the progress query. */
export interface RebuildProgress {
  hostId: number;
  state: HostState;
  reached: Partial<Record<HostState, string>>; // state → ISO time first reached
  lastEvent: string | null;
  failure: { stage: HostState; reason: RebuildFailureReason; message: string } | null;
}
