// prepareImage on synthetic ISOs laid out like Proxmox VE's (test/helpers/synthetic-iso.ts), and every way it refuses.
// Real: xorriso, zstd and gzip, the file system (a small tmpfs for a full disk, when run as root). Nothing is faked.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageLibrary } from '../../src/images/image-library';
import { ImagePreparationError, prepareImage, renderModeFile, type PrepareImageOptions, type PrepareProgress } from '../../src/images/iso-preparer';
import { buildSyntheticIso, isoFiles, isoFileText, isoUuid, type SyntheticIso } from '../helpers/synthetic-iso';
import { tempDir } from '../helpers/temp-dir';

const answerUrl = 'http://192.0.2.10:8080/api/boot/answer';
const fingerprint = 'AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89';
const scratch = tempDir('iso-preparer-test-');
let n = 0;
const isos: Record<'pve91' | 'pve92' | 'pve81' | 'pbs' | 'debian', SyntheticIso> = {} as never;

beforeAll(() => {
  const build = (dir: string, options: Parameters<typeof buildSyntheticIso>[1]) => {
    mkdirSync(join(scratch.path, dir));
    return buildSyntheticIso(join(scratch.path, dir), options);
  };
  isos.pve91 = build('pve91', {});
  isos.pve92 = build('pve92', { file: 'proxmox-ve_9.2-1.iso', release: '9.2' });
  isos.pve81 = build('pve81', { file: 'proxmox-ve_8.1-2.iso', release: '8.1', isorelease: '2', autoInstallCapable: false });
  isos.pbs = build('pbs', { file: 'proxmox-backup-server_4.1-1.iso', product: 'pbs', productLong: 'Proxmox Backup Server', release: '4.1' });
  isos.debian = build('debian', { file: 'debian-13.2.0-amd64-netinst.iso', proxmox: false });
}, 60_000);
afterAll(() => scratch.remove());

/** A fresh, empty images directory. */
function imagesDir(): string {
  const dir = join(scratch.path, `images-${++n}`);
  mkdirSync(dir);
  return dir;
}

function options(iso: SyntheticIso, dir: string, more: Partial<PrepareImageOptions> = {}): PrepareImageOptions {
  return { iso: iso.path, imagesDir: dir, answerUrl, ...more };
}

async function refusal(promise: Promise<unknown>): Promise<ImagePreparationError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ImagePreparationError);
  return err as ImagePreparationError;
}

/** Child processes of this test process (a cancelled preparation must leave none). */
function children(): string[] {
  return spawnSync('ps', ['-o', 'comm=', '--ppid', String(process.pid)], { encoding: 'utf8' })
    .stdout.split('\n')
    .map((l) => l.trim())
    .filter((c) => c && c !== 'ps');
}

