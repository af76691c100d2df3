import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HttpError } from '../http-errors';
import { readCookie, sessionCookie, type DashboardSessions } from './dashboard-sessions';

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * Returns an onRequest hook that requires `Authorization: Bearer <token>` when a token is configured, or a dashboard
 * session cookie (plus its CSRF token on anything but GET/HEAD). With an empty token the operator API is open
 * (main.ts logs a warning).
 */
export function requireOperatorToken(token: string, sessions?: DashboardSessions) {
  const expected = digest(token);
  return async function operatorAuth(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    if (token === '') return;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    const session = readCookie(request.headers.cookie, sessionCookie);
    if (!match && sessions && session && sessions.verify(session)) {
      const csrf = request.headers['x-csrf-token'];
      if (['GET', 'HEAD'].includes(request.method) || sessions.verifyCsrf(session, typeof csrf === 'string' ? csrf : undefined)) return;
      throw new HttpError(403, 'csrf_token_invalid', 'missing or wrong x-csrf-token header for this dashboard session (reload the page)');
    }
    if (!match) throw new HttpError(401, 'unauthorized', 'missing Authorization: Bearer <token> header (server.api_token is set)');
    if (!timingSafeEqual(digest(match[1]!.trim()), expected)) throw new HttpError(401, 'unauthorized', 'invalid API token');
  };
}
