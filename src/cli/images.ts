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
  // Open before the job starts, so its first steps are not missed; a job is followed by its image's name.
  const stream = options.watch ? await EventStream.open(ctx.api) : null;
  try {
    const started = await startPreparation(ctx, source, options);
    if (ctx.out.json) (options.watch ? ctx.out.printJsonLine : ctx.out.printJson)(started);
    else ctx.out.line(`preparing image ${ctx.out.out.bold(started.job.name)} (job ${started.job.id}): ${jobText(started.job)}`);
    if (!stream) return exitCodes.ok;
    return await followJob(ctx, stream, started);
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

/** Each image.progress event of the job's image re-reads the job (GET /api/images/{name}) until it has ended. */
async function followJob(ctx: CommandContext, stream: EventStream, started: JobStarted): Promise<number> {
  const name = started.job.name;
  let last = jobText(started.job);
  const ended = (job: ImageJobBody | null) => job !== null && job.id === started.job.id && (job.state === 'ready' || job.state === 'failed');
  let job: ImageJobBody | null = started.job;
  const check = async () => {
    job = (await ctx.api.request<{ job: ImageJobBody | null }>('GET', `/api/images/${encodeURIComponent(name)}`)).job;
    return ended(job);
  };
  if (!(await check())) {
    for await (const event of stream) {
      if (event.name !== 'image.progress' || (event.data.image ?? event.data.name) !== name) continue;
      if (ctx.out.json) ctx.out.printJsonLine(event);
      if (await check()) break;
      const now = job ? jobText(job) : last;
      if (now !== last && !ctx.out.json) ctx.out.line(`  ${now}`);
      last = now;
    }
  }
  const final = job as ImageJobBody | null;
  if (!final || !ended(final)) throw new CliError(`the event stream of ${ctx.api.url} ended before the preparation did; it goes on: provisioning images list`, exitCodes.unreachable);
  if (final.state === 'failed') {
    ctx.out.note(ctx.out.err.red(`preparing ${name} failed: ${final.error?.code ?? 'failed'}: ${final.error?.message ?? final.step}`));
    return exitCodes.failed;
  }
  if (!ctx.out.json) {
    ctx.out.line(ctx.out.out.green(`image ${name} is ready`));
    for (const note of final.notes) ctx.out.line(`  note: ${note}`);
  }
  return exitCodes.ok;
}

function jobText(j: ImageJobBody): string {
  const bytes = j.state === 'downloading' && j.bytes_total ? ` ${Math.floor((100 * j.bytes_done) / j.bytes_total)}% of ${bytesText(j.bytes_total)}` : '';
  return `${j.state}${j.step ? `: ${j.step}` : ''}${bytes}`;
}
