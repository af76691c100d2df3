// The service as an earlier commit built it, for the upgrade test: `UPGRADE_FROM` (any git rev, default HEAD~1)
// exported with `git archive` and built once into .cache/upgrade/<sha>/. The build happens in a sibling folder that
// is renamed into place only when complete, so an interrupted build leaves nothing that looks finished.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';

export interface PreviousVersion {
  rev: string; // as given: HEAD~1, v0.3.0, 5033f2c
  sha: string; // full commit id
  short: string;
  subject: string;
}

export interface PreviousBuild extends PreviousVersion {
  dir: string; // .cache/upgrade/<sha>
  entry: string; // <dir>/dist/src/main.js
  nodeModules: 'linked' | 'installed'; // the current node_modules, or `npm ci` of the old lock file
  builtNow: boolean; // false: taken from the cache
  seconds: number; // time spent in buildPreviousVersion
  installSeconds: number; // of that, in `npm ci` (0 when linked or cached)
}

const root = resolve('.');
const cacheRoot = join(root, '.cache');
const upgradeCache = join(cacheRoot, 'upgrade');

function git(args: string[]): { ok: boolean; out: string; err: string } {
  const r = spawnSync('git', args, { cwd: root, encoding: 'utf8' });
  return { ok: r.status === 0, out: (r.stdout ?? '').trim(), err: (r.stderr ?? '').trim() || String(r.error ?? '') };
}

/** Resolves `rev` (default `UPGRADE_FROM`, else HEAD~1) to a commit; throws saying how to get one when it cannot. */
export function resolvePreviousVersion(rev = process.env.UPGRADE_FROM || 'HEAD~1'): PreviousVersion {
  const commit = git(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`]);
  if (!commit.ok) {
    const shallow = git(['rev-parse', '--is-shallow-repository']).out === 'true';
    throw new Error(
      `upgrade test: ${rev} (UPGRADE_FROM, default HEAD~1) is not a commit in this clone` +
        (shallow ? ' (it is a shallow clone)' : '') +
        '; clone with full history (git fetch --unshallow) or set UPGRADE_FROM to a commit or tag that is present',
    );
  }
  const sha = commit.out;
  return { rev, sha, short: sha.slice(0, 7), subject: git(['log', '-1', '--format=%s', sha]).out };
}

/** Runs `command` in `cwd`; rejects with its output when it fails. */
function run(command: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const output: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => output.push(b));
    child.stderr.on('data', (b: Buffer) => output.push(b));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolveRun();
      else reject(new Error(`${command} ${args.join(' ')} (in ${cwd}) failed with ${code ?? signal}:\n${Buffer.concat(output).toString().slice(-4000)}`));
    });
  });
}

/** `git archive <sha> | tar -x -C <dir>`, failing if either side does; nested ESLint configs are left out (see below). */
function extract(sha: string, dir: string): Promise<void> {
  return new Promise((resolveExtract, reject) => {
    const archive = spawn('git', ['archive', '--format=tar', sha], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    const tar = spawn('tar', ['-x', '-C', dir], { stdio: ['pipe', 'ignore', 'pipe'] });
    archive.stdout.pipe(tar.stdin);
    const errors: string[] = [];
    archive.stderr.on('data', (b: Buffer) => errors.push(b.toString()));
    tar.stderr.on('data', (b: Buffer) => errors.push(b.toString()));
    const exits = [archive, tar].map((p) => new Promise<number | null>((r) => p.once('exit', (code) => r(code))));
    void Promise.all(exits).then(([a, t]) => (a === 0 && t === 0 ? resolveExtract() : reject(new Error(`git archive ${sha} | tar -x failed: ${errors.join('')}`))));
  });
}

function sameDependencies(dir: string): boolean {
  const manifest = (d: string) => JSON.parse(readFileSync(join(d, 'package.json'), 'utf8')) as { dependencies?: unknown; devDependencies?: unknown };
  const lock = (d: string) => (existsSync(join(d, 'package-lock.json')) ? readFileSync(join(d, 'package-lock.json'), 'utf8') : null);
  const [old, now] = [manifest(dir), manifest(root)];
  return isDeepStrictEqual(old.dependencies, now.dependencies) && isDeepStrictEqual(old.devDependencies, now.devDependencies) && lock(dir) !== null && lock(dir) === lock(root);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes build folders left by a test process that no longer runs (killed mid-build). */
function removeAbandonedBuilds(): void {
  for (const name of readdirSync(upgradeCache)) {
    const pid = /^\.building-[0-9a-f]+-(\d+)-/.exec(name)?.[1];
    if (pid && !alive(Number(pid))) rmSync(join(upgradeCache, name), { recursive: true, force: true });
  }
}

/**
 * The built service of `version`: from .cache/upgrade/<sha>/ if there, else built there now (git archive, the
 * current node_modules linked when package.json's dependencies and the lock file are unchanged, else `npm ci`, then
 * `npm run build`). Two test runs building the same commit at once both succeed; the first rename wins.
 */
export async function buildPreviousVersion(version: PreviousVersion): Promise<PreviousBuild> {
  const started = Date.now();
  const dir = join(upgradeCache, version.sha);
  const entry = join(dir, 'dist/src/main.js');
  let installSeconds = 0;
  const done = (nodeModules: PreviousBuild['nodeModules'], builtNow: boolean): PreviousBuild => ({ ...version, dir, entry, nodeModules, builtNow, seconds: (Date.now() - started) / 1000, installSeconds });
  if (existsSync(entry)) return done(lstatSync(join(dir, 'node_modules')).isSymbolicLink() ? 'linked' : 'installed', false);

  mkdirSync(upgradeCache, { recursive: true });
  removeAbandonedBuilds();

  const work = mkdtempSync(join(upgradeCache, `.building-${version.sha}-${process.pid}-`));
  chmodSync(work, 0o755); // mkdtemp makes it 0700
  try {
    await extract(version.sha, work);
    const nodeModules = sameDependencies(work) ? 'linked' : 'installed';
    if (nodeModules === 'linked') symlinkSync(join(root, 'node_modules'), join(work, 'node_modules'), 'dir');
    else {
      const installing = Date.now();
      await run('npm', ['ci', '--no-audit', '--no-fund', '--prefer-offline'], work);
      installSeconds = (Date.now() - installing) / 1000;
    }
    await run('npm', ['run', '-s', 'build'], work);
    if (!existsSync(join(work, 'dist/src/main.js'))) throw new Error(`the build of ${version.sha} wrote no dist/src/main.js`);
    try {
      renameSync(work, dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || !existsSync(entry)) throw err; // else another run finished first
    }
    return done(nodeModules, true);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
