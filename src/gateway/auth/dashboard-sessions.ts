import { createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

export const sessionCookie = 'provisioning_session';
const lifetimeMs = 12 * 3600 * 1000;

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Dashboard logins when server.api_token is set: the token is exchanged once for an HttpOnly session cookie
 * (`<expiry>.<hmac>`, stateless, 12 h); unsafe requests made with the cookie must also carry the page's CSRF token.
 * Changing the API token invalidates every session.
 */
export class DashboardSessions {
  private readonly key: Buffer;

  constructor(
    private readonly apiToken: string,
    secret: Buffer,
    private readonly now: () => number = Date.now,
  ) {
    const salt = createHash('sha256').update(apiToken).digest();
    this.key = Buffer.from(hkdfSync('sha256', secret, salt, 'provisioning dashboard sessions v1', 32));
  }

  /** True when dashboard logins are needed at all. */
  get enabled(): boolean {
    return this.apiToken !== '';
  }

  /** True when `token` is the API token. */
  checkToken(token: string): boolean {
    const digest = (t: string) => createHash('sha256').update(t).digest('hex');
    return this.enabled && safeEqual(digest(token), digest(this.apiToken));
  }

  /** A new session cookie value. */
  issue(): string {
    const expiry = String(this.now() + lifetimeMs);
    return `${expiry}.${this.mac(`session:${expiry}`)}`;
  }

  /** True for an unexpired session of the current API token. */
  verify(value: string | undefined): boolean {
    if (!value) return false;
    const [expiry, mac] = value.split('.');
    if (!expiry || !mac || !/^\d+$/.test(expiry) || Number(expiry) < this.now()) return false;
    return safeEqual(mac, this.mac(`session:${expiry}`));
  }

  /** The CSRF token of a session (embedded in its pages, sent back as x-csrf-token). */
  csrfFor(session: string): string {
    return this.mac(`csrf:${session}`);
  }

  verifyCsrf(session: string, token: string | undefined): boolean {
    return token !== undefined && safeEqual(token, this.csrfFor(session));
  }

  private mac(text: string): string {
    return createHmac('sha256', this.key).update(text).digest('base64url');
  }
}

/** The value of cookie `name` in a Cookie header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k !== name) continue;
    try {
      return decodeURIComponent(v.join('='));
    } catch {
      return undefined; // a malformed cookie is no session
    }
  }
  return undefined;
}
