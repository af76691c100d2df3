// GET /api/events (issue 18 item 3): fans the event stream's table out to script clients as SSE, JSON events with
// stable names. It tails stream_events (written by triggers in whichever process made the change), so one poll timer
// serves every client, and it runs only while one is connected. A client resumes with Last-Event-ID: everything after
// that id is sent again, oldest first (what was pruned is gone: ids jump).
import type { SseClient } from '../dashboard/event-hub';
import type { StreamEvent, StreamStore } from '../store/stream-store';

export interface StreamHubOptions {
  pollMs?: number; // 50
  heartbeatMs?: number; // 15 000: a comment line so proxies keep the stream open
  replayLimit?: number; // 10 000 events replayed at most per connect; a client further behind resumes again from the last it got
}

interface Subscriber {
  client: SseClient;
  hostId: number | undefined; // only this host's events (?host=)
}

/** One SSE message: the stream id as the event id, the stable name as the event type, the JSON as data. */
export const sseMessage = (e: StreamEvent): string => `id: ${e.id}\nevent: ${e.name}\ndata: ${JSON.stringify(e)}\n\n`;

export class StreamHub {
  private readonly subscribers = new Set<Subscriber>();
  private cursor = 0;
  private pollTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private readonly o: Required<StreamHubOptions>;

  constructor(
    private readonly stream: StreamStore,
    options: StreamHubOptions = {},
  ) {
    this.o = { pollMs: 50, heartbeatMs: 15_000, replayLimit: 10_000, ...options };
  }

  get clientCount(): number {
    return this.subscribers.size;
  }

  /**
   * Adds a client (after replaying what followed `lastEventId`, if given); returns the function that removes it. The
   * stream opens with `id: <the current position>`, so a client that loses the connection before any event still
   * resumes from where it joined. A replay stops at `replayLimit` events or when the client's buffer is full (it is
   * dropped and comes back with its last id).
   */
  connect(client: SseClient & { full?: () => boolean }, options: { hostId?: number | undefined; lastEventId?: number | undefined } = {}): () => void {
    if (this.subscribers.size === 0) this.cursor = this.stream.maxId();
    client.write(`retry: 2000\nid: ${Math.max(this.cursor, options.lastEventId ?? 0)}\n\n`);
    if (options.lastEventId !== undefined) {
      let sent = 0;
      for (let after = options.lastEventId; after < this.cursor && sent < this.o.replayLimit && !client.full?.(); ) {
        const events = this.stream.since(after, Math.min(1000, this.o.replayLimit - sent), options.hostId).filter((e) => e.id <= this.cursor);
        if (events.length === 0) break;
        client.write(events.map(sseMessage).join(''));
        sent += events.length;
        after = events.at(-1)!.id;
      }
    }
    const subscriber: Subscriber = { client, hostId: options.hostId };
    this.subscribers.add(subscriber);
    this.startTimers();
    let connected = true;
    return () => {
      if (!connected) return;
      connected = false;
      this.subscribers.delete(subscriber);
      if (this.subscribers.size === 0) this.stopTimers();
    };
  }

  /** Reads new rows now and sends each client its own (the timer calls this; tests may too). */
  poll(): void {
    for (;;) {
      const events = this.stream.since(this.cursor, 1000);
      if (events.length === 0) return;
      this.cursor = events.at(-1)!.id;
      const all = events.map(sseMessage);
      const joined = all.join('');
      for (const s of this.subscribers) {
        if (s.hostId === undefined) s.client.write(joined);
        else {
          const mine = events.flatMap((e, i) => (e.host_id === s.hostId ? [all[i]!] : [])).join('');
          if (mine) s.client.write(mine);
        }
      }
    }
  }

  /** Ends every stream (server shutdown). */
  closeAll(): void {
    for (const s of this.subscribers) s.client.end();
    this.subscribers.clear();
    this.stopTimers();
  }

  private startTimers(): void {
    this.pollTimer ??= setInterval(() => {
      try {
        this.poll();
      } catch {
        // e.g. SQLITE_BUSY for longer than busy_timeout: the rows are still there next tick
      }
    }, this.o.pollMs);
    this.heartbeatTimer ??= setInterval(() => {
      for (const s of this.subscribers) s.client.write(`: heartbeat ${new Date().toISOString()}\n\n`);
    }, this.o.heartbeatMs);
  }

  private stopTimers(): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.pollTimer = null;
    this.heartbeatTimer = null;
  }
}
