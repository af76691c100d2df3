// A prepared image carries the answer URL and the certificate fingerprint it was prepared with, baked into its ISO.
// When server.public_url (or server.tls.public_url) or the HTTPS certificate changes, its installer would ask the old
// address or pin the old certificate, and fail: such an image is stale until it is prepared again.
import type { BootImage } from './image-library';

/** Where answers are served now: what a preparation today would write into an ISO. */
export interface AnswerSettings {
  answerUrl: string; // http://192.168.1.100:8080/api/boot/answer, or the HTTPS one with server.tls
  certFingerprint: string | null; // the HTTPS certificate's, with server.tls
  plainAnswerUrl?: string; // the plain HTTP one (<server.public_url>/api/boot/answer), which answers with server.tls too
}

/** Why `image` no longer matches `now` (empty: it does); null for an image we did not prepare (nothing to compare). */
export function staleReasons(image: Pick<BootImage, 'metadata'>, now: AnswerSettings): string[] | null {
  const m = image.metadata;
  if (!m) return null;
  const reasons: string[] = [];
  if (m.answerUrl !== now.answerUrl) reasons.push(`its installer asks ${m.answerUrl} for the answer, but answers are now at ${now.answerUrl}`);
  if (m.certFingerprint !== now.certFingerprint) {
    if (now.certFingerprint === null) reasons.push(`it pins certificate ${m.certFingerprint}, but answers are no longer served over HTTPS`);
    else if (m.certFingerprint === null) reasons.push(`it pins no certificate, but the boot API's HTTPS certificate is ${now.certFingerprint}`);
    else reasons.push(`it pins certificate ${m.certFingerprint}, but the boot API now serves ${now.certFingerprint}`);
  }
  return reasons;
}

/** The names of the stale images among `images`. */
export function staleImages(images: readonly Pick<BootImage, 'name' | 'metadata'>[], now: AnswerSettings): string[] {
  return images.filter((i) => (staleReasons(i, now) ?? []).length > 0).map((i) => i.name);
}

/**
 * Whether the installer of `image` cannot fetch its answer now: it asks a URL nothing answers at, or pins a certificate
 * the boot API does not serve. A stale image that asks the plain HTTP URL of now still works (unpinned).
 */
export function cannotFetchAnswer(image: Pick<BootImage, 'metadata'>, now: AnswerSettings): boolean {
  const m = image.metadata;
  if (!m) return false;
  if (m.answerUrl === now.answerUrl) return m.certFingerprint !== now.certFingerprint;
  return m.answerUrl !== now.plainAnswerUrl;
}

/** The names of the images among `images` whose installers cannot fetch an answer now. */
export function brokenImages(images: readonly Pick<BootImage, 'name' | 'metadata'>[], now: AnswerSettings): string[] {
  return images.filter((i) => cannotFetchAnswer(i, now)).map((i) => i.name);
}
