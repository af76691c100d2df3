// `provisioning images list|prepare`: the boot images (GET/POST /api/images). `prepare` takes the stock ISO's URL
// (the service downloads it) or a local ISO file (streamed up to the service); --watch follows the job to its end.
import { createReadStream, statSync } from 'node:fs';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import type { ImageBody, ImageJobBody, ImagesBody } from './api-types';
import { CliError, exitCodes, type CommandContext } from './context';
import { EventStream } from './event-stream';
import { bytesText, table } from './output';

export async function listImages(ctx: CommandContext): Promise<void> {
  const body = await ctx.api.request<ImagesBody>('GET', '/api/images');
  if (ctx.out.json) return ctx.out.printJson(body);
  const c = ctx.out.out;
  if (body.images.length === 0) ctx.out.note(`no boot images in ${body.directory}: provisioning images prepare <ISO URL or file>`);
  else {
    const rows = body.images.map((i) => [i.name, i.release ?? '-', bytesText(i.size), i.prepared ? (i.prepared_at ?? 'yes') : 'by hand', staleText(i, c)]);
    for (const l of table(['NAME', 'RELEASE', 'SIZE', 'PREPARED', 'STALE'], rows, c)) ctx.out.line(l);
  }
  const running = body.jobs.filter((j) => j.state === 'downloading' || j.state === 'preparing');
  if (running.length > 0) {
    ctx.out.line();
    for (const j of running) ctx.out.line(`preparing ${j.name}: ${jobText(j)}`);
  }
}

function staleText(i: ImageBody, c: CommandContext['out']['out']): string {
  if (i.stale === null) return '-';
  return i.stale ? c.yellow(`yes: ${i.stale_reasons.join('; ')}`) : 'no';
}

export interface PrepareOptions {
  name?: string;
  sha256?: string;
  watch?: boolean;
}

interface JobStarted {
  job: ImageJobBody;
  status_url: string;
}

/** Starts preparing an image; with `watch`, follows the job and returns 0 when ready, 1 when it failed. */
export async function prepareImage(ctx: CommandContext, source: string, options: PrepareOptions): Promise<number> {
  // Open before the job starts, so none of its steps is missed. After a reconnect its record says whether it ended.
  let started: JobStarted | null = null;
  const reconnected: { job: ImageJobBody | null } = { job: null };
  const stream = options.watch
    ? await EventStream.open(ctx.api, {
        onReconnect: async () => {
          if (!started) return false;
          const { job } = await ctx.api.request<{ job: ImageJobBody | null }>('GET', `/api/images/${encodeURIComponent(started.job.name)}`);
          if (job && job.id === started.job.id && ended(job)) reconnected.job = job;
          return reconnected.job !== null;
        },
      })
    : null;
  try {
    started = await startPreparation(ctx, source, options);
    if (ctx.out.json) (options.watch ? ctx.out.printJsonLine : ctx.out.printJson)(started);
    else ctx.out.line(`preparing image ${ctx.out.out.bold(started.job.name)} (job ${started.job.id}): ${jobText(started.job)}`);
    if (!stream) return exitCodes.ok;
    return await followJob(ctx, stream, started, reconnected);
  } finally {
    stream?.close();
  }
}

async function startPreparation(ctx: CommandContext, source: string, options: PrepareOptions): Promise<JobStarted> {
  if (/^https?:\/\//i.test(source)) {
    return ctx.api.request<JobStarted>('POST', '/api/images', { json: { url: source, ...(options.sha256 ? { sha256: options.sha256 } : {}), ...(options.name ? { name: options.name } : {}) } });
  }
  let size: number;
  try {
    const stat = statSync(source);
    if (!stat.isFile()) throw new Error('not a file');
    size = stat.size;
  } catch (err) {
    throw new CliError(`cannot read ${source}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message} (give the stock ISO's URL or a local ISO file)`, exitCodes.usage);
  }
  if (!ctx.out.json) ctx.out.note(`uploading ${source} (${bytesText(size)}) to ${ctx.api.url}…`);
  const body = Readable.toWeb(createReadStream(source)) as ReadableStream<Uint8Array>;
  return ctx.api.request<JobStarted>('POST', '/api/images', {
    body,
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    query: { filename: basename(source), name: options.name, sha256: options.sha256 },
  });
}

/** Follows the job through its image.progress events (job_id, state, step, bytes, error) until it has ended. */
async function followJob(ctx: CommandContext, stream: EventStream, started: JobStarted, reconnected: { job: ImageJobBody | null }): Promise<number> {
  const name = started.job.name;
  let last = milestone(started.job);
  let final: JobProgress | null = ended(started.job) ? started.job : null;
  if (!final) {
    for await (const event of stream) {
      if (event.name !== 'image.progress' || event.data.job_id !== started.job.id) continue;
      if (ctx.out.json) ctx.out.printJsonLine(event);
      const progress = event.data as unknown as JobProgress;
      if (ended(progress)) {
        final = progress;
        break;
      }
      if (milestone(progress) !== last && !ctx.out.json) ctx.out.line(`  ${jobText(progress)}`);
      last = milestone(progress);
    }
  }
  final ??= reconnected.job; // it ended while the stream was reconnecting
  if (!final) throw new CliError(`the event stream of ${ctx.api.url} ended before the preparation did; it goes on: provisioning images list`, exitCodes.unreachable);
  if (final.state === 'failed') {
    ctx.out.note(ctx.out.err.red(`preparing ${name} failed: ${final.error?.code ?? 'failed'}: ${final.error?.message ?? final.step}`));
    return exitCodes.failed;
  }
  if (!ctx.out.json) {
    ctx.out.line(ctx.out.out.green(`image ${name} is ready`));
    for (const note of (final as Partial<ImageJobBody>).notes ?? []) ctx.out.line(`  note: ${note}`);
  }
  return exitCodes.ok;
}

/** What a job's progress says, in the job body and in its image.progress events alike. */
type JobProgress = Pick<ImageJobBody, 'state' | 'step' | 'bytes_done' | 'bytes_total' | 'error'>;

const ended = (j: JobProgress) => j.state === 'ready' || j.state === 'failed';

/** `downloading 40% of 1.5 GB`, `preparing (initrd) 10% of 80.2 MB`, `ready`. */
function jobText(j: JobProgress): string {
  const label = j.state === 'preparing' && j.step && j.step !== 'downloading' ? `preparing (${j.step})` : j.state;
  const active = j.state === 'downloading' || j.state === 'preparing';
  return active && j.bytes_total ? `${label} ${percent(j)}% of ${bytesText(j.bytes_total)}` : label;
}

const percent = (j: JobProgress) => (j.bytes_total ? Math.min(100, Math.floor((100 * j.bytes_done) / j.bytes_total)) : 0);

/** A line is printed when this changes: each step, and every tenth of it. */
const milestone = (j: JobProgress) => `${j.state} ${j.step} ${Math.floor(percent(j) / 10)}`;
