// reprepareImage: an image prepared for one answer URL and certificate, prepared again for new ones from its own ISO.
// Real: xorriso, the file system.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseImageMetadata } from '../../src/images/image-library';
import { imageTokenSha256 } from '../../src/images/image-token';
import { ImagePreparationError, prepareImage, reprepareImage } from '../../src/images/iso-preparer';
import { buildSyntheticIso, isoFiles, isoFileText, isoUuid, type SyntheticIso } from '../helpers/synthetic-iso';
import { tempDir } from '../helpers/temp-dir';

const oldUrl = 'http://192.0.2.10:8080/api/boot/answer';
const newUrl = 'https://192.0.2.20:8443/api/boot/answer';
const fingerprint = 'AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89';
const token = 'provisioning:kept-across-preparations';
const scratch = tempDir('reprepare-test-');
let iso: SyntheticIso;
let n = 0;

beforeAll(() => {
  mkdirSync(join(scratch.path, 'iso'));
  iso = buildSyntheticIso(join(scratch.path, 'iso'), { file: 'proxmox-ve_9.2-1.iso', release: '9.2' });
}, 60_000);
afterAll(() => scratch.remove());

async function prepared(): Promise<string> {
  const dir = join(scratch.path, `images-${++n}`);
  mkdirSync(dir);
  await prepareImage({ iso: iso.path, imagesDir: dir, answerUrl: oldUrl, token });
  return dir;
}

const metadataOf = (dir: string) => parseImageMetadata(readFileSync(join(dir, 'pve-9.2-1', 'image.json'), 'utf8'))!;

describe('reprepareImage', () => {
  it('writes the new answer URL and fingerprint into the ISO, keeping its UUID, token, kernel and initrd', async () => {
    const dir = await prepared();
    const before = metadataOf(dir);
    const folder = join(dir, 'pve-9.2-1');
    const kernel = readFileSync(join(folder, 'vmlinuz'));
    const initrd = readFileSync(join(folder, 'initrd.img'));
    const steps = new Set<string>();
    const image = await reprepareImage({ imagesDir: dir, name: 'pve-9.2-1', answerUrl: newUrl, certFingerprint: fingerprint, onProgress: (p) => steps.add(p.step), now: () => new Date('2026-12-02T13:00:00.000Z') });
    const isoPath = join(folder, 'proxmox-ve_9.2-1-auto-from-http.iso');
    expect(isoFileText(isoPath, '/auto-installer-mode.toml')).toBe(`mode = "http"\n\n[http]\nurl = "${newUrl}"\ncert_fingerprint = "${fingerprint}"\ntoken = "${token}"\n`);
    expect(isoUuid(isoPath)).toBe(iso.uuid);
    expect([...isoFiles(isoPath).keys()].some((f) => f.startsWith('/boot/'))).toBe(false);
    expect(readFileSync(join(folder, 'vmlinuz'))).toEqual(kernel);
    expect(readFileSync(join(folder, 'initrd.img'))).toEqual(initrd);
    expect(image.metadata).toEqual({ ...before, answerUrl: newUrl, certFingerprint: fingerprint, preparedAt: '2026-12-02T13:00:00.000Z', tokenSha256: imageTokenSha256(token) });
    expect(metadataOf(dir)).toEqual(image.metadata);
    expect(readdirSync(dir)).toEqual(['pve-9.2-1']); // no work or replaced folder left
    expect(readdirSync(folder).sort()).toEqual(['image.json', 'initrd.img', 'proxmox-ve_9.2-1-auto-from-http.iso', 'vmlinuz']);
    expect([...steps]).toEqual(['inspect', 'iso', 'finish']);
  });

  it('refuses an image it did not prepare, and one that is not there, changing nothing', async () => {
    const dir = join(scratch.path, `images-${++n}`);
    mkdirSync(join(dir, 'by-hand'), { recursive: true });
    for (const f of ['vmlinuz', 'initrd.img', 'pve.iso']) writeFileSync(join(dir, 'by-hand', f), f);
    const handMade = await reprepareImage({ imagesDir: dir, name: 'by-hand', answerUrl: newUrl }).catch((e: unknown) => e);
    expect(handMade).toBeInstanceOf(ImagePreparationError);
    expect(handMade).toMatchObject({ code: 'invalid_input', message: 'image by-hand was not prepared by this service (it has no image.json): prepare it again from its ISO' });
    const missing = await reprepareImage({ imagesDir: dir, name: 'pve-0', answerUrl: newUrl }).catch((e: unknown) => e);
    expect(missing).toMatchObject({ code: 'source_not_found', message: `no image pve-0 in ${dir}` });
    expect(readdirSync(dir)).toEqual(['by-hand']);
  });

  it('leaves the image as it was when the new values are refused or the work is cancelled', async () => {
    const dir = await prepared();
    const before = readFileSync(join(dir, 'pve-9.2-1', 'image.json'), 'utf8');
    const bad = await reprepareImage({ imagesDir: dir, name: 'pve-9.2-1', answerUrl: oldUrl, certFingerprint: fingerprint }).catch((e: unknown) => e);
    expect(bad).toMatchObject({ code: 'invalid_input', field: 'cert_fingerprint' });
    const cancel = new AbortController();
    const aborted = reprepareImage({ imagesDir: dir, name: 'pve-9.2-1', answerUrl: newUrl, signal: cancel.signal, onProgress: (p) => p.step === 'iso' && cancel.abort() });
    await expect(aborted).rejects.toMatchObject({ code: 'aborted' });
    expect(readFileSync(join(dir, 'pve-9.2-1', 'image.json'), 'utf8')).toBe(before);
    expect(readdirSync(dir)).toEqual(['pve-9.2-1']);
    expect(isoFileText(join(dir, 'pve-9.2-1', 'proxmox-ve_9.2-1-auto-from-http.iso'), '/auto-installer-mode.toml')).toContain(oldUrl);
  });
});
