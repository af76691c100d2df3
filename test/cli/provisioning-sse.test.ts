// The CLI's Server-Sent Events parser (src/cli/sse.ts) on the cases of the HTML standard's event stream
// interpretation, fed in chunks cut anywhere. Pure: no I/O.
import { describe, expect, it } from 'vitest';
import { parseSse, type SseMessage, type SseRetry } from '../../src/cli/sse';

async function parse(chunks: string[], lastEventId?: string): Promise<Array<SseMessage | SseRetry>> {
  async function* source() {
    for (const c of chunks) yield new TextEncoder().encode(c);
  }
  const out: Array<SseMessage | SseRetry> = [];
  for await (const m of parseSse(source(), lastEventId)) out.push(m);
  return out;
}

/** Every way to cut `text` in two. */
const cuts = (text: string) => Array.from({ length: text.length + 1 }, (_, i) => [text.slice(0, i), text.slice(i)]);

describe('parseSse', () => {
  const stream = 'retry: 2000\n\n: heartbeat\n\nid: 7\nevent: rebuild.stage\ndata: {"id":7}\n\nid: 8\nevent: rebuild.ready\ndata: {"id":8}\n\n';
  const expected = [{ retry: 2000 }, { id: '7', event: 'rebuild.stage', data: '{"id":7}' }, { id: '8', event: 'rebuild.ready', data: '{"id":8}' }];

  it('reads the server’s retry, skips heartbeats and gives each message its id, name and data', async () => {
    expect(await parse([stream])).toEqual(expected);
  });

  it.each(cuts(stream).map(([a, b]) => [JSON.stringify(a).slice(-12), a, b]))('gives the same messages whatever the chunks (cut after …%s)', async (_label, a, b) => {
    expect(await parse([a!, b!])).toEqual(expected);
  });

  it.each([
    ['CRLF', '\r\n'],
    ['CR', '\r'],
  ])('accepts %s line ends, also cut between CR and LF', async (_name, eol) => {
    const text = `id: 1${eol}event: host.updated${eol}data: {}${eol}${eol}`;
    expect(await parse([text])).toEqual([{ id: '1', event: 'host.updated', data: '{}' }]);
    for (const [a, b] of cuts(text)) expect(await parse([a!, b!])).toEqual([{ id: '1', event: 'host.updated', data: '{}' }]);
  });

  it('joins data lines with newlines, keeps the id in force and names a message without event "message"', async () => {
    expect(await parse(['id: 3\ndata: a\ndata:b\ndata:  c\n\ndata: next\n\n'])).toEqual([
      { id: '3', event: 'message', data: 'a\nb\n c' },
      { id: '3', event: 'message', data: 'next' },
    ]);
  });

  it('starts from the Last-Event-ID it resumed with, strips a BOM, and ignores unknown fields and a bad retry', async () => {
    expect(await parse(['\uFEFFdata: x\nfoo: bar\nretry: soon\n\n'], '41')).toEqual([{ id: '41', event: 'message', data: 'x' }]);
  });

  it('drops a message the stream ended in the middle of, and a block without data', async () => {
    expect(await parse(['id: 9\nevent: rebuild.ready\n\ndata: half'])).toEqual([]);
  });
});
