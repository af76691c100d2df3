// Image preparation as jobs: a stock Proxmox ISO downloaded from a URL or streamed up by an operator, then prepared
// for network boot (src/images/iso-preparer.ts). One job per image name at a time; progress is kept in memory and
// announced to listeners (the dashboard's image stream), so a page shows a progress bar as bytes arrive. A job that
// fails leaves nothing behind but its error; the source ISO is deleted once prepared (the image holds its own copy).
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { pipeline } from 'node:stream/promises';
import { newImageToken } from './image-token';
import type { AnswerSettings } from './image-staleness';

/** What a preparation reports as it goes. */
export interface PrepareProgress {
  step: string; // 'extracting initrd'
  bytesDone: number;
  bytesTotal: number | null;
}

/** The preparer the jobs run (iso-preparer's prepareImage, or a stand-in in tests of the job layer alone). */
export type PrepareImage = (o: {
  iso: string;
  imagesDir: string;
  name: string;
  answerUrl: string;
  certFingerprint: string | null;
  token: string; // the answer token written into a 9.2+ ISO
  sourceName: string; // the ISO's file name (from the URL or the upload), recorded in image.json
  onProgress: (p: PrepareProgress) => void;
  signal: AbortSignal;
}) => Promise<unknown>;

export type ImageJobState = 'downloading' | 'preparing' | 'ready' | 'failed';

/** One preparation, as the API and the dashboard show it. */
export interface ImageJob {
  id: string;
  name: string;
  source: string; // the URL, or "upload: proxmox-ve_9.1-1.iso"
  state: ImageJobState;
  step: string;
  bytesDone: number;
  bytesTotal: number | null;
  sha256: string | null; // of the source, once downloaded
  error: { code: string; message: string } | null;
  notes: string[]; // what the operator should know about a prepared image (e.g. an ISO older than 8.4)
  startedAt: string;
  finishedAt: string | null;
}

/** A job refused before it started: the code and message go to the client as a 4xx. */
export class ImageJobRefused extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/** A job's failure: a stable code and a message an operator can act on. */
class JobFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Prepares an existing image again for the answer URL and certificate of now (reprepareImage). */
export type ReprepareImage = (o: {
  imagesDir: string;
  name: string;
  answerUrl: string;
  certFingerprint: string | null;
  onProgress: (p: PrepareProgress) => void;
  signal: AbortSignal;
}) => Promise<unknown>;

export interface ImageJobsDeps {
  imagesDir: string;
  prepare: PrepareImage;
  reprepare?: ReprepareImage;
  answerUrl: () => string; // <public_url>/api/boot/answer (or the HTTPS one with server.tls), read when a job starts
  plainAnswerUrl?: () => string; // <server.public_url>/api/boot/answer: answers with server.tls too
  certFingerprint: () => string | null; // the boot API's HTTPS certificate, when it has one
  imageExists: (name: string) => boolean;
  onPrepared?: () => void; // a new image is in place (the library forgets its cached listing)
  downloadIdleTimeoutMs?: number; // 60 000: a download that delivers nothing for this long fails
  fetch?: typeof fetch;
  now?: () => Date;
}

const namePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const sha256Pattern = /^[0-9a-f]{64}$/;
const keepFinished = 20;

/** The image name a Proxmox ISO's file name suggests: proxmox-ve_9.1-1.iso → pve-9.1-1. */
export function nameFromIsoFileName(file: string): string | null {
  const base = file.split('/').pop() ?? '';
  const proxmox = /^proxmox-ve_(\d+\.\d+(?:-\d+)?)\.iso$/i.exec(base);
  if (proxmox) return `pve-${proxmox[1]}`;
  const stem = base.replace(/\.iso$/i, '');
  return stem !== base && namePattern.test(stem) ? stem : null;
}

/** The running and recently finished preparations of one gateway. */
export class ImageJobs {
  private readonly jobs = new Map<string, { job: ImageJob; abort: AbortController; done: Promise<void> }>();
  private readonly listeners = new Set<(job: ImageJob) => void>();

  constructor(private readonly deps: ImageJobsDeps) {}

  /** Every job, newest first. */
  list(): ImageJob[] {
    return [...this.jobs.values()].map((j) => ({ ...j.job })).reverse();
  }

