// The answer token of a prepared image: written into the ISO's /auto-installer-mode.toml ([http] token), sent by a
// 9.2+ installer as "Authorization: Bearer <token>" when it fetches its answer. It sits in an ISO that is served to
// the LAN, so it is one per image and proves little on its own; the answer endpoint requires it from the hosts that
// image was served to, on top of the host's running rebuild. Only its SHA-256 is kept (image.json).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A new token, `provisioning:<secret>` (name:secret, the installer's format). */
export function newImageToken(): string {
  return `provisioning:${randomBytes(24).toString('base64url')}`;
}

/** The SHA-256 (hex) that image.json keeps of a token. */
export function imageTokenSha256(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(header: string | undefined): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match ? match[1]! : null;
}

/** Whether `token` is the one whose SHA-256 is `sha256` (constant time). */
export function imageTokenMatches(sha256: string, token: string | null): boolean {
  if (token === null) return false;
  const expected = Buffer.from(sha256, 'hex');
  const actual = createHash('sha256').update(token).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
