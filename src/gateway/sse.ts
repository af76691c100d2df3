// One way to answer with Server-Sent Events: the dashboard's /events and /images/events and the scripts' /api/events.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { SseClient } from '../dashboard/event-hub';

/** A stream to one client: writes drop a client that stopped reading instead of buffering without bound. */
export interface SseStream extends SseClient {
  full(): boolean; // gone, or `maxBuffered` bytes waiting
  onClose(stop: () => void): void; // the client left or the stream ended
}

/** Takes the reply over and sends the event-stream headers; null when the client left before the stream began. */
export function openSseStream(request: FastifyRequest, reply: FastifyReply, maxBuffered = 1024 * 1024): SseStream | null {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  if (res.destroyed || request.raw.destroyed) return null;
  return {
    write: (chunk) => {
      if (res.writableLength > maxBuffered) res.destroy();
      else res.write(chunk);
    },
    end: () => res.end(),
    full: () => res.destroyed || res.writableLength > maxBuffered,
    onClose: (stop) => {
      request.raw.on('close', stop);
      res.on('close', stop);
    },
  };
}
