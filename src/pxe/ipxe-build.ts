// Which iPXE a UEFI host chainloads (pxe.tftp_root/ipxe.efi), and whether it can hand the Proxmox installer its
// initrds. The install script loads the kernel, initrd.img and the ISO as a second initrd named proxmox.iso, with no
// initrd= on the kernel line (the installer would copy it into the installed system's). On UEFI the kernel then finds
// them only through the Linux initrd device path (EFI_LOAD_FILE2_PROTOCOL), which iPXE provides since February 2023
// (ipxe/ipxe#895). Older builds, such as Debian bookworm's (1.0.0+git-20190125), boot the kernel with no initrd.
import { readFileSync } from 'node:fs';

/** The first iPXE build date that gives UEFI kernels their initrds without initrd= (commit 6a004be, ipxe/ipxe#895). */
export const uefiInitrdSince = '2023-02-15';

/** What the binary says about itself. */
export interface IpxeBuild {
  version: string | null; // 1.21.1+git20250501.dad20602+dfsg-1 (Debian), 1.0.0+git-20190125.36a4c85-5.1
  date: string | null; // 2025-05-01: the upstream snapshot's date, when the version names one
  uefiInitrd: boolean | null; // hands UEFI kernels their initrds; null when the build date cannot be told
}

/** Reads the version string out of an iPXE binary (Debian's builds carry "<version>+git<yyyymmdd>.<commit>"). */
export function ipxeBuildOf(file: string): IpxeBuild {
  const text = readFileSync(file).toString('latin1');
  const debian = /(\d+\.\d+\.\d+)\+git-?(\d{4})(\d{2})(\d{2})\.[0-9a-f]{7,}[\w.+~-]*/.exec(text);
  if (debian) {
    const date = `${debian[2]}-${debian[3]}-${debian[4]}`;
    return { version: debian[0], date, uefiInitrd: date >= uefiInitrdSince };
  }
  // An upstream build says only "1.21.1+ (g<commit>)"; 2.x releases are newer than the change.
  const upstream = /\b(\d+)\.(\d+)\.(\d+)\+? \(g[0-9a-f]{5,}\)/.exec(text);
  if (upstream) return { version: upstream[0], date: null, uefiInitrd: Number(upstream[1]) >= 2 ? true : null };
  return { version: null, date: null, uefiInitrd: null };
}

/** What to tell the operator about `build` of `file`, or null when UEFI hosts are fine with it. */
export function uefiInitrdProblem(file: string, build: IpxeBuild): string | null {
  if (build.uefiInitrd === true) return null;
  const which = build.version ? `${file} is iPXE ${build.version}` : `${file} does not say which iPXE build it is`;
  const why = build.uefiInitrd === false ? 'which boots UEFI hosts\u2019 kernels without their initrd (the installer cannot start)' : `so it may be older than ${uefiInitrdSince}, which boots UEFI hosts\u2019 kernels without their initrd`;
  return `${which}, ${why}: install Debian trixie\u2019s ipxe package (1.21.1+git20250501 or newer) or point pxe.tftp_root at a folder with an iPXE built after ${uefiInitrdSince}; BIOS hosts are not affected`;
}
