import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HttpError } from '../http-errors';

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * Returns an onRequest hook that requires `Authorization: Bearer <token>` when a token is configured.
 * With an empty token the operator API is open (main.ts logs a warning).
 */
export function requireOperatorToken(token: string) {
  const expected = digest(token);
  return async function operatorAuth(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    if (token === '') return;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match) throw new HttpError(401, 'unauthorized', 'missing Authorization: Bearer <token> header (server.api_token is set)');
    if (!timingSafeEqual(digest(match[1]!.trim()), expected)) throw new HttpError(401, 'unauthorized', 'invalid API token');
  };
}
