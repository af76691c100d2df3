// What we ask xorriso (Debian package `xorriso`) about a Proxmox ISO and how we read its answers: the command lines
// for listing, extracting and rewriting an ISO, and parsers for what it prints. No process is started here.

/** The top of an ISO as `inspectArgs` lists it: its volume UUID and the regular files near the root, with sizes. */
export interface IsoListing {
  uuid: string | null; // 2025112012345600 (the -volume_date uuid of the system area report)
  files: ReadonlyMap<string, number>; // '/boot/initrd.img' → 61234567 bytes (files up to two levels deep)
}

/** Facts of `/.cd-info` (Proxmox's `KEY='value'` lines; the installer lower-cases the keys, ISOEnv.pm get_cd_info). */
export interface CdInfo {
  product: string; // pve
  productLong: string | null; // Proxmox VE
  release: string | null; // 9.1
  isorelease: string | null; // 1
  isoname: string | null; // proxmox-ve
}

/** Marks xorriso's disk paths as plain files, so a path under /dev is never taken for an optical drive. */
export function stdioPath(path: string): string {
  return `stdio:${path}`;
}

/** Arguments listing the system area (for the UUID) and every regular file up to /x/y with its size. */
export function inspectArgs(iso: string): string[] {
  return ['-indev', stdioPath(iso), '-report_system_area', 'cmd', '-find', '/', '-maxdepth', '2', '-type', 'f', '-exec', 'lsdl', '--'];
}

/** Arguments copying ISO files (`[isoPath, diskPath]` pairs) onto the disk. */
export function extractArgs(iso: string, files: ReadonlyArray<readonly [string, string]>): string[] {
  return ['-osirrox', 'on', '-indev', stdioPath(iso), ...files.flatMap(([from, to]) => ['-extract', from, to])];
}

/** Arguments writing the content of one ISO file to standard output (xorriso's messages stay on standard error). */
export function catArgs(iso: string, isoPath: string): string[] {
  return ['-osirrox', 'on', '-indev', stdioPath(iso), '-concat', 'append', '-', isoPath];
}

/**
 * Arguments writing a new ISO from `iso` without `/boot` and with `files` (`[diskPath, isoPath]`) added, keeping the
 * boot records and the volume UUID, as `proxmox-auto-install-assistant prepare-iso --pxe` does (proxmox-cluster.md §3).
 */
export function rewriteArgs(iso: string, target: string, uuid: string | null, files: ReadonlyArray<readonly [string, string]>): string[] {
  const keepUuid = uuid === null ? [] : ['-volume_date', 'uuid', uuid];
  const added = files.flatMap(([from, to]) => ['-map', from, to]);
  return ['-boot_image', 'any', 'keep', ...keepUuid, '-indev', stdioPath(iso), '-outdev', stdioPath(target), '-rm_r', '/boot', '--', ...added];
}

/** Arguments writing a new ISO from an already prepared `iso` with `files` replaced or added, keeping boot records and UUID. */
export function remapArgs(iso: string, target: string, uuid: string | null, files: ReadonlyArray<readonly [string, string]>): string[] {
  const keepUuid = uuid === null ? [] : ['-volume_date', 'uuid', uuid];
  const added = files.flatMap(([from, to]) => ['-map', from, to]);
  return ['-boot_image', 'any', 'keep', ...keepUuid, '-indev', stdioPath(iso), '-outdev', stdioPath(target), ...added];
}

const lsdlLine = /^\S+\s+\d+\s+\S+\s+\S+\s+(\d+)\s+\S+\s+\d+\s+\S+\s+'(.*)'$/;

/** Reads the output of `inspectArgs`. */
export function parseListing(stdout: string): IsoListing {
  let uuid: string | null = null;
  const files = new Map<string, number>();
  for (const line of stdout.split('\n')) {
    // the assistant takes the last token of this line, quotes stripped (get_iso_uuid)
    if (line.startsWith('-volume_date uuid ')) uuid = line.trim().split(' ').at(-1)!.replaceAll("'", '') || null;
    const file = lsdlLine.exec(line);
    if (file) files.set(file[2]!.replaceAll(`'"'"'`, "'"), Number(file[1]));
  }
  return { uuid, files };
}

/** Reads `/.cd-info`; null when it names no product (then it is not a Proxmox installer's). */
export function parseCdInfo(text: string): CdInfo | null {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^(\S+?)=['"]?(.*?)['"]?$/.exec(line.trim());
    if (match) values.set(match[1]!.toLowerCase(), match[2]!);
  }
  const product = values.get('product');
  if (!product) return null;
  const value = (key: string) => values.get(key) || null;
  return { product, productLong: value('productlong'), release: value('release'), isorelease: value('isorelease'), isoname: value('isoname') };
}

/** Compares dotted release numbers: negative when `a` is older than `b` (`'8.1'` < `'8.2'` < `'8.10'`). */
export function compareReleases(a: string, b: string): number {
  const pa = a.split('.').map((p) => Number.parseInt(p, 10) || 0);
  const pb = b.split('.').map((p) => Number.parseInt(p, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
