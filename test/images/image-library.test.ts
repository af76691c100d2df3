// ImageLibrary over a real folder: hand-made images, prepared ones with image.json, folders that are not images.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ImageLibrary, imageMetadataJson, parseImageMetadata, type ImageMetadata } from '../../src/images/image-library';
import { tempDir } from '../helpers/temp-dir';

const metadata: ImageMetadata = {
  product: 'pve',
  productLong: 'Proxmox VE',
  release: '9.1',
  isorelease: '1',
  isoUuid: '2025112012345600',
  source: { file: 'proxmox-ve_9.1-1.iso', size: 1_500_000_000, sha256: 'ab'.repeat(32) },
  preparedAt: '2026-12-02T10:00:00.000Z',
  answerUrl: 'http://192.0.2.10:8080/api/boot/answer',
  certFingerprint: null,
  tokenSha256: null,
  files: { kernel: 'vmlinuz', initrd: 'initrd.img', iso: 'proxmox-ve_9.1-1-auto-from-http.iso' },
};

let dir: { path: string; remove: () => void };
beforeEach(() => {
  dir = tempDir('image-library-test-');
});
afterEach(() => dir.remove());

function image(name: string, files: Record<string, string>): void {
  mkdirSync(join(dir.path, name));
  for (const [file, content] of Object.entries(files)) writeFileSync(join(dir.path, name, file), content);
}

describe('ImageLibrary', () => {
  it('lists a hand-made image without metadata', () => {
    image('pve-9.1', { vmlinuz: 'k', 'initrd.img': 'i', 'proxmox-ve_9.1.iso': 'iso' });
    expect(new ImageLibrary(dir.path).list()).toEqual([
      expect.objectContaining({ name: 'pve-9.1', iso: 'proxmox-ve_9.1.iso', sizes: { kernel: 1, initrd: 1, iso: 3 }, metadata: null }),
    ]);
  });

  it('reads image.json and serves the ISO it names', () => {
    image('pve-9.1-1', { vmlinuz: 'k', 'initrd.img': 'i', 'a-first.iso': 'other', 'proxmox-ve_9.1-1-auto-from-http.iso': 'iso', 'image.json': imageMetadataJson(metadata) });
    const [listed] = new ImageLibrary(dir.path).list();
    expect(listed).toMatchObject({ name: 'pve-9.1-1', iso: 'proxmox-ve_9.1-1-auto-from-http.iso', metadata });
  });

  it('treats an unreadable image.json as none', () => {
    image('pve-9.1', { vmlinuz: 'k', 'initrd.img': 'i', 'p.iso': 'iso', 'image.json': '{"format": 1, "product": ' });
    expect(new ImageLibrary(dir.path).list()[0]).toMatchObject({ name: 'pve-9.1', iso: 'p.iso', metadata: null });
  });

  it('ignores a preparation in progress and other dot-folders', () => {
    image('.preparing-pve-9.2-1', { vmlinuz: 'k', 'initrd.img': 'i', 'p.iso': 'iso' });
    image('pve-9.1', { vmlinuz: 'k', 'initrd.img': 'i', 'p.iso': 'iso' });
    expect(new ImageLibrary(dir.path).list().map((i) => i.name)).toEqual(['pve-9.1']);
  });
});

describe('image.json', () => {
  it('round-trips with snake_case keys', () => {
    const text = imageMetadataJson(metadata);
    expect(JSON.parse(text)).toMatchObject({ format: 1, product_long: 'Proxmox VE', iso_uuid: '2025112012345600', answer_url: metadata.answerUrl, token_sha256: null });
    expect(parseImageMetadata(text)).toEqual(metadata);
  });

  it.each([['[]'], ['{"format": 2}'], ['not json']])('rejects %s', (text) => {
    expect(parseImageMetadata(text)).toBeNull();
  });
});
