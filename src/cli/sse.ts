// A Server-Sent Events parser after the HTML standard's "event stream interpretation": lines end in CRLF, LF or
// CR; `:` starts a comment (the server's heartbeat); a blank line dispatches the message gathered so far.

/** One dispatched message. `id` is the last event id in force (it carries over from earlier messages). */
export interface SseMessage {
  id: string;
  event: string; // "message" when the server named none
  data: string;
}

/** What the stream says besides messages: a new reconnection delay. */
export interface SseRetry {
  retry: number; // milliseconds
}

/** Parses an event stream into messages and retry directives, in order, as chunks arrive. */
export async function* parseSse(chunks: AsyncIterable<Uint8Array>, lastEventId = ''): AsyncGenerator<SseMessage | SseRetry> {
  const decoder = new TextDecoder('utf-8'); // strips a leading BOM, as the standard asks
  const parser = new SseParser(lastEventId);
  for await (const chunk of chunks) yield* parser.push(decoder.decode(chunk, { stream: true }));
  yield* parser.push(decoder.decode());
  // A message not ended by a blank line when the stream ends is dropped (the standard's rule).
}

/** The line-by-line state of one stream; `push` takes decoded text and returns what it completed. */
export class SseParser {
  private buffer = '';
  private pendingCr = false; // the last chunk ended in CR: a LF starting the next one belongs to it
  private data: string[] = [];
  private event = '';

  constructor(private lastEventId = '') {}

  push(text: string): Array<SseMessage | SseRetry> {
    const out: Array<SseMessage | SseRetry> = [];
    if (this.pendingCr && text.startsWith('\n')) text = text.slice(1);
    this.pendingCr = false;
    this.buffer += text;
    for (;;) {
      const end = this.buffer.search(/[\r\n]/);
      if (end === -1) break;
      const line = this.buffer.slice(0, end);
      let rest = end + 1;
      if (this.buffer[end] === '\r') {
        if (end + 1 < this.buffer.length) {
          if (this.buffer[end + 1] === '\n') rest = end + 2;
        } else {
          this.pendingCr = true;
        }
      }
      this.buffer = this.buffer.slice(rest);
      this.line(line, out);
    }
    return out;
  }

  private line(line: string, out: Array<SseMessage | SseRetry>): void {
    if (line === '') {
      if (this.data.length > 0) out.push({ id: this.lastEventId, event: this.event || 'message', data: this.data.join('\n') });
      this.data = [];
      this.event = '';
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.data.push(value);
        break;
      case 'event':
        this.event = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) out.push({ retry: Number(value) });
        break;
      default: // unknown fields are ignored
    }
  }
}
