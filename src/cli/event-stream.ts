// GET /api/events as the CLI follows it: connect (resolving once the response headers are in), read the events,
// and after a dropped connection reconnect with Last-Event-ID so nothing in between is missed.
import { ApiError, describeCause, UnreachableError, type ApiClient } from './api-client';
import { parseSse } from './sse';

/** One event of the stream (README "Event stream for scripts"); host fields are null for image progress. */
export interface StreamEvent {
  id: number;
  name: string; // host.registered, rebuild.stage, rebuild.failed, rebuild.ready, image.progress, …
  at: string;
  host_id: number | null;
  mac: string | null;
  hostname: string | null;
  state: string | null;
  data: Record<string, unknown>;
}

export interface EventStreamOptions {
  hostId?: number; // only this host's events
  /** How long to keep trying to reconnect before giving up (the service restarting takes a few seconds). */
  giveUpAfterMs?: number;
  /**
   * Called after each reconnect, before its events are read, to check what may have been missed; `true` ends the
   * stream (what the caller waited for happened meanwhile).
   */
  onReconnect?: () => Promise<boolean> | boolean;
}

/** Thrown when the stream was lost and could not be reconnected within `giveUpAfterMs`. */
export class StreamLostError extends Error {}

/** An open event stream; iterate it for events, `close()` to stop. */
export class EventStream implements AsyncIterable<StreamEvent> {
  private controller = new AbortController();
  private lastEventId = '';
  private retryMs = 2000;
  private response: Response | null = null;

  private constructor(
    private readonly api: ApiClient,
    private readonly options: EventStreamOptions,
  ) {}

  /** Opens the stream; resolves once the server has answered with its headers (so later events cannot be missed). */
  static async open(api: ApiClient, options: EventStreamOptions = {}): Promise<EventStream> {
    const stream = new EventStream(api, options);
    stream.response = await stream.connect();
    return stream;
  }

  close(): void {
    this.controller.abort();
  }

  private async connect(): Promise<Response> {
    const url = this.api.urlOf('/api/events', { host: this.options.hostId });
    const headers: Record<string, string> = { accept: 'text/event-stream', ...this.api.authHeaders() };
    if (this.lastEventId !== '') headers['last-event-id'] = this.lastEventId;
    const response = await this.api.fetch(url, { headers, signal: this.controller.signal });
    if (!response.ok) {
      const text = await response.text().catch(() => '');
      let error: { code?: string; message?: string } | undefined;
      try {
        error = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
      } catch {
        // not the API's envelope
      }
      throw new ApiError(response.status, error?.code ?? 'unexpected_response', error?.message ?? `GET /api/events answered ${response.status} ${response.statusText}`, undefined, text);
    }
    if (!response.body) throw new UnreachableError(this.api.url, 'GET /api/events answered without a body');
    return response;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<StreamEvent> {
    for (;;) {
      const response = this.response ?? (await this.reconnect());
      this.response = null;
      if (response === 'done') return;
      try {
        for await (const message of parseSse(response.body as unknown as AsyncIterable<Uint8Array>, this.lastEventId)) {
          if ('retry' in message) {
            this.retryMs = message.retry;
            continue;
          }
          this.lastEventId = message.id;
          if (message.event === 'message' && message.data === '') continue;
          let event: StreamEvent;
          try {
            event = JSON.parse(message.data) as StreamEvent;
          } catch {
            continue; // not one of ours
          }
          yield { ...event, name: event.name ?? message.event };
        }
      } catch (err) {
        if (this.controller.signal.aborted) return;
        void err; // a connection dropped mid-read: reconnect below
      }
      if (this.controller.signal.aborted) return;
    }
  }

  /** Reconnects after `retry` ms, again and again, until it works or `giveUpAfterMs` has passed. */
  private async reconnect(): Promise<Response | 'done'> {
    const deadline = Date.now() + (this.options.giveUpAfterMs ?? 120_000);
    let last = '';
    for (;;) {
      await new Promise((r) => setTimeout(r, this.retryMs));
      try {
        const response = await this.connect();
        if ((await this.options.onReconnect?.()) === true) {
          this.close();
          return 'done';
        }
        return response;
      } catch (err) {
        if (err instanceof ApiError && err.status >= 400 && err.status < 500) throw err; // a refusal stays one
        last = err instanceof UnreachableError ? err.reason : describeCause(err);
      }
      if (Date.now() > deadline) throw new StreamLostError(`lost the event stream of ${this.api.url} and could not reconnect (${last})`);
    }
  }
}
