// What the dashboard shows, built from the stores: the same models feed the first paint and every SSE update.
import { createHash } from 'node:crypto';
import type { ServerType } from '../config/server-types';
import type { Host } from '../domain/host';
import { isActive, type HostState } from '../domain/host-state-machine';
import type { PowerSettings } from '../power/types';
import type { Operation, OperationEvent, OperationStore } from '../store/operation-store';
import type { LastPowerState, PowerStore } from '../store/power-store';

/** The eight states of a rebuild, in order, with the words operators see. */
export const stepperStates: ReadonlyArray<{ state: HostState; label: string }> = [
  { state: 'registered', label: 'Registered' },
  { state: 'pxe_ready', label: 'Waiting for PXE' },
  { state: 'pxe_booted', label: 'PXE booted' },
  { state: 'installing', label: 'Installing' },
  { state: 'installed', label: 'Installed' },
  { state: 'first_boot', label: 'First boot' },
  { state: 'joining', label: 'Joining cluster' },
  { state: 'ready', label: 'Ready' },
];

export function stateLabel(state: HostState): string {
  return state === 'failed' ? 'Failed' : stepperStates.find((s) => s.state === state)!.label;
}

/** The tone of a state: colour plus an icon, never colour alone. */
export function stateTone(state: HostState): 'idle' | 'busy' | 'ok' | 'bad' {
  if (state === 'ready') return 'ok';
  if (state === 'failed') return 'bad';
  return isActive(state) ? 'busy' : 'idle';
}

export interface TileModel {
  id: number;
  hostname: string;
  mac: string;
  serverType: string;
  state: HostState;
  stateLabel: string;
  tone: ReturnType<typeof stateTone>;
  activeSince: string | null; // when the current stage began, for the elapsed clock
  waiting: string | null; // "waiting for the cluster lock behind pve-ms-12 to join", while it does
  failure: { reason: string; message: string } | null;
  power: LastPowerState | null; // on/off as the latest power event recorded it (no BMC call per render)
}

/** Where a tile finds the host's last known power state. */
export type PowerLookup = Pick<PowerStore, 'lastState'>;

/** What a running rebuild waits for besides its stage: the cluster lock, behind whom (the latest lock event says). */
function lockWait(events: readonly OperationEvent[]): string | null {
  const last = [...events].reverse().find((e) => e.kind === 'cluster_lock_waiting' || e.kind === 'cluster_lock_acquired');
  return last?.kind === 'cluster_lock_waiting' ? last.message : null;
}

/** The tile of one host in the grid; without `power`, no power state. */
export function tileModel(host: Host, operations: Pick<OperationStore, 'listForHost' | 'events'>, power?: PowerLookup): TileModel {
  const latest = operations.listForHost(host.id)[0];
  const active = latest?.status === 'running';
  const events = active ? operations.events(latest.id) : [];
  const stageStart = active ? [...events].reverse().find((e) => e.kind === 'state' && e.state === host.state)?.at ?? latest.startedAt : null;
  return {
    id: host.id,
    hostname: host.hostname,
    mac: host.mac,
    serverType: host.serverType,
    state: host.state,
    stateLabel: stateLabel(host.state),
    tone: stateTone(host.state),
    activeSince: stageStart,
    waiting: active ? lockWait(events) : null,
    failure: host.state === 'failed' && latest?.failureReason ? { reason: latest.failureReason, message: latest.failureMessage ?? '' } : null,
    power: power?.lastState(host.id) ?? null,
  };
}

/** A host's power settings in words, never the password ("password: set"). */
export function powerSummary(p: PowerSettings, host: Pick<Host, 'hostname' | 'mac'>): string {
  switch (p.method) {
    case 'manual':
      return 'Manual: power on or reboot the machine into network boot';
    case 'wol':
      return `Wake-on-LAN: magic packet to ${host.mac} on ${p.broadcast ?? 'the broadcast address of pxe.subnet'}, port ${p.port}`;
    case 'ipmi':
      return `IPMI: BMC ${p.address}:${p.port}, user ${p.username}, password: ${p.passwordSet ? 'set' : 'not set'}`;
    case 'redfish': {
      const cert = p.fingerprint ? `certificate pinned (${p.fingerprint.slice(0, 11)}…)` : p.caFile ? `certificate signed by the CA in ${p.caFile}` : 'certificate checked against the system CAs';
      return `Redfish: ${p.url}, user ${p.username}, password: ${p.passwordSet ? 'set' : 'not set'}, system ${p.systemId ?? 'the only one'}, ${cert}`;
    }
    case 'proxmox':
      return `Proxmox API: node ${p.node ?? host.hostname} rebooted through the cluster`;
  }
}

export interface StepModel {
  state: HostState;
  label: string;
  status: 'done' | 'current' | 'failed' | 'todo';
  at: string | null;
  durationMs: number | null; // time spent in this state (until the next one, or until now for the current one)
}

/** One step of a cluster member's rebuild (the plan's steps), as its events show it. */
export interface ClusterStepModel {
  name: string; // reboot
  label: string; // Reboot through the API
  status: StepModel['status'];
  at: string | null;
  message: string | null; // what the step's event said
}

