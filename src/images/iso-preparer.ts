// Prepares a boot image from a stock Proxmox VE ISO with xorriso, zstd and gzip, as `proxmox-auto-install-assistant
// prepare-iso --fetch-from http --pxe` does (proxmox-cluster.md §3): vmlinuz, a gzip initrd.img (iPXE cannot load
// zstd) and a copy of the ISO without /boot that carries /auto-installer-mode.toml and keeps the ISO's UUID. Everything
// streams (no file is held in memory) and goes into `<imagesDir>/.preparing-<name>`, which is also the lock on the
// name; it is renamed to `<imagesDir>/<name>` only when complete and removed on any failure or cancel.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants as fsConstants, createReadStream, createWriteStream, readFileSync, statSync } from 'node:fs';
import { chmod, copyFile, link, mkdir, open, readFile, rename, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, delimiter, join, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parse, stringify } from 'smol-toml';
import { DomainError } from '../domain/errors';
import { imageMetadataFile, imageMetadataJson, isImageName, parseImageMetadata, type ImageMetadata } from './image-library';
import { imageTokenSha256 } from './image-token';
import { catArgs, compareReleases, extractArgs, inspectArgs, parseCdInfo, parseListing, remapArgs, rewriteArgs, type CdInfo, type IsoListing } from './xorriso';

/** The steps of a preparation, in the order they start; checksum, kernel, initrd and iso overlap. */
export type PrepareStep = 'inspect' | 'checksum' | 'kernel' | 'initrd' | 'iso' | 'finish';

/** One progress report: how far `step` is (bytesTotal of `iso` is an estimate until the step ends). */
export interface PrepareProgress {
  step: PrepareStep;
  bytesDone: number;
  bytesTotal: number;
}

export type ImagePreparationErrorCode =
  | 'invalid_input' // a bad option: name, answer URL, fingerprint, token, checksum
  | 'source_not_found'
  | 'not_an_iso'
  | 'not_proxmox'
  | 'not_auto_install_capable' // a Proxmox VE ISO older than 8.2
  | 'checksum_mismatch'
  | 'name_taken'
  | 'already_preparing'
  | 'disk_full'
  | 'tool_missing'
  | 'tool_failed'
  | 'aborted';

/** Thrown when an image cannot be prepared; nothing of it is left behind. The message says why and what to do. */
export class ImagePreparationError extends DomainError {
  brokenPipe = false; // a tool that failed only because the one it wrote to had stopped reading

  constructor(
    readonly code: ImagePreparationErrorCode,
    message: string,
    field?: string,
  ) {
    super(message, field);
  }
}

export type ToolName = 'xorriso' | 'zstd' | 'gzip';

export interface PrepareImageOptions {
  iso: string; // path of the stock ISO: downloads/proxmox-ve_9.1-1.iso
  imagesDir: string; // images.dir
  name?: string | null; // default from /.cd-info: <product>-<release>-<isorelease>, e.g. pve-9.1-1
  answerUrl: string; // <server.public_url>/api/boot/answer
  certFingerprint?: string | null; // SHA-256 of the answer server's TLS certificate (https answer URLs only)
  token?: string | null; // name:secret, sent by 9.2+ installers as "Authorization: Bearer name:secret"; image.json keeps its SHA-256
  expectedSha256?: string | null; // the published checksum of the ISO; a mismatch fails the preparation
  sourceName?: string | null; // the name recorded for the source (an upload's or download's); default the file's own name
  onProgress?: (progress: PrepareProgress) => void;
  signal?: AbortSignal;
  tools?: Partial<Record<ToolName, string>>; // command names (looked up in PATH) or paths; default the names
  now?: () => Date;
}

export interface PreparedImage {
  name: string;
  dir: string; // <imagesDir>/<name>
  metadata: ImageMetadata;
  notes: string[]; // what the operator should know, e.g. a token not written because the ISO is older than 9.2
}

const debianPackage: Record<ToolName, string> = { xorriso: 'xorriso', zstd: 'zstd', gzip: 'gzip' };
const kernelFile = 'vmlinuz';
const initrdFile = 'initrd.img';
const modeFile = 'auto-installer-mode.toml';
const ownerFile = '.owner.json';
const lockPrefix = '.preparing-';
const MB = 1024 * 1024;

/** Preparations running in this process, by lock folder (a lock naming our own pid is stale unless listed here). */
const running = new Set<string>();

