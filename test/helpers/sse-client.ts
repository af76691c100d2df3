// A small SSE client for tests of GET /api/events: parses messages as they arrive and lets a test await the next one
// that matches (no polling, no sleeps).
import { request, type ClientRequest, type IncomingMessage } from 'node:http';

export interface SseMessage {
  id: string | null;
  event: string;
  data: string;
}

export interface SseStream {
  res: IncomingMessage;
  messages: SseMessage[];
  /** The last event id the stream gave (also an `id:` without data), as EventSource sends it back on a reconnect. */
  lastEventId(): string | null;
  /** The first message (already received or still to come) that matches; rejects after `ms`. */
  next(match: (m: SseMessage) => boolean, ms?: number): Promise<SseMessage>;
  /** Resolves once `count` messages have arrived in all. */
  count(count: number, ms?: number): Promise<SseMessage[]>;
  close(): void;
}

/** Opens `path` on 127.0.0.1:`port` and resolves once the response headers are in. */
export function openSse(port: number, path: string, headers: Record<string, string> = {}): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    const messages: SseMessage[] = [];
    const waiters = new Set<() => void>();
    let buffer = '';
    let lastId: string | null = null; // the last id the stream gave, as EventSource keeps it
    const req: ClientRequest = request({ host: '127.0.0.1', port, path, headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const m: SseMessage = { id: null, event: 'message', data: '' };
          let any = false; // as EventSource: a block without data dispatches nothing (an id alone only sets the last id)
          for (const line of block.split('\n')) {
            const colon = line.indexOf(':');
            if (colon === 0) continue; // a comment (heartbeat)
            const field = colon === -1 ? line : line.slice(0, colon);
            const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'id') {
              m.id = value;
              lastId = value;
            }
            else if (field === 'event') m.event = value;
            else if (field === 'data') {
              m.data = m.data ? `${m.data}\n${value}` : value;
              any = true;
            }
          }
          if (any) messages.push({ ...m, id: m.id ?? lastId });
        }
        for (const w of [...waiters]) w();
      });
      const wait = <T>(test: () => T | undefined, ms: number, what: string) =>
        new Promise<T>((done, fail) => {
          const check = () => {
            const found = test();
            if (found === undefined) return;
            clearTimeout(timer);
            waiters.delete(check);
            done(found);
          };
          const timer = setTimeout(() => {
            waiters.delete(check);
            fail(new Error(`${what} within ${ms} ms; got ${JSON.stringify(messages.map((x) => x.event))}`));
          }, ms);
          waiters.add(check);
          check();
        });
      resolve({
        res,
        messages,
        lastEventId: () => lastId,
        next: (match, ms = 15_000) => wait(() => messages.find(match), ms, 'no matching message'),
        count: (count, ms = 15_000) => wait(() => (messages.length >= count ? messages.slice(0, count) : undefined), ms, `fewer than ${count} messages`),
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
    req.end();
  });
}
