// A small ISO laid out like Proxmox VE's installer, built with xorriso: /boot/linux26, a zstd /boot/initrd.img,
// /.cd-info (the KEY='value' lines of pve-installer's own cd-info.test), /auto-installer-capable, and El Torito boot
// images (BIOS from /boot/grub/i386-pc/eltorito.img, EFI from /efi.img) with a fixed volume UUID. Variants: without
// the capability marker (an ISO before 8.2), another product, not Proxmox at all, a big sparse file inside, a real
// kernel and initramfs (for booting it).
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface SyntheticIsoOptions {
  file?: string; // proxmox-ve_9.1-1.iso
  product?: string; // pve
  productLong?: string; // Proxmox VE
  release?: string; // 9.1
  isorelease?: string; // 1
  autoInstallCapable?: boolean; // true: has /auto-installer-capable
  proxmox?: boolean; // false: a plain Linux ISO (no /.cd-info, no /boot/linux26)
  uuid?: string; // 2025112012345600 (YYYYMMDDhhmmsscc, as xorriso's -volume_date uuid)
  initrdBytes?: number; // size of the uncompressed initrd (default 256 KiB)
  bigFileBytes?: number; // a sparse file this big at /pool/big.bin (for the benchmark)
  kernel?: string; // path of a file to put at /boot/linux26 (default 64 KiB of random bytes after "MZ")
  initrd?: string; // path of the uncompressed initrd to zstd-compress into /boot/initrd.img (default initrdBytes of filler)
}

export interface SyntheticIso {
  path: string; // the ISO
  size: number;
  uuid: string;
  kernel: string; // path of the bytes put at /boot/linux26
  initrd: string; // path of the uncompressed initrd content (zstd-compressed at /boot/initrd.img)
  sha256: string; // of the ISO
}

/** Builds the ISO in `dir` (which must exist) and returns where its parts are. */
export function buildSyntheticIso(dir: string, options: SyntheticIsoOptions = {}): SyntheticIso {
  const o = { file: 'proxmox-ve_9.1-1.iso', product: 'pve', productLong: 'Proxmox VE', release: '9.1', isorelease: '1', autoInstallCapable: true, proxmox: true, uuid: '2025112012345600', initrdBytes: 256 * 1024, ...options };
  const tree = join(dir, 'iso-tree');
  rmSync(tree, { recursive: true, force: true });
  mkdirSync(join(tree, 'boot/grub/i386-pc'), { recursive: true });
  writeFileSync(join(tree, 'boot/grub/i386-pc/eltorito.img'), Buffer.alloc(2048, 0x90));
  writeFileSync(join(tree, 'efi.img'), Buffer.alloc(4096, 0xef));
  const kernel = o.kernel ?? join(dir, 'linux26');
  const initrd = o.initrd ?? join(dir, 'initrd.cpio');
  if (!o.kernel) writeFileSync(kernel, Buffer.concat([Buffer.from('MZ synthetic kernel '), randomBytes(64 * 1024)]));
  if (!o.initrd) writeInitrd(initrd, o.initrdBytes);
  if (o.proxmox) {
    writeFileSync(join(tree, 'boot/linux26'), readFileSync(kernel));
    run('zstd', ['-q', '-3', '-T0', initrd, '-o', join(tree, 'boot/initrd.img')]);
    const cdInfo = [`PRODUCT='${o.product}'`, `PRODUCTLONG='${o.productLong}'`, `RELEASE='${o.release}'`, `ISORELEASE='${o.isorelease}'`, "ISONAME='proxmox-ve'"];
    writeFileSync(join(tree, '.cd-info'), `${cdInfo.join('\n')}\n`);
    if (o.autoInstallCapable) writeFileSync(join(tree, 'auto-installer-capable'), '');
    mkdirSync(join(tree, 'proxmox/packages'), { recursive: true });
    writeFileSync(join(tree, 'proxmox/packages/pve-manager_9.1.1_all.deb'), randomBytes(8192));
  } else {
    mkdirSync(join(tree, '.disk'));
    writeFileSync(join(tree, '.disk/info'), 'Debian GNU/Linux 13 "Trixie" - Official amd64 NETINST\n');
    mkdirSync(join(tree, 'install.amd'));
    writeFileSync(join(tree, 'install.amd/vmlinuz'), readFileSync(kernel));
  }
  if (o.bigFileBytes) {
    mkdirSync(join(tree, 'pool'));
    writeFileSync(join(tree, 'pool/big.bin'), '');
    truncateSync(join(tree, 'pool/big.bin'), o.bigFileBytes);
  }
  const path = join(dir, o.file);
  rmSync(path, { force: true });
  run('xorriso', [
    '-as', 'mkisofs', '-o', path, '-V', 'PVE', '-r', `--modification-date=${o.uuid}`,
    '-b', 'boot/grub/i386-pc/eltorito.img', '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table',
    '-eltorito-alt-boot', '-e', 'efi.img', '-no-emul-boot',
    tree,
  ]);
  rmSync(tree, { recursive: true, force: true });
  const sha256 = spawnSync('sha256sum', [path], { encoding: 'utf8' }).stdout.split(' ')[0]!; // streams, unlike readFileSync
  return { path, size: statSync(path).size, uuid: o.uuid, kernel, initrd, sha256 };
}

/** Initrd-like content: random stretches (compressed modules) and repeated paths (cpio headers), written in chunks. */
function writeInitrd(path: string, bytes: number): void {
  const fd = openSync(path, 'w');
  const text = Buffer.from('070701usr/lib/modules/6.14.11-4-pve/kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko\n'.repeat(700));
  try {
    for (let written = 0, i = 0; written < bytes; i++) {
      const chunk = (i % 2 === 0 ? randomBytes(64 * 1024) : text).subarray(0, bytes - written);
      writeSync(fd, chunk);
      written += chunk.length;
    }
  } finally {
    closeSync(fd);
  }
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.error?.message ?? result.stderr}`);
}

/** SHA-256 (hex) of a file's bytes. */
export function sha256Of(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** What xorriso reads back from an ISO: its regular files (path → size), its volume UUID, a file's content. */
export function isoFiles(iso: string): Map<string, number> {
  const out = spawnSync('xorriso', ['-indev', `stdio:${iso}`, '-find', '/', '-type', 'f', '-exec', 'lsdl', '--'], { encoding: 'utf8' }).stdout;
  const files = new Map<string, number>();
  for (const line of out.split('\n')) {
    const m = /^\S+\s+\d+\s+\S+\s+\S+\s+(\d+)\s+\S+\s+\d+\s+\S+\s+'(.*)'$/.exec(line);
    if (m) files.set(m[2]!, Number(m[1]));
  }
  return files;
}

export function isoUuid(iso: string): string | null {
  const out = spawnSync('xorriso', ['-indev', `stdio:${iso}`, '-report_system_area', 'cmd'], { encoding: 'utf8' }).stdout;
  const line = out.split('\n').find((l) => l.startsWith('-volume_date uuid '));
  return line ? line.split(' ').at(-1)!.replaceAll("'", '') : null;
}

export function isoFileText(iso: string, path: string): string {
  return spawnSync('xorriso', ['-osirrox', 'on', '-indev', `stdio:${iso}`, '-concat', 'append', '-', path], { encoding: 'utf8' }).stdout;
}
