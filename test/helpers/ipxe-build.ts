// A modern iPXE for the UEFI boot test: Debian trixie's `ipxe` package (a 2025 build), fetched once from Debian's
// pool into .cache/ipxe-trixie/, checked against a pinned SHA-256. Unlike bookworm's 1.0.0+git-20190125 it exposes
// its initrds through the Linux initrd device path (EFI_LOAD_FILE2_PROTOCOL, iPXE PR #895), which the kernel's EFI
// stub (≥ 5.7) loads with no initrd= argument, named ones such as proxmox.iso wrapped as cpio entries.
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const trixieIpxeDeb = {
  url: 'http://deb.debian.org/debian/pool/main/i/ipxe/ipxe_1.21.1+git20250501.dad20602+dfsg-1_all.deb',
  version: '1.21.1+git20250501.dad20602+dfsg-1',
  sha256: 'eeaca79dbde0fb86c102bf1d362c6f6a67ed0ddab38b3dd12e1b332339f5dd99',
};

/** What pxe.tftp_root must hold (src/service/pxe.ts), plus snponly.efi. */
const files = ['undionly.kpxe', 'ipxe.efi', 'snponly.efi'];

/**
 * Returns a folder usable as pxe.tftp_root with trixie's undionly.kpxe, ipxe.efi (the amd64 build, copied as a plain
 * file: the package's ipxe.efi is a symlink) and snponly.efi, downloading and checking the package first when the
 * cache lacks them.
 */
export async function trixieIpxe(cacheDir = resolve('.cache/ipxe-trixie')): Promise<string> {
  const stamp = join(cacheDir, 'package.txt');
  if (files.every((f) => existsSync(join(cacheDir, f))) && existsSync(stamp)) return cacheDir;
  const work = join(cacheDir, `.fetch-${process.pid}-${randomBytes(3).toString('hex')}`);
  mkdirSync(work, { recursive: true });
  try {
    const response = await fetch(trixieIpxeDeb.url);
    if (!response.ok) throw new Error(`GET ${trixieIpxeDeb.url}: HTTP ${response.status}`);
    const deb = Buffer.from(await response.arrayBuffer());
    const sha256 = createHash('sha256').update(deb).digest('hex');
    if (sha256 !== trixieIpxeDeb.sha256) {
      throw new Error(`${trixieIpxeDeb.url} has SHA-256 ${sha256}, not the pinned ${trixieIpxeDeb.sha256}`);
    }
    writeFileSync(join(work, 'ipxe.deb'), deb);
    const tree = join(work, 'tree');
    const x = spawnSync('dpkg-deb', ['-x', join(work, 'ipxe.deb'), tree], { encoding: 'utf8' });
    if (x.status !== 0) throw new Error(`dpkg-deb -x failed: ${x.error?.message ?? x.stderr}`);
    const lib = join(tree, 'usr/lib/ipxe');
    const copies = [['undionly.kpxe', 'undionly.kpxe'], ['ipxe-amd64.efi', 'ipxe.efi'], ['snponly.efi', 'snponly.efi']] as const;
    for (const [from, to] of copies) {
      copyFileSync(join(lib, from), join(work, to));
      renameSync(join(work, to), join(cacheDir, to));
    }
    writeFileSync(stamp, `ipxe ${trixieIpxeDeb.version} ${sha256}\n`); // last: marks the cache complete
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return cacheDir;
}

