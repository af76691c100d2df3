// Fans host changes out to SSE clients. It tails the feed table (written by SQLite triggers), so changes made by a
// worker in another process reach the gateway's clients too; one poll and one heartbeat timer serve every client,
// and both stop when the last client leaves.
import type { FeedRow, FeedStore } from '../store/feed-store';

/** One connected browser. */
export interface SseClient {
  write(chunk: string | Buffer): void;
  end(): void;
}

/** What a client receives for a host: its new tile, or that it is gone. */
export type HostUpdate = { hostId: number; deleted: true } | { hostId: number; state: string; tile: string };

export interface EventHubOptions {
  pollMs?: number; // 25: an indexed "id > ?" query, cheap enough to keep latency low across processes
  heartbeatMs?: number; // 15 000: a comment line so proxies keep the stream open
  replayLimit?: number; // 1 000 feed rows; a client further behind is told to reload
  keepRows?: number; // 10 000 feed rows retained
}

export class EventHub {
  private readonly clients = new Set<SseClient>();
  private cursor: number;
  private pollTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private polls = 0;
  private readonly o: Required<EventHubOptions>;

  constructor(
    private readonly feed: FeedStore,
    private readonly render: (hostId: number) => HostUpdate,
    options: EventHubOptions = {},
  ) {
    this.o = { pollMs: 25, heartbeatMs: 15_000, replayLimit: 1_000, keepRows: 10_000, ...options };
    this.cursor = feed.maxId();
  }

  /** Connected clients (for tests and /readyz). */
  get clientCount(): number {
    return this.clients.size;
  }

  /** Whether the hub's timers are running (they only run while someone listens). */
  get timersRunning(): boolean {
    return this.pollTimer !== null || this.heartbeatTimer !== null;
  }

  /** Adds a client, replaying what it missed after `lastEventId`; returns the function that removes it. */
  connect(client: SseClient, lastEventId?: number): () => void {
    client.write('retry: 2000\n\n');
    if (lastEventId !== undefined) this.replay(client, lastEventId);
    this.clients.add(client);
    this.startTimers();
    let connected = true;
    return () => {
      if (!connected) return;
      connected = false;
      this.clients.delete(client);
      if (this.clients.size === 0) this.stopTimers();
    };
  }

  /** Reads new feed rows now and sends them (the timer calls this; tests may too). */
  poll(): void {
    const rows = this.feed.since(this.cursor, 5_000);
    if (rows.length === 0) return;
    this.cursor = rows.at(-1)!.id;
    // One write per client per tick, encoded once: a burst of changes costs each socket one syscall, not one per host.
    const batch = Buffer.from(this.messages(rows).join(''));
    for (const client of this.clients) client.write(batch);
    if (++this.polls % 500 === 0) this.feed.prune(this.o.keepRows);
  }

  /** Ends every stream (server shutdown). */
  closeAll(): void {
    for (const client of this.clients) client.end();
    this.clients.clear();
    this.stopTimers();
  }

  private replay(client: SseClient, lastEventId: number): void {
    const behind = this.cursor - lastEventId;
    if (lastEventId > this.cursor || behind > this.o.replayLimit || lastEventId < this.feed.minId() - 1) {
      client.write(`event: reload\ndata: {}\n\n`);
      return;
    }
    const rows = this.feed.since(lastEventId, this.o.replayLimit).filter((r) => r.id <= this.cursor);
    const batch = this.messages(rows).join('');
    if (batch) client.write(batch);
  }

  /** One message per host (its latest state), in feed order, with the feed id as the event id. */
  private messages(rows: FeedRow[]): string[] {
    const lastPerHost = new Map<number, FeedRow>();
    for (const row of rows) {
      lastPerHost.delete(row.hostId);
      lastPerHost.set(row.hostId, row);
    }
    return [...lastPerHost.values()].map((row) => {
      const update: HostUpdate = row.kind === 'deleted' ? { hostId: row.hostId, deleted: true } : this.render(row.hostId);
      return `id: ${row.id}\nevent: host\ndata: ${JSON.stringify(update)}\n\n`;
    });
  }

  private startTimers(): void {
    if (!this.pollTimer) {
      this.pollTimer = setInterval(() => {
        try {
          this.poll();
        } catch {
          // e.g. SQLITE_BUSY for longer than busy_timeout: the rows are still there next tick
        }
      }, this.o.pollMs);
    }
    if (!this.heartbeatTimer) {
      this.heartbeatTimer = setInterval(() => {
        for (const client of this.clients) client.write(`: heartbeat ${new Date().toISOString()}\n\n`);
      }, this.o.heartbeatMs);
    }
  }

  private stopTimers(): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.pollTimer = null;
    this.heartbeatTimer = null;
  }
}