describe('prepareImage', () => {
  it('writes vmlinuz, a gzip initrd.img and the ISO without /boot carrying the mode file, keeping the UUID', async () => {
    const dir = imagesDir();
    const events: PrepareProgress[] = [];
    const image = await prepareImage(options(isos.pve91, dir, { onProgress: (p) => events.push(p), now: () => new Date('2026-12-02T10:00:00Z') }));

    const folder = join(dir, 'pve-9.1-1');
    expect(image).toMatchObject({ name: 'pve-9.1-1', dir: folder, notes: [] });
    expect(readdirSync(dir)).toEqual(['pve-9.1-1']);
    expect(readdirSync(folder).sort()).toEqual(['image.json', 'initrd.img', 'proxmox-ve_9.1-1-auto-from-http.iso', 'vmlinuz']);
    expect(readFileSync(join(folder, 'vmlinuz')).equals(readFileSync(isos.pve91.kernel))).toBe(true);
    const initrd = readFileSync(join(folder, 'initrd.img'));
    expect(initrd.subarray(0, 2).toString('hex')).toBe('1f8b'); // gzip, which iPXE loads (zstd it cannot)
    expect(gunzipSync(initrd).equals(readFileSync(isos.pve91.initrd))).toBe(true);

    const prepared = join(folder, 'proxmox-ve_9.1-1-auto-from-http.iso');
    expect(isoFileText(prepared, '/auto-installer-mode.toml')).toBe(`mode = "http"\n\n[http]\nurl = "${answerUrl}"\n`);
    const files = [...isoFiles(prepared).keys()].sort();
    expect(files).toEqual(['/.cd-info', '/auto-installer-capable', '/auto-installer-mode.toml', '/efi.img', '/proxmox/packages/pve-manager_9.1.1_all.deb']);
    expect(isoUuid(prepared)).toBe('2025112012345600');
    const bootRecords = spawnSync('xorriso', ['-indev', `stdio:${prepared}`, '-report_system_area', 'cmd'], { encoding: 'utf8' }).stdout;
    expect(bootRecords).toContain("-boot_image any efi_path='/efi.img'"); // the BIOS image lived in /boot, the EFI one stays

    expect(JSON.parse(readFileSync(join(folder, 'image.json'), 'utf8'))).toEqual({
      format: 1,
      product: 'pve',
      product_long: 'Proxmox VE',
      release: '9.1',
      isorelease: '1',
      iso_uuid: '2025112012345600',
      source: { file: 'proxmox-ve_9.1-1.iso', size: isos.pve91.size, sha256: isos.pve91.sha256 },
      prepared_at: '2026-12-02T10:00:00.000Z',
      answer_url: answerUrl,
      cert_fingerprint: null,
      token_sha256: null,
      files: { kernel: 'vmlinuz', initrd: 'initrd.img', iso: 'proxmox-ve_9.1-1-auto-from-http.iso' },
    });
    expect(image.metadata.source.sha256).toBe(isos.pve91.sha256);

    const steps = new Set(events.map((e) => e.step));
    expect([...steps].sort()).toEqual(['checksum', 'finish', 'initrd', 'inspect', 'iso', 'kernel']);
    for (const step of ['checksum', 'kernel', 'initrd', 'iso']) {
      const last = events.filter((e) => e.step === step).at(-1)!;
      expect(last.bytesDone).toBe(last.bytesTotal);
    }
    expect(events.find((e) => e.step === 'checksum' && e.bytesDone === e.bytesTotal)!.bytesTotal).toBe(isos.pve91.size);
  });

  it('is listed by the image library with its metadata', async () => {
    const dir = imagesDir();
    await prepareImage(options(isos.pve91, dir));
    const [image] = new ImageLibrary(dir).list();
    expect(image).toMatchObject({ name: 'pve-9.1-1', iso: 'proxmox-ve_9.1-1-auto-from-http.iso', metadata: { release: '9.1', answerUrl, source: { sha256: isos.pve91.sha256 } } });
  });

  it('writes the certificate fingerprint and, on a 9.2 ISO, the token; image.json keeps only the token SHA-256', async () => {
    const dir = imagesDir();
    const url = 'https://192.0.2.10:8443/api/boot/answer';
    const token = 'provisioning:s3cr3t-t0ken';
    const image = await prepareImage(options(isos.pve92, dir, { answerUrl: url, certFingerprint: fingerprint, token }));
    const prepared = join(image.dir, 'proxmox-ve_9.2-1-auto-from-http.iso');
    expect(isoFileText(prepared, '/auto-installer-mode.toml')).toBe(`mode = "http"\n\n[http]\nurl = "${url}"\ncert_fingerprint = "${fingerprint}"\ntoken = "${token}"\n`);
    const json = readFileSync(join(image.dir, 'image.json'), 'utf8');
    expect(json).not.toContain('s3cr3t');
    expect(JSON.parse(json)).toMatchObject({ cert_fingerprint: fingerprint, token_sha256: createHash('sha256').update(token).digest('hex') });
    expect(readdirSync(image.dir)).not.toContain('auto-installer-mode.toml');
  });

  it('writes no token into an ISO older than 9.2 (its installer sends none)', async () => {
    const image = await prepareImage(options(isos.pve91, imagesDir(), { token: 'provisioning:secret' }));
    expect(isoFileText(join(image.dir, image.metadata.files.iso), '/auto-installer-mode.toml')).not.toContain('token');
    expect(image.metadata.tokenSha256).toBeNull();
    expect(image.notes).toEqual([]);
  });

  it('prepares an 8.3 ISO but says its installer rejects our answer files (kebab-case keys of 8.4 and newer)', async () => {
    const dir = imagesDir();
    mkdirSync(join(scratch.path, 'pve83'));
    const iso = buildSyntheticIso(join(scratch.path, 'pve83'), { file: 'proxmox-ve_8.3-1.iso', release: '8.3' });
    const image = await prepareImage(options(iso, dir));
    expect(image.name).toBe('pve-8.3-1');
    expect(image.notes).toEqual(['Proxmox VE 8.3-1 installs, but its installer rejects the answer files this service writes (kebab-case keys of Proxmox VE 8.4 and newer): use an 8.4 or newer ISO']);
    expect((await prepareImage(options(isos.pve91, dir))).notes).toEqual([]);
  });

  it('uses the name it is given', async () => {
    const dir = imagesDir();
    const image = await prepareImage(options(isos.pve91, dir, { name: 'pve-lab' }));
    expect(image.name).toBe('pve-lab');
    expect(readdirSync(dir)).toEqual(['pve-lab']);
  });

  it('accepts the checksum the ISO has', async () => {
    const image = await prepareImage(options(isos.pve91, imagesDir(), { expectedSha256: isos.pve91.sha256.toUpperCase() }));
    expect(image.metadata.source.sha256).toBe(isos.pve91.sha256);
  });

  it('removes a lock left by a process that is gone', async () => {
    const dir = imagesDir();
    const dead = spawnSync('true').pid!;
    mkdirSync(join(dir, '.preparing-pve-9.1-1'));
    writeFileSync(join(dir, '.preparing-pve-9.1-1', '.owner.json'), JSON.stringify({ pid: dead, start: '1', host: hostname(), since: '2026-12-01T00:00:00Z' }));
    writeFileSync(join(dir, '.preparing-pve-9.1-1', 'initrd.img'), 'half of an earlier try');
    await prepareImage(options(isos.pve91, dir));
    expect(readdirSync(dir)).toEqual(['pve-9.1-1']);
  });
});

