import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError } from '../domain/errors';
import { redactUrl } from '../logging';

/** HTTP status of each domain error code; codes not listed are 400. */
const statusOf: Record<string, number> = {
  invalid_request: 400,
  unauthorized: 401,
  host_not_found: 404,
  not_found: 404,
  duplicate_mac: 409,
  duplicate_hostname: 409,
  rebuild_in_progress: 409,
  rebuild_finishing: 409,
  host_busy: 409,
  no_active_rebuild: 409,
  illegal_transition: 409,
  not_configured: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
};

/** The one error body every API error uses. */
export interface ErrorBody {
  error: { code: string; message: string; field?: string };
}

export function errorBody(code: string, message: string, field?: string): ErrorBody {
  return { error: field === undefined ? { code, message } : { code, message, field } };
}

/** Thrown by routes for a deliberate HTTP error that is not a domain rule (e.g. a missing token). */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

function fieldOf(err: FastifyError): string | undefined {
  const first = err.validation?.[0];
  if (!first) return undefined;
  const path = first.instancePath.replace(/^\//, '').replace(/\//g, '.');
  const missing = (first.params as { missingProperty?: string; additionalProperty?: string } | undefined) ?? {};
  const extra = missing.missingProperty ?? missing.additionalProperty;
  if (extra) return path ? `${path}.${extra}` : extra;
  return path || undefined;
}

/** Fastify error handler: deliberate errors keep their code; anything else is logged and answered generically. */
export function handleError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const err = error as FastifyError;
  if (error instanceof DomainError) {
    return reply.status(statusOf[error.code] ?? 400).send(errorBody(error.code, error.message, error.field));
  }
  if (error instanceof HttpError) {
    return reply.status(error.statusCode).send(errorBody(error.code, error.message, error.field));
  }
  if (err.validation) {
    const field = fieldOf(err);
    const where = err.validationContext ?? 'request';
    const message = `${where}${field ? ` field ${field}` : ''}: ${err.validation[0]?.message ?? err.message}`;
    return reply.status(400).send(errorBody('invalid_request', message, field));
  }
  const status = err.statusCode ?? 500;
  if (status === 413) return reply.status(413).send(errorBody('payload_too_large', 'request body is too large'));
  if (status === 415) return reply.status(415).send(errorBody('unsupported_media_type', err.message));
  if (status >= 400 && status < 500) {
    return reply.status(status).send(errorBody('invalid_request', err.message.replace(/^FST_\w+: /, '')));
  }
  request.log.error({ err, method: request.method, url: redactUrl(request.url) }, 'request failed');
  return reply.status(500).send(errorBody('internal', 'internal error; the server log has the details'));
}
