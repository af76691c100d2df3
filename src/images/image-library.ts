import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** A Proxmox release prepared for network boot (proxmox.md §5): one folder with kernel, gzip initrd and ISO. */
export interface BootImage {
  name: string; // pve-9.1-1
  kernel: string; // vmlinuz
  initrd: string; // initrd.img
  iso: string; // proxmox-ve_9.1-1-auto-from-http.iso
  sizes: { kernel: number; initrd: number; iso: number };
  modifiedAt: string;
  metadata: ImageMetadata | null; // from image.json; null for a folder made by hand (or with Proxmox's assistant)
}

/** What `prepareImage` records about an image in its `image.json`. */
export interface ImageMetadata {
  product: string; // pve
  productLong: string | null; // Proxmox VE
  release: string | null; // 9.1
  isorelease: string | null; // 1
  isoUuid: string | null; // 2025112012345600: the stock ISO's volume UUID, kept in the prepared one
  source: { file: string; size: number; sha256: string }; // the stock ISO: proxmox-ve_9.1-1.iso
  preparedAt: string; // ISO 8601
  answerUrl: string; // http://192.168.1.100:8080/api/boot/answer, as written into /auto-installer-mode.toml
  certFingerprint: string | null; // [http] cert_fingerprint, when answers are served over HTTPS
  tokenSha256: string | null; // SHA-256 (hex) of the [http] token written into the ISO; the token itself is not kept here
  files: { kernel: string; initrd: string; iso: string };
}

/** The metadata file in a prepared image's folder (never served: only the kernel, initrd and ISO are). */
export const imageMetadataFile = 'image.json';

const namePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Whether `name` can name an image folder: a letter or digit first, then letters, digits, `.`, `_`, `-` (64 at most). */
export function isImageName(name: string): boolean {
  return namePattern.test(name);
}

/** Renders `image.json` (snake_case keys, like the API). */
export function imageMetadataJson(m: ImageMetadata): string {
  const body = {
    format: 1,
    product: m.product,
    product_long: m.productLong,
    release: m.release,
    isorelease: m.isorelease,
    iso_uuid: m.isoUuid,
    source: m.source,
    prepared_at: m.preparedAt,
    answer_url: m.answerUrl,
    cert_fingerprint: m.certFingerprint,
    token_sha256: m.tokenSha256,
    files: m.files,
  };
  return `${JSON.stringify(body, null, 2)}\n`;
}

/** Reads `image.json` text; null when it is not one we wrote (then the folder counts as hand-made). */
export function parseImageMetadata(text: string): ImageMetadata | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  const j = raw as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'string' ? v : null);
  const source = j.source as Record<string, unknown> | undefined;
  const files = j.files as Record<string, unknown> | undefined;
  if (j.format !== 1 || typeof j.product !== 'string' || typeof j.answer_url !== 'string' || typeof j.prepared_at !== 'string') return null;
  if (!source || typeof source.file !== 'string' || typeof source.size !== 'number' || typeof source.sha256 !== 'string') return null;
  if (!files || typeof files.kernel !== 'string' || typeof files.initrd !== 'string' || typeof files.iso !== 'string') return null;
  return {
    product: j.product,
    productLong: str(j.product_long),
    release: str(j.release),
    isorelease: str(j.isorelease),
    isoUuid: str(j.iso_uuid),
    source: { file: source.file, size: source.size, sha256: source.sha256 },
    preparedAt: j.prepared_at,
    answerUrl: j.answer_url,
    certFingerprint: str(j.cert_fingerprint),
    tokenSha256: str(j.token_sha256),
    files: { kernel: files.kernel, initrd: files.initrd, iso: files.iso },
  };
}

/**
 * The boot images under one directory: `<dir>/<name>/{vmlinuz, initrd.img, *.iso}`, with `image.json` when
 * `prepareImage` made it. Read on each call, so a new image needs no restart. Folders whose name starts with a dot
 * (a preparation in progress, `.preparing-<name>`) are never images.
 */
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

  /** Forgets the cached listing: the next list() reads the folder (after an image was added or deleted here). */
  invalidate(): void {
    this.cache = null;
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
      if (!isImageName(name)) continue;
      const folder = join(this.dir, name);
      try {
        if (!statSync(folder).isDirectory()) continue;
        const files = readdirSync(folder);
        const metadata = files.includes(imageMetadataFile) ? parseImageMetadata(readFileSync(join(folder, imageMetadataFile), 'utf8')) : null;
        const recorded = metadata && files.includes(metadata.files.iso) ? metadata.files.iso : undefined;
        const iso = recorded ?? files.filter((f) => f.endsWith('.iso')).sort()[0];
        if (!files.includes('vmlinuz') || !files.includes('initrd.img') || !iso) continue;
        const size = (f: string) => statSync(join(folder, f)).size;
        images.push({
          name,
          kernel: 'vmlinuz',
          initrd: 'initrd.img',
          iso,
          sizes: { kernel: size('vmlinuz'), initrd: size('initrd.img'), iso: size(iso) },
          modifiedAt: statSync(folder).mtime.toISOString(),
          metadata,
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
