// A real kernel and a tiny initramfs for booting VMs in tests: Debian's cloud kernel (serial 8250 built in) and a
// static busybox, fetched once with `apt-get download` into .cache/firmware-kernel/, and a newc cpio whose /init
// writes what it saw to ttyS0 (the kernel's console may be elsewhere: the product's command line names none) and
// powers off.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';

const kernelPackage = 'linux-image-cloud-amd64'; // the meta-package; it depends on the current linux-image-<abi>-cloud-amd64
const busyboxPackage = 'busybox-static';

export interface BootKernel {
  kernel: string; // a bzImage: .cache/firmware-kernel/vmlinuz
  busybox: string; // a static busybox: .cache/firmware-kernel/busybox
  packages: string[]; // what they came from: linux-image-6.1.0-57-cloud-amd64 6.1.192-3, busybox-static 1:1.35.0-4+deb12u1+b1
}

/** Returns the cached kernel and busybox, downloading the two Debian packages first when the cache lacks them. */
export function bootKernel(cacheDir = resolve('.cache/firmware-kernel')): BootKernel {
  const kernel = join(cacheDir, 'vmlinuz');
  const busybox = join(cacheDir, 'busybox');
  const sources = join(cacheDir, 'packages.txt');
  if (![kernel, busybox, sources].every((f) => existsSync(f))) fetchInto(cacheDir);
  return { kernel, busybox, packages: readFileSync(sources, 'utf8').trim().split('\n') };
}

function fetchInto(cacheDir: string): void {
  const work = join(cacheDir, `.fetch-${process.pid}-${randomBytes(3).toString('hex')}`);
  mkdirSync(work, { recursive: true });
  try {
    const abiPackage = /Depends: (linux-image-\S+-cloud-amd64)/.exec(aptOutput(['apt-cache', 'depends', kernelPackage]))?.[1];
    if (!abiPackage) throw new Error(`apt-cache depends ${kernelPackage} names no linux-image-…-cloud-amd64 package`);
    aptOutput(['apt-get', 'download', abiPackage, busyboxPackage], work);
    const debs = readdirSync(work).filter((f) => f.endsWith('.deb'));
    const deb = (prefix: string) => join(work, debs.find((f) => f.startsWith(`${prefix}_`))!);
    const tree = join(work, 'tree');
    for (const p of [abiPackage, busyboxPackage]) run('dpkg-deb', ['-x', deb(p), tree]);
    const vmlinuz = readdirSync(join(tree, 'boot')).find((f) => f.startsWith('vmlinuz-'));
    if (!vmlinuz) throw new Error(`${abiPackage} has no /boot/vmlinuz-*`);
    const versions = [abiPackage, busyboxPackage].map((p) => `${p} ${run('dpkg-deb', ['-f', deb(p), 'Version']).trim()}`);
    renameSync(join(tree, 'boot', vmlinuz), join(cacheDir, 'vmlinuz'));
    renameSync(join(tree, 'bin/busybox'), join(cacheDir, 'busybox'));
    writeFileSync(join(cacheDir, 'packages.txt'), `${versions.join('\n')}\n`); // last: marks the cache complete
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Runs an apt command; when it fails as root, refreshes the package lists once (a fresh machine has none) and retries. */
function aptOutput(argv: string[], cwd?: string): string {
  const attempt = () => spawnSync(argv[0]!, argv.slice(1), { cwd, encoding: 'utf8' });
  let result = attempt();
  if (result.status !== 0 && process.getuid?.() === 0) {
    spawnSync('apt-get', ['update', '-qq'], { encoding: 'utf8' });
    result = attempt();
  }
  if (result.status !== 0) {
    throw new Error(`${argv.join(' ')} failed (the real-firmware test needs Debian's ${kernelPackage} and ${busyboxPackage} packages, fetched with apt): ${result.error?.message ?? result.stderr}`);
  }
  return result.stdout;
}

function run(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.error?.message ?? result.stderr}`);
  return result.stdout;
}

/** What the initramfs's /init writes to ttyS0, each line starting with the marker; `done` comes last. */
export interface InitReport {
  cmdline: string; // the kernel command line, from /proc/cmdline
  isoBytes: number | null; // size of /proxmox.iso (the initrd iPXE named so), null when absent
  done: boolean;
}

/**
 * Writes an uncompressed newc cpio to `path` holding a static busybox and an /init that writes `<marker> cmdline=…`,
 * `<marker> proxmox.iso=<bytes|missing>` and `<marker> done` to ttyS0, then powers the machine off.
 */
export function writeMarkerInitramfs(path: string, busybox: string, marker: string): void {
  const init = [
    '#!/bin/busybox sh',
    '/bin/busybox mount -t proc proc /proc',
    '{',
    `  echo "${marker} cmdline=$(/bin/busybox cat /proc/cmdline)"`,
    `  echo "${marker} proxmox.iso=$(/bin/busybox stat -c %s /proxmox.iso 2>/dev/null || echo missing)"`,
    `  echo "${marker} done"`,
    '} >/dev/ttyS0',
    '/bin/busybox poweroff -f',
    '',
  ].join('\n');
  const entries: CpioEntry[] = [
    { name: 'bin', mode: 0o040755 },
    { name: 'bin/busybox', mode: 0o100755, data: readFileSync(busybox) },
    { name: 'dev', mode: 0o040755 },
    { name: 'dev/ttyS0', mode: 0o020600, rdev: [4, 64] }, // the first 8250 port; no devtmpfs needed
    { name: 'proc', mode: 0o040755 },
    { name: 'init', mode: 0o100755, data: Buffer.from(init) },
  ];
  writeCpio(path, entries);
}

/** Reads the init's report from the VM's serial output (a line may start with the firmware's leftover escapes). */
export function parseInitReport(serial: string, marker: string): InitReport {
  const lines = serial.split('\n').map((l) => l.replace(/\r$/, ''));
  const value = (key: string) => {
    const prefix = `${marker} ${key}=`;
    const line = lines.find((l) => l.includes(prefix));
    return line?.slice(line.indexOf(prefix) + prefix.length);
  };
  const iso = value('proxmox.iso');
  return {
    cmdline: value('cmdline') ?? '',
    isoBytes: iso === undefined || iso === 'missing' ? null : Number(iso),
    done: lines.some((l) => l.endsWith(`${marker} done`)),
  };
}

interface CpioEntry {
  name: string;
  mode: number; // with the file type bits
  data?: Buffer;
  rdev?: [number, number];
}

/** The kernel's initramfs format: "newc" cpio (Documentation/driver-api/early-userspace/buffer-format.rst). */
function writeCpio(path: string, entries: CpioEntry[]): void {
  const fd = openSync(path, 'w');
  let offset = 0;
  const write = (b: Buffer) => {
    writeSync(fd, b);
    offset += b.length;
  };
  const pad = () => write(Buffer.alloc((4 - (offset % 4)) % 4));
  try {
    [...entries, { name: 'TRAILER!!!', mode: 0 }].forEach((e, i) => {
      const data = e.data ?? Buffer.alloc(0);
      const fields = [i + 1, e.mode, 0, 0, e.mode & 0o040000 ? 2 : 1, 0, data.length, 0, 0, e.rdev?.[0] ?? 0, e.rdev?.[1] ?? 0, e.name.length + 1, 0];
      write(Buffer.from(`070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}${e.name}\0`));
      pad();
      write(data);
      pad();
    });
  } finally {
    closeSync(fd);
  }
}
