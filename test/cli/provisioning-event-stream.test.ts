// The CLI's event stream client (src/cli/event-stream.ts) against a stand-in of GET /api/events on loopback that
// speaks its contract (retry, heartbeats, id/event/data, ?host=, Last-Event-ID) and drops connections on purpose.
// Real: node:http, fetch; the stand-in is ours (the real endpoint is tested through the CLI's rebuild --watch).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiClient, ApiError } from '../../src/cli/api-client';
import { EventStream, StreamLostError, type StreamEvent } from '../../src/cli/event-stream';

interface Connection {
  request: IncomingMessage;
  response: ServerResponse;
}

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r) ?? r(undefined));
  server = undefined;
});

/** A stand-in that hands each connection to the test, in order. */
async function standIn(onConnection: (c: Connection, n: number) => void): Promise<{ api: ApiClient; connections: Connection[] }> {
  const connections: Connection[] = [];
  server = createServer((request, response) => {
    connections.push({ request, response });
    onConnection({ request, response }, connections.length);
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { api: new ApiClient({ url: `http://127.0.0.1:${port}`, token: 'tok' }), connections };
}

const event = (id: number, name: string, data: Record<string, unknown> = {}): StreamEvent => ({ id, name, at: '2026-12-03T07:00:00.000Z', host_id: 3, mac: 'aa:bb:cc:dd:ee:03', hostname: 'pve-1', state: null, data });
const frame = (e: StreamEvent) => `id: ${e.id}\nevent: ${e.name}\ndata: ${JSON.stringify(e)}\n\n`;
const sseHead = (response: ServerResponse) => {
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  response.write('retry: 20\n\n: heartbeat\n\n');
};

describe('EventStream', () => {
  it('opens once the headers are in, with the token and ?host=, and yields each event in order', async () => {
    const { api, connections } = await standIn(({ response }) => {
      sseHead(response);
      response.write(frame(event(1, 'rebuild.started')) + frame(event(2, 'rebuild.stage', { state: 'pxe_ready' })));
    });
    const stream = await EventStream.open(api, { hostId: 3 });
    expect(connections).toHaveLength(1);
    expect(connections[0]!.request.url).toBe('/api/events?host=3');
    expect(connections[0]!.request.headers).toMatchObject({ authorization: 'Bearer tok', accept: 'text/event-stream' });
    expect(connections[0]!.request.headers['last-event-id']).toBeUndefined();
    const seen: StreamEvent[] = [];
    for await (const e of stream) {
      seen.push(e);
      if (seen.length === 2) break;
    }
    stream.close();
    expect(seen).toEqual([event(1, 'rebuild.started'), event(2, 'rebuild.stage', { state: 'pxe_ready' })]);
  });

  it('reconnects after a dropped connection with Last-Event-ID and misses nothing', async () => {
    const reconnects: number[] = [];
    const { api, connections } = await standIn(({ response }, n) => {
      sseHead(response);
      if (n === 1) {
        response.end(frame(event(4, 'rebuild.stage', { state: 'pxe_booted' })) + frame(event(5, 'rebuild.stage', { state: 'installing' }))); // then the connection drops
      } else {
        response.write(frame(event(6, 'rebuild.ready')));
      }
    });
    const stream = await EventStream.open(api, { hostId: 3, onReconnect: () => (reconnects.push(connections.length), false) });
    const ids: number[] = [];
    for await (const e of stream) {
      ids.push(e.id);
      if (e.name === 'rebuild.ready') break;
    }
    stream.close();
    expect(ids).toEqual([4, 5, 6]);
    expect(connections).toHaveLength(2);
    expect(connections[1]!.request.headers['last-event-id']).toBe('5');
    expect(connections[1]!.request.url).toBe('/api/events?host=3');
    expect(reconnects).toEqual([2]);
  });

  it('ends when the check after a reconnect says what it waited for happened meanwhile', async () => {
    const { api } = await standIn(({ response }, n) => {
      sseHead(response);
      if (n === 1) response.end(frame(event(1, 'rebuild.stage')));
    });
    const stream = await EventStream.open(api, { onReconnect: () => true });
    const ids: number[] = [];
    for await (const e of stream) ids.push(e.id);
    expect(ids).toEqual([1]);
  });

  it('gives up with StreamLostError when the service stays away', async () => {
    const { api } = await standIn(({ request, response }) => {
      sseHead(response);
      server!.close(); // refuses every reconnect from now on
      response.end(() => request.socket.destroy()); // and keeps no connection to reuse
    });
    const stream = await EventStream.open(api, { giveUpAfterMs: 200 });
    const lost = await (async () => {
      for await (const e of stream) void e;
    })().catch((err: unknown) => err);
    expect(lost).toBeInstanceOf(StreamLostError);
    expect((lost as Error).message).toMatch(/^lost the event stream of http:\/\/127\.0\.0\.1:\d+ and could not reconnect \(connect ECONNREFUSED 127\.0\.0\.1:\d+\)$/);
  });

  it('throws the API’s error when the stream is refused', async () => {
    const { api } = await standIn(({ response }) => {
      response.writeHead(401, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: { code: 'unauthorized', message: 'invalid API token' } }));
    });
    const refused = EventStream.open(api);
    await expect(refused).rejects.toThrow(ApiError);
    await expect(refused).rejects.toMatchObject({ status: 401, code: 'unauthorized', message: 'invalid API token' });
  });
});
