import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** A Proxmox release prepared for network boot (proxmox.md §5): one folder with kernel, gzip initrd and ISO. */
export interface BootImage {
  name: string; // pve-9.1
  kernel: string; // vmlinuz
  initrd: string; // initrd.img
  iso: string; // proxmox-ve_9.1-auto-from-http.iso
  sizes: { kernel: number; initrd: number; iso: number };
  modifiedAt: string;
}

const namePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The boot images under one directory: `<dir>/<name>/{vmlinuz, initrd.img, *.iso}`. Read on each call, so a new image needs no restart. */
export class ImageLibrary {
  private cache: { at: number; images: BootImage[] } | null = null;

  /** `maxAgeMs`: how long a directory listing is reused (a PXE storm must not stat the disk per request). */
  constructor(
    readonly dir: string,
    private readonly maxAgeMs = 2_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Every complete image, newest name last (natural order: pve-8.4 < pve-9.1 < pve-9.10); at most `maxAgeMs` old. */
  list(): BootImage[] {
    const now = this.now();
    if (this.cache && now - this.cache.at < this.maxAgeMs) return this.cache.images;
    const images = this.scan();
    this.cache = { at: now, images };
    return images;
  }

  private scan(): BootImage[] {
    let entries: string[];
    try {
      entries = readdirSync(this.dir);
    } catch {
      return [];
    }
    const images: BootImage[] = [];
    for (const name of entries) {
      if (!namePattern.test(name)) continue;
      const folder = join(this.dir, name);
      try {
        if (!statSync(folder).isDirectory()) continue;
        const files = readdirSync(folder);
        const iso = files.filter((f) => f.endsWith('.iso')).sort()[0];
        if (!files.includes('vmlinuz') || !files.includes('initrd.img') || !iso) continue;
        const size = (f: string) => statSync(join(folder, f)).size;
        images.push({
          name,
          kernel: 'vmlinuz',
          initrd: 'initrd.img',
          iso,
          sizes: { kernel: size('vmlinuz'), initrd: size('initrd.img'), iso: size(iso) },
          modifiedAt: statSync(folder).mtime.toISOString(),
        });
      } catch {
        continue; // vanished or unreadable meanwhile
      }
    }
    return images.sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
  }

  /** The image named `name`, or the newest when `name` is null. */
  choose(name: string | null): BootImage | undefined {
    const images = this.list();
    return name === null ? images.at(-1) : images.find((i) => i.name === name);
  }
}