/**
 * Prepares the boot image `<imagesDir>/<name>` from a stock Proxmox VE ISO and returns what it recorded. Throws
 * ImagePreparationError; on any failure or abort the temporary folder is removed and no image appears.
 */
export async function prepareImage(options: PrepareImageOptions): Promise<PreparedImage> {
  const input = checkOptions(options);
  const tools = findTools(options.tools ?? {});
  const iso = resolve(options.iso);
  const imagesDir = resolve(options.imagesDir);
  const sourceName = options.sourceName ?? basename(iso);
  const signal = options.signal;
  const progress = progressReporter(options.onProgress);
  throwIfAborted(signal, sourceName);

  const sourceSize = await sourceFileSize(iso);
  await checkIsoSignature(iso, sourceName, sourceSize);
  progress('inspect', 0).update(0);
  const { listing, cdInfo } = await inspectIso(tools.xorriso, iso, sourceName, signal);
  const name = input.name ?? defaultName(cdInfo);
  const isoFile = preparedIsoName(cdInfo, name);
  const notes: string[] = [];
  // Only a 9.2+ installer sends a token; an older one would not read it, so it is left out (and nothing checked).
  const token = input.token !== undefined && !tokenSupported(cdInfo) ? undefined : input.token;
  if (cdInfo.release !== null && compareReleases(cdInfo.release, '8.4') < 0) {
    // proxmox.md §1.6: 8.2 reads snake_case keys only and has no hashed root password; 8.3 mixes the spellings.
    notes.push(`${describe(cdInfo)} installs, but its installer rejects the answer files this service writes (kebab-case keys of Proxmox VE 8.4 and newer): use an 8.4 or newer ISO`);
  }
  if (input.answerUrl.startsWith('https:') && input.certFingerprint === undefined) {
    notes.push('the answer URL is https without a certificate fingerprint: the installer then trusts only the system CAs, so a self-signed certificate fails');
  }

  await mkdir(imagesDir, { recursive: true });
  const target = join(imagesDir, name);
  await refuseTaken(target, name, imagesDir);
  const work = join(imagesDir, `${lockPrefix}${name}`);
  await lock(work, name).catch((err: unknown) => {
    throw asPreparationError(err, sourceName, imagesDir);
  });
  try {
    await checkFreeSpace(imagesDir, sourceSize);
    const mode = renderModeFile({ answerUrl: input.answerUrl, certFingerprint: input.certFingerprint, token });
    await writeFile(join(work, modeFile), mode, { mode: 0o600 });
    const sha256 = await runTogether(signal, sourceName, imagesDir, [
      (s) => checksum(iso, sourceName, sourceSize, input.expectedSha256, s, progress('checksum', sourceSize)),
      (s) => extractKernel(tools.xorriso, iso, work, listing, s, progress('kernel', listing.files.get('/boot/linux26')!)),
      (s) => recompressInitrd(tools, iso, work, s, progress('initrd', listing.files.get('/boot/initrd.img')!)),
      (s) => rewriteIso(tools.xorriso, iso, work, isoFile, listing, s, progress('iso', estimatedIsoSize(sourceSize, listing))),
    ]).then(([digest]) => digest as string);
    throwIfAborted(signal, sourceName);
    const finish = progress('finish', 0);
    const metadata: ImageMetadata = {
      product: cdInfo.product,
      productLong: cdInfo.productLong,
      release: cdInfo.release,
      isorelease: cdInfo.isorelease,
      isoUuid: listing.uuid,
      source: { file: sourceName, size: sourceSize, sha256 },
      preparedAt: (options.now ?? (() => new Date()))().toISOString(),
      answerUrl: input.answerUrl,
      certFingerprint: input.certFingerprint ?? null,
      tokenSha256: token === undefined ? null : imageTokenSha256(token),
      files: { kernel: kernelFile, initrd: initrdFile, iso: isoFile },
    };
    await rm(join(work, modeFile)); // it may hold the token; the ISO has its copy
    await writeFile(join(work, imageMetadataFile), imageMetadataJson(metadata), { mode: 0o644 });
    await Promise.all([kernelFile, initrdFile, isoFile, imageMetadataFile].map((f) => chmod(join(work, f), 0o644).then(() => syncFile(join(work, f)))));
    await refuseTaken(target, name, imagesDir);
    throwIfAborted(signal, sourceName);
    await rm(join(work, ownerFile));
    await rename(work, target);
    running.delete(work);
    await syncFile(imagesDir);
    finish.done(0);
    return { name, dir: target, metadata, notes };
  } catch (err) {
    running.delete(work);
    await rm(work, { recursive: true, force: true });
    throw asPreparationError(err, sourceName, imagesDir);
  }
}

