// dnsmasq serves TFTP as nobody: the firmware's iPXE binaries must be readable by others, and every folder above them
// searchable, or dnsmasq refuses to start and no host gets an address (a checkout under a private home, mktemp -d).
import { statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** Why `nobody` cannot read `file` in `folder`, or null (checked by mode bits; root-owned files are the usual case). */
export function unreadableByOthers(folder: string, file: string): string | null {
  const target = join(resolve(folder), file);
  let dir = dirname(target);
  const dirs: string[] = [];
  for (;;) {
    dirs.unshift(dir);
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  for (const d of dirs) {
    const mode = statSync(d).mode;
    if ((mode & 0o001) === 0) return `${d} (mode ${(mode & 0o777).toString(8).padStart(4, '0')}) is not searchable by others`;
  }
  const mode = statSync(target).mode; // follows a symlink, as dnsmasq does
  if ((mode & 0o004) === 0) return `${target} (mode ${(mode & 0o777).toString(8).padStart(4, '0')}) is not readable by others`;
  return null;
}
