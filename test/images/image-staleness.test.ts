// staleReasons: what makes a prepared image's installer fail to fetch its answer.
import { describe, expect, it } from 'vitest';
import type { ImageMetadata } from '../../src/images/image-library';
import { brokenImages, cannotFetchAnswer, staleImages, staleReasons } from '../../src/images/image-staleness';

const fpA = 'AA:'.repeat(31) + 'AA';
const fpB = 'BB:'.repeat(31) + 'BB';
const http = 'http://192.0.2.10:8080/api/boot/answer';
const https = 'https://192.0.2.10:8443/api/boot/answer';
const image = (answerUrl: string, certFingerprint: string | null) => ({
  name: 'pve-9.2-1',
  metadata: { answerUrl, certFingerprint } as ImageMetadata,
});

describe('staleReasons', () => {
  it('finds nothing when the URL and certificate are those of now', () => {
    expect(staleReasons(image(http, null), { answerUrl: http, certFingerprint: null })).toEqual([]);
    expect(staleReasons(image(https, fpA), { answerUrl: https, certFingerprint: fpA })).toEqual([]);
  });

  it('names a changed answer URL and a changed, added or dropped certificate', () => {
    expect(staleReasons(image(https, fpA), { answerUrl: https, certFingerprint: fpB })).toEqual([`it pins certificate ${fpA}, but the boot API now serves ${fpB}`]);
    expect(staleReasons(image(http, null), { answerUrl: https, certFingerprint: fpB })).toEqual([
      `its installer asks ${http} for the answer, but answers are now at ${https}`,
      `it pins no certificate, but the boot API's HTTPS certificate is ${fpB}`,
    ]);
    expect(staleReasons(image(https, fpA), { answerUrl: http, certFingerprint: null })).toEqual([
      `its installer asks ${https} for the answer, but answers are now at ${http}`,
      `it pins certificate ${fpA}, but answers are no longer served over HTTPS`,
    ]);
  });

  it('cannot tell for an image made by hand', () => {
    expect(staleReasons({ metadata: null }, { answerUrl: http, certFingerprint: null })).toBeNull();
    expect(staleImages([{ name: 'by-hand', metadata: null }, image(http, null), { ...image(https, fpA), name: 'old' }], { answerUrl: http, certFingerprint: null })).toEqual(['old']);
  });
});

describe('cannotFetchAnswer', () => {
  const withTls = { answerUrl: https, certFingerprint: fpA, plainAnswerUrl: http };
  it('tells a stale image that still answers (plain HTTP of now) from one that cannot', () => {
    expect(cannotFetchAnswer(image(http, null), withTls)).toBe(false); // stale: not pinned yet, but answered
    expect(staleReasons(image(http, null), withTls)?.length).toBeGreaterThan(0);
    expect(cannotFetchAnswer(image(https, fpA), withTls)).toBe(false);
    expect(cannotFetchAnswer(image(https, fpB), withTls)).toBe(true); // pins another certificate
    expect(cannotFetchAnswer(image('http://192.0.2.99:8080/api/boot/answer', null), withTls)).toBe(true); // nobody answers there
    expect(cannotFetchAnswer(image(https, fpA), { answerUrl: http, certFingerprint: null })).toBe(true); // TLS turned off
    expect(cannotFetchAnswer({ metadata: null }, withTls)).toBe(false);
    expect(brokenImages([image(http, null), { ...image(https, fpB), name: 'old-cert' }], withTls)).toEqual(['old-cert']);
  });
});