export interface ReprepareImageOptions {
  imagesDir: string;
  name: string; // an image prepareImage made (it has image.json)
  answerUrl: string; // the answer URL now
  certFingerprint?: string | null; // the HTTPS certificate now
  onProgress?: (progress: PrepareProgress) => void;
  signal?: AbortSignal;
  tools?: Partial<Record<ToolName, string>>;
  now?: () => Date;
}

/**
 * Prepares image `name` again for a new answer URL or certificate, from its own prepared ISO (the stock ISO is not
 * kept, and not needed): a copy of the ISO with a new `/auto-installer-mode.toml` keeping its UUID and its answer token
 * (hosts booted from the old copy send that token), the same kernel and initrd. Built beside the image and swapped in
 * when complete; on failure the image stays as it was.
 */
export async function reprepareImage(options: ReprepareImageOptions): Promise<PreparedImage> {
  const { name } = options;
  const imagesDir = resolve(options.imagesDir);
  const target = join(imagesDir, name);
  if (!isImageName(name)) throw new ImagePreparationError('invalid_input', `not an image name: ${JSON.stringify(name)}`, 'name');
  const old = await readFile(join(target, imageMetadataFile), 'utf8').then(parseImageMetadata, () => null);
  if (!old) {
    const exists = await stat(target).then(() => true, () => false);
    throw exists
      ? new ImagePreparationError('invalid_input', `image ${name} was not prepared by this service (it has no ${imageMetadataFile}): prepare it again from its ISO`, 'name')
      : new ImagePreparationError('source_not_found', `no image ${name} in ${imagesDir}`, 'name');
  }
  const input = checkOptions({ iso: '', imagesDir, answerUrl: options.answerUrl, certFingerprint: options.certFingerprint ?? null });
  const tools = findTools(options.tools ?? {});
  const signal = options.signal;
  const progress = progressReporter(options.onProgress);
  const oldIso = join(target, old.files.iso);
  const work = join(imagesDir, `${lockPrefix}${name}`);
  await lock(work, name).catch((err: unknown) => {
    throw asPreparationError(err, name, imagesDir);
  });
  try {
    progress('inspect', 0).update(0);
    const modeText = await runCaptured(tools.xorriso, catArgs(oldIso, `/${modeFile}`), signal).catch(() => '');
    const oldToken = (() => {
      try {
        const token = (parse(modeText) as { http?: { token?: unknown } }).http?.token;
        return typeof token === 'string' ? token : undefined;
      } catch {
        return undefined;
      }
    })();
    const isoSize = (await stat(oldIso)).size;
    await checkFreeSpace(imagesDir, isoSize);
    await writeFile(join(work, modeFile), renderModeFile({ answerUrl: input.answerUrl, certFingerprint: input.certFingerprint, token: oldToken }), { mode: 0o600 });
    const report = progress('iso', isoSize);
    const copy = join(work, old.files.iso);
    const poll = setInterval(() => {
      stat(copy).then((st) => report.update(st.size), () => undefined);
    }, 500);
    try {
      await runCaptured(tools.xorriso, remapArgs(oldIso, copy, old.isoUuid, [[join(work, modeFile), `/${modeFile}`]]), signal).catch(async (err: unknown) => {
        throw await diskFullOr(err, imagesDir);
      });
    } finally {
      clearInterval(poll);
    }
    report.done((await stat(copy)).size);
    throwIfAborted(signal, name);
    const finish = progress('finish', 0);
    for (const f of [old.files.kernel, old.files.initrd]) await link(join(target, f), join(work, f)).catch(() => copyFile(join(target, f), join(work, f)));
    const metadata: ImageMetadata = {
      ...old,
      preparedAt: (options.now ?? (() => new Date()))().toISOString(),
      answerUrl: input.answerUrl,
      certFingerprint: input.certFingerprint ?? null,
      tokenSha256: oldToken === undefined ? null : imageTokenSha256(oldToken),
    };
    await rm(join(work, modeFile));
    await writeFile(join(work, imageMetadataFile), imageMetadataJson(metadata), { mode: 0o644 });
    await Promise.all([old.files.iso, imageMetadataFile].map((f) => chmod(join(work, f), 0o644).then(() => syncFile(join(work, f)))));
    throwIfAborted(signal, name);
    await rm(join(work, ownerFile));
    // Two renames: the old image out of sight (hosts downloading it keep their open file), the new one in.
    const replaced = join(imagesDir, `.replaced-${name}-${randomBytes(4).toString('hex')}`);
    await rename(target, replaced);
    await rename(work, target).catch(async (err: unknown) => {
      await rename(replaced, target);
      throw err;
    });
    running.delete(work);
    await syncFile(imagesDir);
    await rm(replaced, { recursive: true, force: true });
    finish.done(0);
    return { name, dir: target, metadata, notes: [] };
  } catch (err) {
    running.delete(work);
    await rm(work, { recursive: true, force: true });
    throw asPreparationError(err, name, imagesDir);
  }
}

