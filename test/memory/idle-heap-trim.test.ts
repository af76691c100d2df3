// The idle heap trim in this process: a heap grown by a burst is given back once the event loop goes quiet, never
// while it is busy, and an idle process with nothing to give back is left alone.
import { getHeapStatistics } from 'node:v8';
import { afterEach, describe, expect, it } from 'vitest';
import { fullCollection, startIdleHeapTrim } from '../../src/idle-heap-trim';

type Entry = { level: 'debug' | 'trace'; msg: string; fields: Record<string, number> };

/** A logger that records entries and lets a test await the first one matching. */
function recordingLog() {
  const entries: Entry[] = [];
  const waiters: Array<{ match: (e: Entry) => boolean; resolve: (e: Entry) => void }> = [];
  const add = (level: Entry['level']) => (fields: Record<string, number>, msg: string) => {
    const entry = { level, msg, fields };
    entries.push(entry);
    for (const w of waiters.filter((w) => w.match(entry))) w.resolve(entry);
  };
  return {
    entries,
    log: { debug: add('debug'), trace: add('trace') } as never,
    next: (match: (e: Entry) => boolean) => new Promise<Entry>((resolve) => waiters.push({ match, resolve })),
  };
}

/** Objects that survive into the old generation: roughly `mb` MB of committed heap. */
function grow(mb: number): unknown[] {
  const kept: unknown[] = [];
  for (let i = 0; i < mb * 6000; i++) kept.push({ i, text: `burst-${i}`.padEnd(96, '.') });
  return kept;
}

let stop = () => undefined as void;
afterEach(() => stop());
const committedMb = () => getHeapStatistics().total_heap_size / 1048576;

describe('idle heap trim', () => {
  it('gives a burst\'s heap back once the process is idle', async () => {
    fullCollection()();
    const { log, next } = recordingLog();
    stop = startIdleHeapTrim({ intervalMs: 100, minGrowthBytes: 16 * 1048576, log });
    let burst: unknown[] | null = grow(60);
    const grown = committedMb();
    burst = null;
    const trimmed = await next((e) => e.level === 'debug');
    expect(burst).toBeNull();
    expect(trimmed.msg).toBe('idle: heap trimmed after load');
    expect(trimmed.fields.committedMbBefore).toBeGreaterThan(trimmed.fields.committedMb! + 30);
    expect(committedMb()).toBeLessThan(grown - 30);
  });

  it('waits while the event loop is busy and trims once it is quiet', async () => {
    fullCollection()();
    const { entries, log, next } = recordingLog();
    stop = startIdleHeapTrim({ intervalMs: 100, log });
    let burst: unknown[] | null = grow(60);
    burst = null;
    // Busy: a tick that blocks the loop for most of each interval, until three checks have seen it busy.
    const busyChecks = () => entries.filter((e) => e.msg === 'idle heap check: busy').length;
    while (busyChecks() < 3) {
      const until = performance.now() + 90;
      while (performance.now() < until);
      await new Promise((r) => setImmediate(r));
    }
    expect(entries.filter((e) => e.level === 'debug')).toEqual([]);
    const trimmed = await next((e) => e.level === 'debug');
    expect(burst).toBeNull();
    expect(trimmed.fields.committedMbBefore).toBeGreaterThan(trimmed.fields.committedMb! + 30);
  });

  it('leaves an idle process with nothing to give back alone', async () => {
    fullCollection()();
    const { entries, log, next } = recordingLog();
    stop = startIdleHeapTrim({ intervalMs: 50, log });
    for (let i = 0; i < 3; i++) await next((e) => e.msg === 'idle heap check: no growth to give back' && entries.filter((x) => x.msg === e.msg).length > i);
    expect(entries.filter((e) => e.level === 'debug')).toEqual([]);
  });

  it('hands out V8\'s full collection without putting gc on the global object', () => {
    expect(typeof fullCollection()).toBe('function');
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
  });
});
