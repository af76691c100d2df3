import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import type { SignalDefinition } from '@temporalio/common';
import { NoActiveRebuildError, RebuildInProgressError } from '../domain/errors';
import type { Host } from '../domain/host';
import { rebuildWorkflowId } from '../domain/rebuild-ids';
import { formatDuration } from '../domain/duration';
import type { PowerMethod } from '../power/types';
import { defaultPowerRetries, rebuildRunTimeoutMs, type BootEventSink, type BootSignalArgs, type MemberRebuild, type RebuildInput, type RebuildProgress, type RebuildTimeouts } from '../domain/rebuild';
import {
  answerServedSignal,
  installedSignal,
  phonedHomeSignal,
  pxeBootedSignal,
  rebuildProgressQuery,
} from '../../workflows/messages';
import type { rebuildHostWorkflow } from '../../workflows/rebuild-host';
import { HOST_ID, HOST_MAC, HOST_STATE, HOSTNAME } from '../../workflows/search-attributes';

const bootSignals = {
  pxeBooted: pxeBootedSignal,
  answerServed: answerServedSignal,
  installed: installedSignal,
  phonedHome: phonedHomeSignal,
};

/** Starts, cancels and queries rebuilds; turns Temporal SDK errors into domain errors. */
export class RebuildClient implements BootEventSink {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    private readonly timeouts: () => RebuildTimeouts,
    private readonly settings: { notify?: boolean } = {}, // notify: notification targets are configured
  ) {}

  /**
   * Starts the rebuild of `host`; with `member` (the plan found its name in the cluster) it first leaves the cluster.
   * Throws RebuildInProgressError when one is running.
   */
  async start(host: Host, options: { member?: MemberRebuild; power?: PowerMethod } = {}): Promise<{ workflowId: string; runId: string }> {
    const workflowId = rebuildWorkflowId(host.id);
    const timeouts = this.timeouts();
    const { member } = options;
    const power = options.power === undefined || options.power === 'manual' ? null : options.power;
    const runTimeout = rebuildRunTimeoutMs(timeouts, { powered: power !== null });
    const input: RebuildInput = { hostId: host.id, hostname: host.hostname, mac: host.mac, serverType: host.serverType, timeouts, ...(member ? { member } : {}), ...(power ? { power: { method: power } } : {}), ...(this.settings.notify ? { notify: true } : {}) };
    const asMember = member ? `; a member of cluster ${member.cluster}, removed and joined again through ${member.via.name}${member.migrateTo ? `, its guests moved to ${member.migrateTo} first` : ''}${member.allowQuorumLoss ? ', quorum loss allowed' : ''}` : '';
    const powered = power ? `; powered into the installer by ${power}, a stuck stage retried by power up to ${timeouts.powerRetries ?? defaultPowerRetries} times` : '';
    try {
      const handle = await this.client.workflow.start<typeof rebuildHostWorkflow>('rebuildHostWorkflow', {
        workflowId,
        taskQueue: this.taskQueue,
        args: [input],
        workflowIdConflictPolicy: 'FAIL',
        // A bound on the whole run, whatever happens inside it; the janitor cleans up after a run that reached it.
        workflowRunTimeout: runTimeout,
        staticSummary: `rebuild ${host.hostname} (${host.mac})`,
        staticDetails: `Host ${host.id}: ${host.hostname}, MAC ${host.mac}, server type ${host.serverType}${asMember}${powered}; ends by itself after ${formatDuration(runTimeout)} at most`,
        typedSearchAttributes: [
          { key: HOST_ID, value: String(host.id) },
          { key: HOSTNAME, value: host.hostname },
          { key: HOST_MAC, value: host.mac },
          { key: HOST_STATE, value: 'pxe_ready' },
        ],
      });
      return { workflowId, runId: handle.firstExecutionRunId };
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) throw new RebuildInProgressError(host.id, workflowId);
      throw err;
    }
  }

  /** Requests cancellation of the host's running rebuild (cleanup still runs); throws NoActiveRebuildError. */
  async cancel(hostId: number): Promise<void> {
    try {
      const handle = this.handle(hostId);
      const description = await handle.describe();
      if (description.status.name !== 'RUNNING') throw new NoActiveRebuildError(hostId);
      await handle.cancel();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new NoActiveRebuildError(hostId);
      throw err;
    }
  }

  /** The live progress of the host's rebuild, from the workflow itself. */
  async progress(hostId: number): Promise<RebuildProgress> {
    try {
      return await this.handle(hostId).query(rebuildProgressQuery);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new NoActiveRebuildError(hostId);
      throw err;
    }
  }

  /** Sends a boot event to the host's running rebuild (a plain signal: a late event never starts a rebuild). */
  async deliver<K extends keyof BootSignalArgs>(hostId: number, kind: K, payload: BootSignalArgs[K]): Promise<void> {
    try {
      await this.handle(hostId).signal(bootSignals[kind] as SignalDefinition<[BootSignalArgs[K]]>, payload);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new NoActiveRebuildError(hostId);
      throw err;
    }
  }

  /** The handle of the host's latest rebuild run. */
  handle(hostId: number): WorkflowHandle<typeof rebuildHostWorkflow> {
    return this.client.workflow.getHandle(rebuildWorkflowId(hostId));
  }
}