/** Renders `/auto-installer-mode.toml` for the http fetch mode (proxmox-cluster.md §3; partition_label has a default). */
export function renderModeFile(http: { answerUrl: string; certFingerprint?: string | undefined; token?: string | undefined }): string {
  const section: Record<string, string> = { url: http.answerUrl };
  if (http.certFingerprint !== undefined) section.cert_fingerprint = http.certFingerprint;
  if (http.token !== undefined) section.token = http.token;
  return stringify({ mode: 'http', http: section });
}

// --- input ---------------------------------------------------------------------------------------------------------

function checkOptions(o: PrepareImageOptions): { name?: string; answerUrl: string; certFingerprint?: string; token?: string; expectedSha256?: string } {
  const invalid = (field: string, message: string) => new ImagePreparationError('invalid_input', message, field);
  const name = o.name ?? undefined;
  if (name !== undefined && !isImageName(name)) {
    throw invalid('name', `an image name is a letter or digit, then letters, digits, ".", "_" or "-" (64 at most), got ${JSON.stringify(o.name)}`);
  }
  let url: URL;
  try {
    url = new URL(o.answerUrl);
  } catch {
    throw invalid('answer_url', `the answer URL must be an http:// or https:// URL, got ${JSON.stringify(o.answerUrl)}`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || /\s/.test(o.answerUrl)) {
    throw invalid('answer_url', `the answer URL must be an http:// or https:// URL, got ${JSON.stringify(o.answerUrl)}`);
  }
  const fp = o.certFingerprint ?? undefined;
  const token = o.token ?? undefined;
  if (fp !== undefined && !/^(([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}|[0-9A-Fa-f]{64})$/.test(fp)) {
    throw invalid('cert_fingerprint', `expected a SHA-256 certificate fingerprint (32 hex pairs, colons optional), got ${JSON.stringify(fp)}`);
  }
  if (fp !== undefined && url.protocol !== 'https:') throw invalid('cert_fingerprint', 'a certificate fingerprint applies only to an https:// answer URL');
  if (token !== undefined && (token === '' || /[\u0000-\u001f\u007f\s]/.test(token))) {
    throw invalid('token', 'the token must be non-empty, without spaces or control characters (name:secret)');
  }
  const sha = o.expectedSha256?.toLowerCase();
  if (sha !== undefined && !/^[0-9a-f]{64}$/.test(sha)) throw invalid('sha256', `expected a SHA-256 checksum of 64 hex digits, got ${JSON.stringify(o.expectedSha256)}`);
  return {
    ...(name === undefined ? {} : { name }),
    answerUrl: o.answerUrl,
    ...(fp === undefined ? {} : { certFingerprint: fp }),
    ...(token === undefined ? {} : { token }),
    ...(sha === undefined ? {} : { expectedSha256: sha }),
  };
}

/** Resolves each tool in PATH up front, so a missing one is named before any work starts. */
function findTools(wanted: Partial<Record<ToolName, string>>): Record<ToolName, string> {
  const found = {} as Record<ToolName, string>;
  for (const tool of Object.keys(debianPackage) as ToolName[]) {
    const command = wanted[tool] ?? tool;
    const candidates = command.includes('/') ? [command] : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, command));
    const path = candidates.find((c) => {
      try {
        accessSync(c, fsConstants.X_OK);
        return statSync(c).isFile();
      } catch {
        return false;
      }
    });
    if (!path) {
      throw new ImagePreparationError('tool_missing', `${command} is not installed (or not on PATH); it comes with the Debian package ${debianPackage[tool]}: apt-get install ${debianPackage[tool]}`);
    }
    found[tool] = path;
  }
  return found;
}