describe('prepareImage refuses, leaving nothing behind', () => {
  it.each([
    ['a text file', () => textFile(), 'not_an_iso', /^notes\.txt is not an ISO image \(no ISO 9660 volume descriptor at sector 16\)$/],
    ['a missing file', () => join(scratch.path, 'missing.iso'), 'source_not_found', /missing\.iso: no such file \(ENOENT\)$/],
    ['an ISO that is not Proxmox', () => isos.debian.path, 'not_proxmox', /^debian-13\.2\.0-amd64-netinst\.iso is not a Proxmox VE installer ISO \(it has no \/\.cd-info\)$/],
    ['another Proxmox product', () => isos.pbs.path, 'not_proxmox', /is not a Proxmox VE installer ISO \(it is Proxmox Backup Server \(PRODUCT='pbs'\)\)$/],
    [
      'a Proxmox VE ISO older than 8.2',
      () => isos.pve81.path,
      'not_auto_install_capable',
      /^proxmox-ve_8\.1-2\.iso is Proxmox VE 8\.1-2, which cannot install unattended \(no \/auto-installer-capable\): Proxmox VE 8\.2 or newer is needed$/,
    ],
  ])('%s', async (_what, iso, code, message) => {
    const dir = imagesDir();
    const err = await refusal(prepareImage({ iso: iso(), imagesDir: dir, answerUrl }));
    expect(err.code).toBe(code);
    expect(err.message).toMatch(message);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('an ISO whose checksum is not the one expected', async () => {
    const dir = imagesDir();
    const err = await refusal(prepareImage(options(isos.pve91, dir, { expectedSha256: '0'.repeat(64) })));
    expect(err.code).toBe('checksum_mismatch');
    expect(err.message).toBe(`proxmox-ve_9.1-1.iso has SHA-256 ${isos.pve91.sha256}, expected ${'0'.repeat(64)}: the file is damaged or not the one meant`);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a name that is taken, leaving the image there as it was', async () => {
    const dir = imagesDir();
    mkdirSync(join(dir, 'pve-9.1-1'));
    writeFileSync(join(dir, 'pve-9.1-1', 'vmlinuz'), 'hand-made');
    const err = await refusal(prepareImage(options(isos.pve91, dir)));
    expect(err).toMatchObject({ code: 'name_taken', message: `an image named pve-9.1-1 exists already in ${dir}; remove it first or choose another name` });
    expect(readdirSync(dir)).toEqual(['pve-9.1-1']);
    expect(readFileSync(join(dir, 'pve-9.1-1', 'vmlinuz'), 'utf8')).toBe('hand-made');
  });

  it('a second preparation of the same name while one runs; the first completes', async () => {
    const dir = imagesDir();
    let second: Promise<ImagePreparationError> | undefined;
    const first = prepareImage(
      options(isos.pve91, dir, {
        onProgress: (p) => {
          if (p.step === 'kernel' && !second) second = refusal(prepareImage(options(isos.pve91, dir)));
        },
      }),
    );
    await first;
    const err = await second!;
    expect(err.code).toBe('already_preparing');
    expect(err.message).toMatch(new RegExp(`^image pve-9\\.1-1 is being prepared already by process ${process.pid} on .* since .*; wait for it to finish, or remove ${dir}/\\.preparing-pve-9\\.1-1 if no preparation runs$`));
    expect(readdirSync(dir)).toEqual(['pve-9.1-1']);
  });

  it('a name another running process is preparing, leaving its folder alone', async () => {
    const dir = imagesDir();
    const other = spawn('sleep', ['30']);
    try {
      const stat = readFileSync(`/proc/${other.pid}/stat`, 'utf8');
      const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
      mkdirSync(join(dir, '.preparing-pve-9.1-1'));
      writeFileSync(join(dir, '.preparing-pve-9.1-1', '.owner.json'), JSON.stringify({ pid: other.pid, start, host: hostname(), since: '2026-12-02T09:00:00Z' }));
      const err = await refusal(prepareImage(options(isos.pve91, dir)));
      expect(err.code).toBe('already_preparing');
      expect(readdirSync(dir)).toEqual(['.preparing-pve-9.1-1']);
    } finally {
      other.kill();
    }
  });

  it('a cancel half-way, stopping every tool it started', async () => {
    const dir = imagesDir();
    const cancel = new AbortController();
    const err = await refusal(prepareImage(options(isos.pve91, dir, { signal: cancel.signal, onProgress: (p) => p.step === 'kernel' && cancel.abort() })));
    expect(err).toMatchObject({ code: 'aborted', message: 'the preparation of proxmox-ve_9.1-1.iso was cancelled; nothing was kept' });
    expect(readdirSync(dir)).toEqual([]);
    expect(children()).toEqual([]);
  });

  it('a tool that is not installed, naming its Debian package', async () => {
    const dir = imagesDir();
    const err = await refusal(prepareImage(options(isos.pve91, dir, { tools: { zstd: '/nonexistent/zstd' } })));
    expect(err).toMatchObject({ code: 'tool_missing', message: '/nonexistent/zstd is not installed (or not on PATH); it comes with the Debian package zstd: apt-get install zstd' });
    expect(readdirSync(dir)).toEqual([]);
  });

  it.each([
    [{ name: '.hidden' }, 'name'],
    [{ name: 'a/b' }, 'name'],
    [{ answerUrl: 'ftp://192.0.2.10/answer' }, 'answer_url'],
    [{ certFingerprint: fingerprint }, 'cert_fingerprint'], // with an http:// answer URL
    [{ answerUrl: 'https://x/answer', certFingerprint: 'AB:CD' }, 'cert_fingerprint'],
    [{ token: 'name secret' }, 'token'],
    [{ expectedSha256: 'abc' }, 'sha256'],
  ])('bad input %j', async (more, field) => {
    const dir = imagesDir();
    const err = await refusal(prepareImage(options(isos.pve91, dir, more)));
    expect(err).toMatchObject({ code: 'invalid_input', field });
    expect(readdirSync(dir)).toEqual([]);
  });

  describe.skipIf(process.getuid?.() !== 0)('a full disk (a small tmpfs; needs root)', () => {
    let mount: string;
    beforeAll(() => {
      mount = join(scratch.path, 'tmpfs');
      mkdirSync(mount);
      expect(spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${Math.ceil(isos.pve91.size / 1024) + 256}k`, 'tmpfs', mount]).status).toBe(0);
    });
    afterAll(() => {
      spawnSync('umount', [mount]);
    });

    it('with less space than the ISO needs, before any work', async () => {
      const filler = join(mount, 'filler');
      fill(filler, 512 * 1024);
      try {
        const dir = join(mount, 'images-early');
        const err = await refusal(prepareImage(options(isos.pve91, dir)));
        expect(err.code).toBe('disk_full');
        expect(err.message).toMatch(new RegExp(`^not enough free space in ${dir}: \\d+ MB free, the image needs about ${Math.ceil(isos.pve91.size / 2 ** 20)} MB$`));
        expect(readdirSync(dir)).toEqual([]);
      } finally {
        spawnSync('rm', ['-f', filler]);
      }
    });

    it('when the disk fills up while it writes', async () => {
      const dir = join(mount, 'images-late');
      const filler = join(mount, 'filler');
      try {
        const err = await refusal(prepareImage(options(isos.pve91, dir, { onProgress: (p) => p.step === 'kernel' && !existsSync(filler) && fill(filler, Infinity) })));
        expect(err.code).toBe('disk_full');
        expect(err.message).toMatch(new RegExp(`^no space left in ${dir} while preparing the image .*; free some space and try again$`));
        expect(readdirSync(dir)).toEqual([]);
        expect(children()).toEqual([]);
      } finally {
        spawnSync('rm', ['-f', filler]);
      }
    });
  });
});

describe('renderModeFile', () => {
  it('escapes what TOML needs escaped', () => {
    expect(renderModeFile({ answerUrl: 'http://h/a?x="1"' })).toBe('mode = "http"\n\n[http]\nurl = "http://h/a?x=\\"1\\""\n');
  });
});

function textFile(): string {
  const path = join(scratch.path, 'notes.txt');
  writeFileSync(path, 'not an ISO\n'.repeat(10_000));
  return path;
}

/** Writes zeros to `path` until `bytes` are written or the disk is full. */
function fill(path: string, bytes: number): void {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (let written = 0; written < bytes; written += chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - written));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
}
