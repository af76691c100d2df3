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

/** Pino options shared by the service logger and Fastify's request logger. */
export function loggerOptions(level = 'info'): LoggerOptions {
  return { level, redact: { paths: redactPaths, censor: '[redacted]' }, base: { service: 'provisioning' } };
}

/** Creates the service's one logger (JSON lines on stdout, or `destination` in tests). */
export function createLogger(level = 'info', destination?: NodeJS.WritableStream): Logger {
  return destination ? pino(loggerOptions(level), destination) : pino(loggerOptions(level));
}