async function sourceFileSize(iso: string): Promise<number> {
  try {
    const s = await stat(iso);
    if (!s.isFile()) throw new ImagePreparationError('not_an_iso', `${iso} is not a file`, 'iso');
    return s.size;
  } catch (err) {
    if (err instanceof ImagePreparationError) throw err;
    throw new ImagePreparationError('source_not_found', `${iso}: no such file (${(err as NodeJS.ErrnoException).code ?? String(err)})`, 'iso');
  }
}

/** An ISO 9660 image has a volume descriptor "CD001" at byte 32769 (sector 16); xorriso reads anything else as empty. */
async function checkIsoSignature(iso: string, sourceName: string, size: number): Promise<void> {
  const notIso = new ImagePreparationError('not_an_iso', `${sourceName} is not an ISO image (no ISO 9660 volume descriptor at sector 16)`, 'iso');
  if (size < 32 * 1024 + 6) throw notIso;
  const fd = await open(iso, 'r');
  try {
    const buf = Buffer.alloc(5);
    await fd.read(buf, 0, 5, 32 * 1024 + 1);
    if (buf.toString('latin1') !== 'CD001') throw notIso;
  } finally {
    await fd.close();
  }
}

async function inspectIso(xorriso: string, iso: string, sourceName: string, signal: AbortSignal | undefined): Promise<{ listing: IsoListing; cdInfo: CdInfo }> {
  let listing: IsoListing;
  try {
    listing = parseListing(await runCaptured(xorriso, inspectArgs(iso), signal));
  } catch (err) {
    if (err instanceof ImagePreparationError && err.code === 'tool_failed') {
      throw new ImagePreparationError('not_an_iso', `${sourceName} is not a readable ISO image: ${err.message}`, 'iso');
    }
    throw err;
  }
  const notProxmox = (why: string) => new ImagePreparationError('not_proxmox', `${sourceName} is not a Proxmox VE installer ISO (${why})`, 'iso');
  if (!listing.files.has('/.cd-info')) throw notProxmox('it has no /.cd-info');
  const cdInfo = parseCdInfo(await runCaptured(xorriso, catArgs(iso, '/.cd-info'), signal));
  if (!cdInfo) throw notProxmox('its /.cd-info names no PRODUCT');
  if (cdInfo.product !== 'pve') throw notProxmox(`it is ${cdInfo.productLong ?? cdInfo.product} (PRODUCT='${cdInfo.product}')`);
  if (!listing.files.has('/auto-installer-capable')) {
    throw new ImagePreparationError('not_auto_install_capable', `${sourceName} is ${describe(cdInfo)}, which cannot install unattended (no /auto-installer-capable): Proxmox VE 8.2 or newer is needed`, 'iso');
  }
  for (const file of ['/boot/linux26', '/boot/initrd.img']) {
    if (!listing.files.has(file)) throw notProxmox(`it has no ${file}`);
  }
  return { listing, cdInfo };
}

function describe(cd: CdInfo): string {
  return `${cd.productLong ?? 'Proxmox VE'} ${cd.release ?? '(release unknown)'}${cd.isorelease ? `-${cd.isorelease}` : ''}`;
}

function tokenSupported(cd: CdInfo): boolean {
  return cd.release !== null && compareReleases(cd.release, '9.2') >= 0;
}

function defaultName(cd: CdInfo): string {
  const name = [cd.product, cd.release, cd.isorelease].filter(Boolean).join('-');
  if (!isImageName(name)) throw new ImagePreparationError('invalid_input', `cannot make an image name from the ISO's /.cd-info (${JSON.stringify(name)}); give a name`, 'name');
  return name;
}

/** `proxmox-ve_9.1-1-auto-from-http.iso`, the assistant's name for the same ISO. */
function preparedIsoName(cd: CdInfo, name: string): string {
  const stem = cd.isoname && cd.release && cd.isorelease ? `${cd.isoname}_${cd.release}-${cd.isorelease}` : name;
  return /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(stem) ? `${stem}-auto-from-http.iso` : `${name}-auto-from-http.iso`;
}

