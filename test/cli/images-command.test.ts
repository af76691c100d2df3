// `provisioning images prepare <iso-file>` as an operator runs it: the built service (dist/src/main.js) as a process
// with a config file in a temporary folder, on synthetic Proxmox-like ISOs; and `make image` without ISO.
// Real: the built command, xorriso, zstd, gzip, make.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'smol-toml';
import { imagesUsageLine } from '../../src/cli-args';
import { certificateFingerprint } from '../../src/tls/certificate';
import { buildSyntheticIso, isoFileText, type SyntheticIso } from '../helpers/synthetic-iso';
import { tempDir } from '../helpers/temp-dir';

const entry = resolve('dist/src/main.js');
const sources = ['src/main.ts', 'src/cli-args.ts', 'src/service/images-command.ts', 'src/images/iso-preparer.ts', 'src/images/xorriso.ts', 'src/images/image-library.ts', 'src/images/image-token.ts', 'src/service/tls.ts'];
const scratch = tempDir('images-command-test-');
let iso: SyntheticIso;
let bigIso: SyntheticIso;
let n = 0;

beforeAll(() => {
  const built = resolve('dist/src/service/images-command.js');
  if (!existsSync(built) || sources.some((s) => statSync(s).mtimeMs > statSync(built).mtimeMs)) {
    expect(spawnSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' }).status).toBe(0);
  }
  mkdirSync(join(scratch.path, 'small'));
  iso = buildSyntheticIso(join(scratch.path, 'small'));
  mkdirSync(join(scratch.path, 'big'));
  bigIso = buildSyntheticIso(join(scratch.path, 'big'), { initrdBytes: 8 * 1024 * 1024, bigFileBytes: 256 * 1024 * 1024 });
}, 180_000);
afterAll(() => scratch.remove());

/** A working directory holding provisioning.yaml with data_dir ./data and a public_url. */
function workDir(): string {
  const dir = join(scratch.path, `work-${++n}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'provisioning.yaml'), 'data_dir: ./data\nserver:\n  public_url: http://192.0.2.10:8080\n');
  return dir;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/src/main.js …args` in `cwd`; `onStdout` sees the output as it comes and may signal the process. */
function runCli(args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env, onStdout?: (text: string, child: ReturnType<typeof spawn>) => void): Promise<Run> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [entry, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => {
      stdout += b;
      onStdout?.(stdout, child);
    });
    child.stderr.on('data', (b: Buffer) => (stderr += b));
    child.once('error', reject);
    child.once('close', (code) => resolveRun({ code, stdout, stderr }));
  });
}

