// Facts about an X.509 certificate that installers pin and operators read: its SHA-256 fingerprint and the names it
// covers. Pure (Node's certificate parser, no I/O), so the gateway, the banner and the image preparer share one answer.
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';

/**
 * Returns the SHA-256 fingerprint of the first certificate in `pem` (the leaf), upper-case hex pairs with colons
 * (`AB:CD:…`): what proxmox-fetch-answer and proxmox-post-hook compare against (proxmox-cluster.md §3).
 */
export function certificateFingerprint(pem: string | Buffer): string {
  return new X509Certificate(pem).fingerprint256;
}

/** Returns `text` as the installer compares it: hex digits only, upper-case ("ab:cd…" and "ABCD…" are the same). */
export function normalizeFingerprint(text: string): string {
  return text.replace(/:/g, '').toUpperCase();
}

/** True when the DER bytes `raw` of a certificate have the SHA-256 fingerprint `expected` (hex, colons optional, any case). */
export function fingerprintMatches(raw: Buffer, expected: string): boolean {
  return normalizeFingerprint(new X509Certificate(raw).fingerprint256) === normalizeFingerprint(expected);
}

/** True when the certificate in `pem` names `host` (an IP address or DNS name) in its subjectAltName. */
export function certificateCoversHost(pem: string | Buffer, host: string): boolean {
  const cert = new X509Certificate(pem);
  const bare = host.replace(/^\[|\]$/g, '');
  return isIP(bare) !== 0 ? cert.checkIP(bare) !== undefined : cert.checkHost(bare, { subject: 'never' }) !== undefined;
}