function estimatedIsoSize(sourceSize: number, listing: IsoListing): number {
  const boot = [...listing.files].filter(([path]) => path.startsWith('/boot/')).reduce((sum, [, size]) => sum + size, 0);
  return Math.max(0, sourceSize - boot);
}

// --- the name and its lock ----------------------------------------------------------------------------------------

async function refuseTaken(target: string, name: string, imagesDir: string): Promise<void> {
  const exists = await stat(target).then(
    () => true,
    () => false,
  );
  if (exists) throw new ImagePreparationError('name_taken', `an image named ${name} exists already in ${imagesDir}; remove it first or choose another name`, 'name');
}

interface LockOwner {
  pid: number;
  start: string | null; // the process's start time in clock ticks since boot (/proc/<pid>/stat field 22)
  host: string;
  since: string;
}

/** Takes the name: `mkdir` of the temporary folder is atomic, so exactly one preparation of a name runs at a time. */
async function lock(work: string, name: string): Promise<void> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await mkdir(work);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = await readOwner(work);
      if (!(await isStale(work, owner))) {
        const by = owner ? ` by process ${owner.pid} on ${owner.host} since ${owner.since}` : '';
        throw new ImagePreparationError('already_preparing', `image ${name} is being prepared already${by}; wait for it to finish, or remove ${work} if no preparation runs`, 'name');
      }
      // Renamed away first, so two processes finding the same stale lock do not both remove it.
      const stale = `${work}.stale-${randomBytes(4).toString('hex')}`;
      await rename(work, stale).catch(() => undefined);
      await rm(stale, { recursive: true, force: true });
      continue;
    }
    running.add(work);
    const owner: LockOwner = { pid: process.pid, start: processStart(process.pid), host: hostname(), since: new Date().toISOString() };
    try {
      await writeFile(join(work, ownerFile), JSON.stringify(owner));
    } catch (err) {
      running.delete(work);
      await rm(work, { recursive: true, force: true });
      throw err;
    }
    return;
  }
  throw new ImagePreparationError('already_preparing', `image ${name} is being prepared already; wait for it to finish, or remove ${work} if no preparation runs`, 'name');
}

async function readOwner(work: string): Promise<LockOwner | null> {
  try {
    return JSON.parse(await readFile(join(work, ownerFile), 'utf8')) as LockOwner;
  } catch {
    return null;
  }
}

/** A lock is stale when the process that took it is gone (a crash, a kill, a restarted container). */
async function isStale(work: string, owner: LockOwner | null): Promise<boolean> {
  if (!owner) {
    // taken a moment ago and its owner file not yet written, or left by a crash in that moment
    const age = await stat(work).then((s) => Date.now() - s.mtimeMs, () => 0);
    return age > 60_000;
  }
  if (owner.host !== hostname()) return false; // another machine sharing the folder: we cannot tell
  if (owner.pid === process.pid) return !running.has(work) || processStart(process.pid) !== owner.start;
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return true;
  }
  const start = processStart(owner.pid);
  return start !== null && owner.start !== null && start !== owner.start; // the pid now belongs to another process
}

function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

async function checkFreeSpace(imagesDir: string, sourceSize: number): Promise<void> {
  const fs = await statfs(imagesDir);
  const free = fs.bavail * fs.bsize;
  if (free < sourceSize) {
    throw new ImagePreparationError('disk_full', `not enough free space in ${imagesDir}: ${Math.floor(free / MB)} MB free, the image needs about ${Math.ceil(sourceSize / MB)} MB`);
  }
}

// --- the work --------------------------------------------------------------------------------------------------------

type Task = (signal: AbortSignal) => Promise<unknown>;

/**
 * Runs the tasks at once; the first to fail cancels the others, and its error (not theirs) is thrown once every one has
 * stopped, so no child process still writes into the folder that is removed next.
 */
async function runTogether(outer: AbortSignal | undefined, sourceName: string, imagesDir: string, tasks: Task[]): Promise<unknown[]> {
  const inner = new AbortController();
  const cancel = () => inner.abort(outer?.reason);
  outer?.addEventListener('abort', cancel, { once: true });
  let first: unknown;
  try {
    const settled = await Promise.allSettled(
      tasks.map((task) =>
        task(inner.signal).catch((err: unknown) => {
          if (first === undefined && !inner.signal.aborted) first = err;
          inner.abort(err);
          throw err;
        }),
      ),
    );
    if (outer?.aborted) throw abortedError(sourceName);
    if (first !== undefined) throw await diskFullOr(first, imagesDir);
    return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value);
  } finally {
    outer?.removeEventListener('abort', cancel);
  }
}

