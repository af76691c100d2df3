// `provisioning rebuild HOST [--watch]` and `provisioning cancel HOST`. With --watch the host's event stream is open
// before the rebuild is asked for, so no stage can pass unseen; it prints a line per stage and ends with the outcome.
import type { HostBody, HostDetailBody, RebuildStartedBody } from './api-types';
import { CliError, exitCodes, resolveHost, type CommandContext } from './context';
import { EventStream, StreamLostError, type StreamEvent } from './event-stream';
import { clockText, durationText, stateText } from './output';

export interface RebuildOptions {
  watch?: boolean;
  migrateGuests?: boolean;
  migrateTarget?: string;
  allowQuorumLoss?: boolean;
}

/** Starts a rebuild; with `watch`, follows it to the end and returns the exit status (0 ready, 1 failed). */
export async function rebuildHost(ctx: CommandContext, host: string, options: RebuildOptions): Promise<number> {
  const h = await resolveHost(ctx, host);
  const body = {
    ...(options.migrateGuests ? { migrate_guests: true } : {}),
    ...(options.migrateTarget !== undefined ? { migrate_guests: true, migrate_target: options.migrateTarget } : {}),
    ...(options.allowQuorumLoss ? { allow_quorum_loss: true } : {}),
  };
  if (!options.watch) {
    const started = await ctx.api.request<RebuildStartedBody>('POST', `/api/hosts/${h.id}/rebuild`, { json: body });
    if (ctx.out.json) ctx.out.printJson(started);
    else ctx.out.line(`rebuild of ${h.hostname} started (operation ${started.operation_id}, workflow ${started.workflow_id}); follow it with provisioning rebuild --watch or hosts show ${h.hostname}`);
    return exitCodes.ok;
  }
  return watchRebuild(ctx, h, body);
}

async function watchRebuild(ctx: CommandContext, h: HostBody, body: Record<string, unknown>): Promise<number> {
  let operationId: number | null = null;
  // After a reconnect the stream resumes from the last event id; the operation's record says whether it ended while
  // the connection was down and its events are no longer kept.
  const meanwhile: { ended: { status: 'succeeded' | 'failed'; reason: string | null; stage: string | null; message: string | null } | null } = { ended: null };
  const stream = await EventStream.open(ctx.api, {
    hostId: h.id,
    onReconnect: async () => {
      if (operationId === null) return false;
      const detail = await ctx.api.request<HostDetailBody>('GET', `/api/hosts/${h.id}`);
      const op = detail.operations.find((o) => o.id === operationId);
      if (op && op.status !== 'running') meanwhile.ended = { status: op.status, reason: op.failure_reason, stage: op.stage, message: op.failure_message };
      return meanwhile.ended !== null;
    },
  });
  try {
    let started: RebuildStartedBody;
    try {
      started = await ctx.api.request<RebuildStartedBody>('POST', `/api/hosts/${h.id}/rebuild`, { json: body });
    } catch (err) {
      stream.close();
      throw err;
    }
    operationId = started.operation_id;
    const startedAt = Date.now();
    if (ctx.out.json) ctx.out.printJsonLine(started);
    else ctx.out.line(`rebuild of ${ctx.out.out.bold(h.hostname)} started (operation ${started.operation_id}, workflow ${started.workflow_id})`);
    const c = ctx.out.out;
    for await (const event of stream) {
      if (!belongsTo(event, started.operation_id)) continue;
      if (ctx.out.json) ctx.out.printJsonLine(event);
      switch (event.name) {
        case 'rebuild.stage': {
          const state = String(event.data.state ?? event.state ?? '');
          if (!ctx.out.json) ctx.out.line(`${c.dim(clockText(event.at))}  ${stateText(state, c)}${' '.repeat(Math.max(1, 11 - state.length))}${String(event.data.message ?? '')}`.trimEnd());
          break;
        }
        case 'rebuild.ready':
          if (!ctx.out.json) ctx.out.line(c.green(`${h.hostname} is ready (rebuild took ${durationText(Date.now() - startedAt)})`));
          return exitCodes.ok;
        case 'rebuild.failed':
          ctx.out.note(ctx.out.err.red(failureText(h.hostname, event.data.stage, event.data.reason, event.data.message)));
          return exitCodes.failed;
        default:
      }
    }
    const ended = meanwhile.ended;
    if (ended) {
      if (ended.status === 'succeeded') {
        if (!ctx.out.json) ctx.out.line(c.green(`${h.hostname} is ready (it finished while the event stream was reconnecting)`));
        return exitCodes.ok;
      }
      ctx.out.note(ctx.out.err.red(failureText(h.hostname, ended.stage, ended.reason, ended.message)));
      return exitCodes.failed;
    }
    throw new CliError(`the event stream of ${ctx.api.url} ended before the rebuild did; it goes on: provisioning hosts show ${h.hostname}`, exitCodes.unreachable);
  } catch (err) {
    if (err instanceof StreamLostError) throw new CliError(`${err.message}; the rebuild goes on: provisioning hosts show ${h.hostname}`, exitCodes.unreachable);
    throw err;
  } finally {
    stream.close();
  }
}

/** Events of this rebuild (those that arrived before the POST answered wait in the stream until it is read). */
function belongsTo(event: StreamEvent, operationId: number): boolean {
  const op = event.data.operation_id;
  return typeof op === 'number' ? op === operationId : false;
}

function failureText(hostname: string, stage: unknown, reason: unknown, message: unknown): string {
  const at = typeof stage === 'string' && stage !== '' ? ` at ${stage}` : '';
  return `rebuild of ${hostname} failed${at}: ${String(reason ?? 'unknown')}${typeof message === 'string' && message !== '' ? `: ${message}` : ''}`;
}

export async function cancelRebuild(ctx: CommandContext, host: string): Promise<void> {
  const h = await resolveHost(ctx, host);
  const body = await ctx.api.request<{ workflow_id: string }>('POST', `/api/hosts/${h.id}/rebuild/cancel`);
  if (ctx.out.json) return ctx.out.printJson(body);
  ctx.out.line(`cancel of ${h.hostname}'s rebuild requested (workflow ${body.workflow_id}); its cleanup runs and the host ends failed (cancelled)`);
}
