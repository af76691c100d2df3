// A prepared image carries the answer URL and the certificate fingerprint it was prepared with, baked into its ISO.
// When server.public_url (or server.tls.public_url) or the HTTPS certificate changes, its installer would ask the old
// address or pin the old certificate, and fail: such an image is stale until it is prepared again.
import type { BootImage } from './image-library';

/** Where answers are served now: what a preparation today would write into an ISO. */
export interface AnswerSettings {
  answerUrl: string; // http://192.168.1.100:8080/api/boot/answer, or the HTTPS one with server.tls
  certFingerprint: string | null; // the HTTPS certificate's, with server.tls
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