/** The source's SHA-256, read once alongside the other steps; a mismatch with `expected` cancels them at once. */
async function checksum(iso: string, sourceName: string, size: number, expected: string | undefined, signal: AbortSignal, report: Reporter): Promise<string> {
  const hash = createHash('sha256');
  let done = 0;
  for await (const chunk of createReadStream(iso, { highWaterMark: MB, signal })) {
    hash.update(chunk as Buffer);
    done += (chunk as Buffer).length;
    report.update(done);
  }
  report.done(size);
  const sha256 = hash.digest('hex');
  if (expected !== undefined && sha256 !== expected) {
    throw new ImagePreparationError('checksum_mismatch', `${sourceName} has SHA-256 ${sha256}, expected ${expected}: the file is damaged or not the one meant`, 'sha256');
  }
  return sha256;
}

async function extractKernel(xorriso: string, iso: string, work: string, listing: IsoListing, signal: AbortSignal, report: Reporter): Promise<void> {
  report.update(0);
  await runCaptured(xorriso, extractArgs(iso, [['/boot/linux26', join(work, kernelFile)]]), signal);
  report.done(listing.files.get('/boot/linux26')!);
}

/** xorriso → zstd -d → gzip → initrd.img, through pipes: the initrd is never whole in memory nor on disk as zstd. */
async function recompressInitrd(tools: Record<ToolName, string>, iso: string, work: string, signal: AbortSignal, report: Reporter): Promise<void> {
  const stdio: StdioOptions = ['pipe', 'pipe', 'pipe'];
  const cat = startTool(tools.xorriso, catArgs(iso, '/boot/initrd.img'), signal, ['ignore', 'pipe', 'pipe']);
  const unzstd = startTool(tools.zstd, ['-d', '-c', '-q'], signal, stdio);
  const gzip = startTool(tools.gzip, ['-c', '-n'], signal, stdio);
  let done = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, next) {
      done += chunk.length;
      report.update(done);
      next(null, chunk);
    },
  });
  const out = createWriteStream(join(work, initrdFile), { flags: 'wx' });
  const results = await Promise.allSettled([
    cat.done,
    unzstd.done,
    gzip.done,
    pipeline(cat.child.stdout!, count, unzstd.child.stdin!),
    pipeline(unzstd.child.stdout!, gzip.child.stdin!),
    pipeline(gzip.child.stdout!, out),
  ]);
  // The most telling error: a full disk, else the first tool in the chain that failed on its own (the ones after it
  // see a truncated stream, the ones before it a broken pipe), else a stream error.
  const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (errors.length === 0) return report.done(done);
  const full = errors.find((e) => (e as NodeJS.ErrnoException).code === 'ENOSPC');
  const failed = errors.filter((e) => e instanceof ImagePreparationError);
  throw full ?? failed.find((e) => !e.brokenPipe) ?? failed[0] ?? errors[0];
}

async function rewriteIso(xorriso: string, iso: string, work: string, isoFile: string, listing: IsoListing, signal: AbortSignal, report: Reporter): Promise<void> {
  const target = join(work, isoFile);
  const poll = setInterval(() => {
    stat(target).then((s) => report.update(s.size), () => undefined);
  }, 500);
  try {
    await runCaptured(xorriso, rewriteArgs(iso, target, listing.uuid, [[join(work, modeFile), `/${modeFile}`]]), signal);
  } finally {
    clearInterval(poll);
  }
  report.done((await stat(target)).size);
}

// --- child processes -------------------------------------------------------------------------------------------------

interface RunningTool {
  child: ChildProcess;
  done: Promise<void>; // resolves on exit 0; rejects with tool_failed (its stderr's tail) or aborted
}