// The plan's step names (src/proxmox/rebuild-plan.ts), the words operators see, and the events that finish each.
const clusterStepDefs: Record<string, { label: string; done: (e: OperationEvent) => boolean }> = {
  migrate_guests: { label: 'Move guests', done: (e) => e.kind === 'guests_migrated' },
  reboot: { label: 'Reboot through the API', done: (e) => e.kind === 'member_rebooting' || e.kind === 'member_offline' },
  wait_offline: { label: 'Seen offline', done: (e) => e.kind === 'member_offline' },
  remove_node: { label: 'Removed from the cluster', done: (e) => e.kind === 'member_removed' },
  install: { label: 'Installed', done: (e) => e.kind === 'state' && (e.state === 'installed' || e.state === 'first_boot') },
  join: { label: 'Joined', done: (e) => e.kind === 'joined' || e.kind === 'join_skipped' },
  check_member: { label: 'Cluster checked', done: (e) => e.kind === 'cluster_checked' },
  remove_old_key: { label: 'Old key removed', done: (e) => e.kind === 'old_key_removed' || e.kind === 'old_key_not_removed' },
};

/** The steps of a member rebuild (from its `rebuild_plan` event), or null for a fresh host's rebuild. */
export function clusterSteps(operation: Operation | undefined, events: readonly OperationEvent[]): ClusterStepModel[] | null {
  const plan = events.find((e) => e.kind === 'rebuild_plan' && e.details?.member === true);
  const names = Array.isArray(plan?.details?.steps) ? (plan!.details!.steps as unknown[]).filter((n): n is string => typeof n === 'string' && n in clusterStepDefs) : null;
  if (!operation || !names) return null;
  let open = false;
  return names.map((name) => {
    const def = clusterStepDefs[name]!;
    const event = events.find(def.done);
    let status: StepModel['status'] = 'todo';
    if (event) status = 'done';
    else if (!open) {
      open = true;
      status = operation.status === 'running' ? 'current' : operation.status === 'failed' ? 'failed' : 'todo';
    }
    return { name, label: def.label, status, at: event?.at ?? null, message: event?.message ?? null };
  });
}

export interface HostDetailModel {
  host: Host;
  serverType: ServerType | undefined;
  tile: TileModel;
  hostKeyFingerprints: Array<{ type: string; fingerprint: string }>;
  steps: StepModel[];
  clusterSteps: ClusterStepModel[] | null; // a cluster member's rebuild: its steps around the install
  operations: Array<{ operation: Operation; events: OperationEvent[]; workflowUrl: string | null }>;
  looseEvents: OperationEvent[]; // boot requests of no rebuild
  power: { settings: PowerSettings; summary: string };
}

/** OpenSSH-style fingerprint (SHA256:base64, no padding) of a `type AAAA…` public key line. */
export function sshFingerprint(line: string): string {
  const blob = Buffer.from(line.trim().split(/\s+/)[1] ?? '', 'base64');
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Everything the host page shows. */
export function hostDetailModel(
  host: Host,
  serverType: ServerType | undefined,
  operations: Pick<OperationStore, 'listForHost' | 'events' | 'hostEvents'>,
  temporal: { uiUrl: string; namespace: string },
  now: Date,
  power: Pick<PowerStore, 'settings' | 'lastState'>,
): HostDetailModel {
  const ops = operations.listForHost(host.id);
  const latest = ops[0];
  const latestEvents = latest ? operations.events(latest.id) : [];
  const reached = new Map<HostState, string>();
  reached.set('registered', host.createdAt);
  for (const e of latestEvents) if (e.kind === 'state' && e.state && !reached.has(e.state as HostState)) reached.set(e.state as HostState, e.at);
  const failedAt = latest?.status === 'failed' ? (latest.stage as HostState | null) : null;
  const order = stepperStates.map((s) => s.state);
  const current = host.state === 'failed' ? failedAt : host.state;
  const steps: StepModel[] = stepperStates.map(({ state, label }, i) => {
    const at = latest || state === 'registered' ? reached.get(state) ?? null : null;
    const nextAt = order.slice(i + 1).map((s) => reached.get(s)).find((v) => v !== undefined);
    let status: StepModel['status'] = 'todo';
    if (state === current) status = host.state === 'failed' ? 'failed' : host.state === 'ready' ? 'done' : 'current';
    else if (at && current && order.indexOf(state) < order.indexOf(current)) status = 'done';
    else if (at && !current) status = 'done';
    const end = nextAt ?? (status === 'current' ? now.toISOString() : status === 'failed' ? latest?.finishedAt ?? null : null);
    return { state, label, status, at, durationMs: at && end ? Math.max(0, Date.parse(end) - Date.parse(at)) : null };
  });
  const powerSettings = power.settings(host.id);
  const hostKeys = Object.entries(host.sshHostKeys ?? {}).map(([type, line]) => ({ type, fingerprint: sshFingerprint(line) }));
  return {
    host,
    serverType,
    tile: tileModel(host, operations, power),
    hostKeyFingerprints: hostKeys,
    steps,
    clusterSteps: clusterSteps(latest, latestEvents),
    operations: ops.map((operation) => ({
      operation,
      events: [...operations.events(operation.id)].reverse(),
      workflowUrl: temporal.uiUrl
        ? `${temporal.uiUrl}/namespaces/${encodeURIComponent(temporal.namespace)}/workflows/${encodeURIComponent(operation.workflowId)}/${encodeURIComponent(operation.runId)}/history`
        : null,
    })),
    looseEvents: [...operations.hostEvents(host.id, 20)].reverse(),
    power: { settings: powerSettings, summary: powerSummary(powerSettings, host) },
  };
}