describe('provisioning images prepare', () => {
  it('prepares the image under images.dir with the answer URL of public_url, printing its progress; creates nothing else', async () => {
    const dir = workDir();
    const run = await runCli(['images', 'prepare', iso.path], dir);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const folder = join(dir, 'data/images/pve-9.1-1');
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('inspect    reading the ISO');
    expect(lines).toContain(`checksum   ${(iso.size / 2 ** 20).toFixed(1)} of ${(iso.size / 2 ** 20).toFixed(1)} MB, done`);
    expect(lines).toContain('finish     synced and in place');
    expect(lines.slice(-3)).toEqual([
      `prepared pve-9.1-1 in ${folder}: Proxmox VE 9.1-1, ISO UUID 2025112012345600`,
      '  files: vmlinuz, initrd.img (gzip), proxmox-ve_9.1-1-auto-from-http.iso (answers from http://192.0.2.10:8080/api/boot/answer)',
      `  source: proxmox-ve_9.1-1.iso, ${(iso.size / 2 ** 20).toFixed(1)} MB, SHA-256 ${iso.sha256}`,
    ]);
    expect(isoFileText(join(folder, 'proxmox-ve_9.1-1-auto-from-http.iso'), '/auto-installer-mode.toml')).toBe('mode = "http"\n\n[http]\nurl = "http://192.0.2.10:8080/api/boot/answer"\n');
    expect(readdirSync(dir).sort()).toEqual(['data', 'provisioning.yaml']); // no database, no server-types.yaml
    expect(readdirSync(join(dir, 'data'))).toEqual(['images']);
    expect(readdirSync(join(dir, 'data/images'))).toEqual(['pve-9.1-1']);
  });

  it('with server.tls writes the HTTPS answer URL, the certificate it will serve, and a 9.2 ISO\'s answer token', async () => {
    const dir = workDir();
    writeFileSync(join(dir, 'provisioning.yaml'), 'data_dir: ./data\nserver:\n  public_url: http://192.0.2.10:8080\n  tls:\n    listen: 0.0.0.0:8443\n    public_url: https://192.0.2.10:8443\n');
    mkdirSync(join(dir, 'iso'));
    const iso92 = buildSyntheticIso(join(dir, 'iso'), { release: '9.2', file: 'proxmox-ve_9.2-1.iso' });
    const run = await runCli(['images', 'prepare', iso92.path], dir);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const fingerprint = certificateFingerprint(readFileSync(join(dir, 'data/tls/provisioning.crt')));
    const folder = join(dir, 'data/images/pve-9.2-1');
    const mode = parse(isoFileText(join(folder, 'proxmox-ve_9.2-1-auto-from-http.iso'), '/auto-installer-mode.toml')) as { http: { url: string; cert_fingerprint: string; token: string } };
    expect(mode.http).toMatchObject({ url: 'https://192.0.2.10:8443/api/boot/answer', cert_fingerprint: fingerprint });
    expect(mode.http.token).toMatch(/^provisioning:[A-Za-z0-9_-]{32}$/);
    const metadata = JSON.parse(readFileSync(join(folder, 'image.json'), 'utf8')) as { token_sha256: string };
    expect(metadata.token_sha256).toBe(createHash('sha256').update(mode.http.token).digest('hex'));
    expect(run.stdout).not.toContain(mode.http.token.split(':')[1]);
    expect(run.stdout).toContain('  answer token: in the ISO; the installer sends it, and the answer endpoint requires it');
    expect(run.stdout).toContain(`(answers from https://192.0.2.10:8443/api/boot/answer, certificate ${fingerprint})`);
  });

  it('takes --name and --sha256, and refuses the same name a second time', async () => {
    const dir = workDir();
    const first = await runCli(['images', 'prepare', iso.path, '--name', 'pve-lab', '--sha256', iso.sha256], dir);
    expect(first.code).toBe(0);
    const again = await runCli(['images', 'prepare', iso.path, '--name', 'pve-lab'], dir);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`provisioning: no image prepared: an image named pve-lab exists already in ${join(dir, 'data/images')}; remove it first or choose another name\n`);
    expect(readdirSync(join(dir, 'data/images'))).toEqual(['pve-lab']);
  });

  it('refuses a checksum mismatch', async () => {
    const dir = workDir();
    const run = await runCli(['images', 'prepare', iso.path, '--sha256', 'f'.repeat(64)], dir);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`provisioning: no image prepared: proxmox-ve_9.1-1.iso has SHA-256 ${iso.sha256}, expected ${'f'.repeat(64)}: the file is damaged or not the one meant\n`);
    expect(readdirSync(join(dir, 'data/images'))).toEqual([]);
  });

  it('refuses a file that is not an ISO', async () => {
    const dir = workDir();
    writeFileSync(join(dir, 'readme.txt'), 'hello\n'.repeat(10_000));
    const run = await runCli(['images', 'prepare', 'readme.txt'], dir);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('provisioning: no image prepared: readme.txt is not an ISO image (no ISO 9660 volume descriptor at sector 16)\n');
    expect(readdirSync(dir).sort()).toEqual(['provisioning.yaml', 'readme.txt']);
  });

  it('names the Debian package of a tool that is missing (a PATH without xorriso)', async () => {
    const dir = workDir();
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    for (const tool of ['zstd', 'gzip']) symlinkSync(spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim(), join(bin, tool));
    const run = await runCli(['images', 'prepare', iso.path], dir, { ...process.env, PATH: bin });
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('provisioning: no image prepared: xorriso is not installed (or not on PATH); it comes with the Debian package xorriso: apt-get install xorriso\n');
    expect(existsSync(join(dir, 'data'))).toBe(false);
  });

  it('stops on Ctrl-C and leaves nothing behind', async () => {
    const dir = workDir();
    let sent = false;
    const run = await runCli(['images', 'prepare', bigIso.path], dir, process.env, (stdout, child) => {
      if (!sent && stdout.includes('\nkernel')) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('provisioning: no image prepared: the preparation of proxmox-ve_9.1-1.iso was cancelled; nothing was kept\n');
    expect(readdirSync(join(dir, 'data/images'))).toEqual([]);
  }, 60_000);

  it('refuses a missing config file with status 2, without creating one', async () => {
    const dir = join(scratch.path, `empty-${++n}`);
    mkdirSync(dir);
    const run = await runCli(['images', 'prepare', iso.path], dir);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('provisioning.yaml: cannot read the file: ENOENT\nprovisioning: no image prepared: fix the configuration above\n');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses bad usage with status 2 and its usage', async () => {
    const run = await runCli(['images', 'prepare'], workDir());
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`provisioning: images prepare needs the stock ISO, e.g. images prepare downloads/proxmox-ve_9.1-1.iso\n${imagesUsageLine}\n`);
  });
});

describe('make image', () => {
  it('fails before building when ISO is not given, saying how to call it', () => {
    const run = spawnSync('make', ['image'], { encoding: 'utf8' });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('make image needs ISO, the stock Proxmox VE ISO: make image ISO=downloads/proxmox-ve_9.1-1.iso [NAME=pve-9.1-1]');
  });
});