function startTool(path: string, args: string[], signal: AbortSignal, stdio: StdioOptions): RunningTool {
  const tool = basename(path);
  const child = spawn(path, args, { stdio });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr = (stderr + text).slice(-4000);
  });
  // SIGKILL: xorriso takes seconds to end on SIGTERM, and everything it writes is thrown away anyway.
  const kill = () => child.kill('SIGKILL');
  signal.addEventListener('abort', kill, { once: true });
  const done = new Promise<void>((resolveDone, reject) => {
    child.once('error', (err) => reject(new ImagePreparationError('tool_failed', `${tool} could not be started: ${err.message}`)));
    child.once('close', (code, sig) => {
      signal.removeEventListener('abort', kill);
      if (code === 0) return resolveDone();
      if (signal.aborted) return reject(new ImagePreparationError('aborted', `${tool} stopped: the preparation was cancelled`));
      const how = sig ? `was killed by ${sig}` : `exited with status ${code}`;
      const failed = new ImagePreparationError('tool_failed', `${tool} ${how}: ${stderrTail(stderr) || 'no message'}`);
      failed.brokenPipe = sig === 'SIGPIPE' || /broken pipe/i.test(stderr);
      reject(failed);
    });
  });
  if (signal.aborted) kill();
  return { child, done };
}

/** Runs a tool to its end and returns what it printed on standard output (small outputs only: listings, /.cd-info). */
async function runCaptured(path: string, args: string[], signal: AbortSignal | undefined): Promise<string> {
  const tool = startTool(path, args, signal ?? new AbortController().signal, ['ignore', 'pipe', 'pipe']);
  let stdout = '';
  tool.child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    stdout += text;
  });
  await tool.done;
  return stdout;
}

/** The last lines of a tool's stderr that say something (xorriso's banner and NOTE lines do not). */
function stderrTail(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^xorriso [\d.]+ :/.test(l) && !/: (NOTE|UPDATE|HINT) :/.test(l) && !/^(Drive|Media|Boot record|Volume id)/.test(l));
  return lines.slice(-3).join(' / ').slice(-600);
}

// --- errors and progress ---------------------------------------------------------------------------------------------

function abortedError(sourceName: string): ImagePreparationError {
  return new ImagePreparationError('aborted', `the preparation of ${sourceName} was cancelled; nothing was kept`);
}

function throwIfAborted(signal: AbortSignal | undefined, sourceName: string): void {
  if (signal?.aborted) throw abortedError(sourceName);
}

/** A write that failed for want of space is `disk_full`, whether our own write said ENOSPC or a tool's did. */
async function diskFullOr(err: unknown, imagesDir: string): Promise<unknown> {
  const message = err instanceof Error ? err.message : String(err);
  const noSpace =
    (err as NodeJS.ErrnoException).code === 'ENOSPC' ||
    /No space left on device|exceeds free space on media/i.test(message) ||
    (err instanceof ImagePreparationError && err.code === 'tool_failed' && (await freeBytes(imagesDir)) < MB);
  if (noSpace) return new ImagePreparationError('disk_full', `no space left in ${imagesDir} while preparing the image (${message}); free some space and try again`);
  return err;
}

async function freeBytes(dir: string): Promise<number> {
  const fs = await statfs(dir).catch(() => null);
  return fs ? fs.bavail * fs.bsize : Number.POSITIVE_INFINITY;
}

function asPreparationError(err: unknown, sourceName: string, imagesDir: string): ImagePreparationError {
  if (err instanceof ImagePreparationError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e?.name === 'AbortError') return abortedError(sourceName);
  if (e?.code === 'ENOSPC') return new ImagePreparationError('disk_full', `no space left in ${imagesDir} while preparing the image; free some space and try again`);
  return new ImagePreparationError('tool_failed', `preparing the image failed: ${e?.message ?? String(err)}`);
}

async function syncFile(path: string): Promise<void> {
  const fd = await open(path, 'r');
  try {
    await fd.sync();
  } finally {
    await fd.close();
  }
}

interface Reporter {
  update(bytesDone: number): void;
  done(bytesTotal: number): void;
}

/** Progress per step, at most four reports a second, plus the last one (bytesDone = bytesTotal) of each step. */
function progressReporter(onProgress: PrepareImageOptions['onProgress']): (step: PrepareStep, total: number) => Reporter {
  return (step, total) => {
    let last = 0;
    return {
      update(bytesDone) {
        const now = Date.now();
        if (!onProgress || now - last < 250) return;
        last = now;
        onProgress({ step, bytesDone, bytesTotal: Math.max(total, bytesDone) });
      },
      done(bytesTotal) {
        onProgress?.({ step, bytesDone: bytesTotal, bytesTotal });
      },
    };
  };
}
