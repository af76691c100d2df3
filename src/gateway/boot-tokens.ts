import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/**
 * Per-rebuild boot tokens: HMAC-SHA256 of the rebuild's run id under a key derived from the key-encryption key.
 * Nothing to store; a token is valid only for the host's *running* rebuild, so one from a finished or another
 * rebuild never matches.
 */
export class BootTokens {
  private readonly key: Buffer;

  constructor(secret: Buffer) {
    this.key = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'provisioning boot tokens v1', 32));
  }

  /** The token of rebuild run `runId` (43 URL-safe characters). */
  tokenFor(runId: string): string {
    return createHmac('sha256', this.key).update(`boot:${runId}`).digest('base64url');
  }

  /** True when `token` belongs to run `runId`. Constant-time. */
  verify(token: string | undefined, runId: string): boolean {
    if (!token) return false;
    const expected = Buffer.from(this.tokenFor(runId));
    const given = Buffer.from(token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
