import { pino, type Logger, type LoggerOptions } from 'pino';

/** Paths pino censors wherever they appear in a log object: tokens, passwords, keys. */
export const redactPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'token',
  '*.token',
  'password',
  '*.password',
  'joinPassword',
  '*.joinPassword',
  'apiToken',
  '*.apiToken',
  'privateKey',
  '*.privateKey',
  'keyEncryptionKey',
  '*.keyEncryptionKey',
];

export type { Logger };

/** Replaces the value of any `token` query parameter: boot URLs carry per-rebuild tokens. */
export function redactUrl(url: string): string {
  return url.replace(/([?&]token=)[^&#]*/gi, '$1[redacted]');
}

interface LoggedRequest {
  method?: string;
  url?: string;
  hostname?: string;
  host?: string;
  ip?: string;
  socket?: { remotePort?: number };
}

/** How a Fastify request appears in the log: method, URL without secrets, host and peer. */
export function serializeRequest(req: LoggedRequest) {
  return { method: req.method, url: req.url ? redactUrl(req.url) : req.url, host: req.host ?? req.hostname, remoteAddress: req.ip, remotePort: req.socket?.remotePort };
}

/** Pino options shared by the service logger and Fastify's request logger. */
export function loggerOptions(level = 'info'): LoggerOptions {
  return {
    level,
    redact: { paths: redactPaths, censor: '[redacted]' },
    base: { service: 'provisioning' },
    serializers: { req: serializeRequest },
  };
}

/** Creates the service's one logger (JSON lines on stdout, or `destination` in tests). */
export function createLogger(level = 'info', destination?: NodeJS.WritableStream): Logger {
  return destination ? pino(loggerOptions(level), destination) : pino(loggerOptions(level));
}