  /** The newest job for image `name`. */
  forName(name: string): ImageJob | undefined {
    return this.list().find((j) => j.name === name);
  }

  /** Whether a job for `name` is downloading or preparing. */
  running(name: string): boolean {
    return this.list().some((j) => j.name === name && (j.state === 'downloading' || j.state === 'preparing'));
  }

  /** Calls `listener` on every change of a job (throttled progress); returns the unsubscribe function. */
  onChange(listener: (job: ImageJob) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts downloading `url` and preparing it as `name` (from the URL's file name when absent). */
  startDownload(o: { url: string; name?: string; sha256?: string }): ImageJob {
    let url: URL;
    try {
      url = new URL(o.url);
    } catch {
      throw new ImageJobRefused('invalid_request', `not a URL: ${JSON.stringify(o.url)}`, 'url');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ImageJobRefused('invalid_request', 'url must be http:// or https://', 'url');
    const name = this.checkName(o.name, decodeURIComponent(url.pathname));
    const sha256 = this.checkSha(o.sha256);
    const sourceName = decodeURIComponent(url.pathname).split('/').pop() || `${name}.iso`;
    return this.run(name, o.url, sourceName, sha256, async (file, job, signal) => {
      const response = await this.fetchWithIdleTimeout(url, signal);
      const length = Number(response.headers.get('content-length'));
      job.bytesTotal = Number.isFinite(length) && length > 0 ? length : null;
      return this.receive(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), file, job, signal);
    });
  }

  /**
   * Receives an uploaded ISO from `body` (the request stream) and prepares it as `name` (from `fileName` when absent).
   * Resolves once the upload is stored and checked: the preparation goes on as the returned job.
   */
  async startUpload(o: { body: Readable; name?: string; fileName?: string; sha256?: string; size?: number }): Promise<ImageJob> {
    const name = this.checkName(o.name, o.fileName ?? '');
    const sha256 = this.checkSha(o.sha256);
    let uploaded!: () => void;
    let failed!: (err: unknown) => void;
    const stored = new Promise<void>((resolve, reject) => ((uploaded = resolve), (failed = reject)));
    const sourceName = o.fileName?.split('/').pop() || `${name}.iso`;
    const job = this.run(name, `upload: ${o.fileName ?? name}`, sourceName, sha256, async (file, j, signal) => {
      j.bytesTotal = o.size ?? null;
      try {
        const digest = await this.receive(o.body, file, j, signal);
        uploaded();
        return digest;
      } catch (err) {
        failed(err);
        throw err;
      }
    });
    await stored.catch(() => undefined); // an upload that failed is a failed job, shown like any other
    return { ...this.jobs.get(job.id)!.job };
  }

  /** Where answers are served now: what a preparation started now writes into the ISO. */
  answerSettings(): AnswerSettings {
    const plain = this.deps.plainAnswerUrl?.();
    return { answerUrl: this.deps.answerUrl(), certFingerprint: this.deps.certFingerprint(), ...(plain ? { plainAnswerUrl: plain } : {}) };
  }

  /** Starts preparing image `name` again for the answer URL and certificate of now; refuses while a job runs for it. */
  startReprepare(name: string): ImageJob {
    const reprepare = this.deps.reprepare;
    if (!reprepare) throw new ImageJobRefused('not_configured', 'this gateway cannot prepare images again');
    if (this.running(name)) throw new ImageJobRefused('already_preparing', `image ${name} is being prepared already; wait for it`, 'name');
    return this.track({ name, source: `re-preparation of ${name}`, state: 'preparing', step: 'inspect' }, (_job, signal, onProgress) =>
      reprepare({ imagesDir: this.deps.imagesDir, name, answerUrl: this.deps.answerUrl(), certFingerprint: this.deps.certFingerprint(), signal, onProgress }),
    );
  }

  /** Resolves when job `id` has finished (tests; shutdown). */
  async settled(id: string): Promise<ImageJob | undefined> {
    await this.jobs.get(id)?.done;
    return this.jobs.get(id) && { ...this.jobs.get(id)!.job };
  }

  /** Aborts every running job and waits for their cleanup (server shutdown). */
  async close(): Promise<void> {
    for (const j of this.jobs.values()) j.abort.abort(new JobFailure('aborted', 'the service stopped during the preparation'));
    await Promise.all([...this.jobs.values()].map((j) => j.done));
  }

  private checkName(name: string | undefined, fromFile: string): string {
    if (name !== undefined) {
      if (!namePattern.test(name)) throw new ImageJobRefused('invalid_request', 'name: letters, digits, ".", "_" and "-", starting with a letter or digit, at most 64', 'name');
    }
    const chosen = name ?? nameFromIsoFileName(fromFile);
    if (!chosen) throw new ImageJobRefused('invalid_request', `no image name can be taken from ${JSON.stringify(fromFile.split('/').pop() ?? '')}; give one as name`, 'name');
    if (this.running(chosen)) throw new ImageJobRefused('already_preparing', `image ${chosen} is being prepared already; wait for it or pick another name`, 'name');
    if (this.deps.imageExists(chosen)) throw new ImageJobRefused('image_exists', `image ${chosen} exists already; delete it first or pick another name`, 'name');
    return chosen;
  }

  private checkSha(sha256: string | undefined): string | null {
    if (sha256 === undefined || sha256 === '') return null;
    const normal = sha256.trim().toLowerCase();
    if (!sha256Pattern.test(normal)) throw new ImageJobRefused('invalid_request', 'sha256: 64 hexadecimal digits (a line of Proxmox\u2019s SHA256SUMS)', 'sha256');
    return normal;
  }

  private run(name: string, source: string, sourceName: string, expectedSha: string | null, fetchSource: (file: string, job: ImageJob, signal: AbortSignal) => Promise<string>): ImageJob {
    const downloads = join(this.deps.imagesDir, '.downloads');
    let file = '';
    return this.track(
      { name, source, state: 'downloading', step: 'downloading' },
      async (job, signal, onProgress) => {
        file = join(downloads, `${job.id}.iso`);
        mkdirSync(downloads, { recursive: true });
        job.sha256 = await fetchSource(file, job, signal);
        if (expectedSha && job.sha256 !== expectedSha) throw new JobFailure('checksum_mismatch', `the ISO's SHA-256 is ${job.sha256}, not the ${expectedSha} given: a damaged or different download`);
        job.state = 'preparing';
        this.changed(job, true);
        return this.deps.prepare({
          iso: file,
          sourceName, // image.json records the ISO's own name, not the download's temporary one
          imagesDir: this.deps.imagesDir,
          name,
          answerUrl: this.deps.answerUrl(),
          certFingerprint: this.deps.certFingerprint(),
          token: newImageToken(), // written only into a 9.2+ ISO (older installers send none)
          signal,
          onProgress,
        });
      },
      () => file && rmSync(file, { force: true }),
    );
  }

  /**
   * Registers a job and runs `work` for it: progress reports update it, the preparer's notes land on it when it ends
   * ready, a failure is described with its code; `cleanup` runs either way. Returns the job as it starts.
   */
  private track(start: Pick<ImageJob, 'name' | 'source' | 'state' | 'step'>, work: (job: ImageJob, signal: AbortSignal, onProgress: (p: PrepareProgress) => void) => Promise<unknown>, cleanup?: () => void): ImageJob {
    const now = () => (this.deps.now ?? (() => new Date()))().toISOString();
    const job: ImageJob = { id: randomUUID(), ...start, bytesDone: 0, bytesTotal: null, sha256: null, error: null, notes: [], startedAt: now(), finishedAt: null };
    const abort = new AbortController();
    const onProgress = (p: PrepareProgress) => {
      Object.assign(job, { step: p.step, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal });
      this.changed(job);
    };
    const run = async () => {
      try {
        const prepared = await work(job, abort.signal, onProgress);
        Object.assign(job, { state: 'ready', step: 'ready', notes: (prepared as { notes?: string[] } | undefined)?.notes ?? [] });
        this.deps.onPrepared?.();
      } catch (err) {
        job.state = 'failed';
        job.error = describeFailure(err, abort.signal);
      } finally {
        cleanup?.();
        job.finishedAt = now();
        this.changed(job, true);
        this.forgetOld();
      }
    };
    this.jobs.set(job.id, { job, abort, done: Promise.resolve() });
    this.jobs.get(job.id)!.done = run();
    this.changed(job, true);
    return { ...job };
  }

  /** Streams `body` into `file`, counting and hashing; returns the SHA-256 (hex). */
  private async receive(body: Readable, file: string, job: ImageJob, signal: AbortSignal): Promise<string> {
    const hash = createHash('sha256');
    const count = new Transform({
      transform: (chunk: Buffer, _encoding, done) => {
        hash.update(chunk);
        job.bytesDone += chunk.length;
        this.changed(job);
        done(null, chunk);
      },
    });
    try {
      await pipeline(body, count, createWriteStream(file), { signal });
    } catch (err) {
      if (err instanceof JobFailure) throw err; // the idle timeout, through the download stream
      if ((err as NodeJS.ErrnoException).code === 'ENOSPC') throw new JobFailure('disk_full', `no space left in ${this.deps.imagesDir} for the ISO (${job.bytesDone} bytes written)`);
      if (signal.aborted) throw signal.reason;
      throw new JobFailure('download_failed', `the ISO could not be received after ${job.bytesDone} bytes: ${(err as Error).message}`);
    }
    if (job.bytesTotal !== null && job.bytesDone !== job.bytesTotal) {
      throw new JobFailure('download_failed', `the ISO ended after ${job.bytesDone} of ${job.bytesTotal} bytes`);
    }
    return hash.digest('hex');
  }

  /** GET `url`; fails when nothing arrives for the idle timeout (while waiting for headers or between chunks). */
  private async fetchWithIdleTimeout(url: URL, signal: AbortSignal): Promise<Response> {
    const idleMs = this.deps.downloadIdleTimeoutMs ?? 60_000;
    const idle = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => idle.abort(new JobFailure('download_timeout', `${url.host} sent nothing for ${idleMs / 1000} s; the download was given up`)), idleMs);
    };
    arm();
    signal.addEventListener('abort', () => idle.abort(signal.reason), { once: true });
    let response: Response;
    try {
      response = await (this.deps.fetch ?? fetch)(url, { signal: idle.signal, redirect: 'follow' });
    } catch (err) {
      clearTimeout(timer);
      if (idle.signal.aborted) throw idle.signal.reason;
      throw new JobFailure('download_failed', `could not download ${url.href}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`);
    }
    if (!response.ok || !response.body) {
      clearTimeout(timer);
      throw new JobFailure('download_failed', `${url.href} answered ${response.status} ${response.statusText}`.trim());
    }
    // Every chunk re-arms the timer; the end of the body clears it.
    const body = response.body;
    const watched = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        arm();
        controller.enqueue(chunk);
      },
      flush() {
        clearTimeout(timer);
      },
    });
    const stream = body.pipeThrough(watched, { signal: idle.signal });
    return new Response(stream, { status: response.status, headers: response.headers });
  }

  private lastAnnounced = new Map<string, number>();

  /** Tells listeners; progress at most every 250 ms per job, state changes always. */
  private changed(job: ImageJob, always = false): void {
    const now = Date.now();
    if (!always && now - (this.lastAnnounced.get(job.id) ?? 0) < 250) return;
    this.lastAnnounced.set(job.id, now);
    for (const listener of this.listeners) listener({ ...job });
  }

  private forgetOld(): void {
    const finished = [...this.jobs.values()].filter((j) => j.job.finishedAt !== null);
    for (const j of finished.slice(0, Math.max(0, finished.length - keepFinished))) {
      this.jobs.delete(j.job.id);
      this.lastAnnounced.delete(j.job.id);
    }
  }
}

function describeFailure(err: unknown, signal: AbortSignal): { code: string; message: string } {
  const e = (signal.aborted && !(err instanceof JobFailure) ? signal.reason : err) as { code?: unknown; message?: unknown };
  if (e instanceof JobFailure) return { code: e.code, message: e.message };
  // The preparer's own typed errors carry a string code (not_an_iso, not_auto_install_capable, tool_missing, …).
  if (typeof e?.code === 'string' && /^[a-z_]+$/.test(e.code) && typeof e.message === 'string') return { code: e.code, message: e.message };
  return { code: 'preparation_failed', message: String(e?.message ?? e) };
}
