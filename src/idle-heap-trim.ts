// Gives a burst's heap back once the process goes quiet. V8 has a "memory reducer" for this, but it waits while it
// thinks the allocation rate is high, and it judges that against the speed of recent scavenges measured on the
// objects that survived them. A gateway's request garbage dies young, so that speed comes out tiny, and after a
// burst the reducer can keep waiting for minutes with the heap still at the burst's size (bench/RESULTS.md,
// "Memory, stop 12"). This check does what the reducer would: when the event loop has been idle for a whole
// interval and V8's committed heap is well above where it stood after the last full collection, it runs one.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { performance } from 'node:perf_hooks';
import { runInNewContext } from 'node:vm';
import type { Logger } from './logging';

export interface IdleHeapTrimOptions {
  /** How often to look, and how long the process must have been idle (ms). */
  intervalMs?: number;
  /** Event-loop utilisation over the interval at or below which the process counts as idle (0..1). */
  idleUtilization?: number;
  /** Committed heap growth over the last baseline that is worth a collection (bytes). */
  minGrowthBytes?: number;
  /** A trim is reported at debug level, each check that does nothing at trace level. */
  log?: Pick<Logger, 'debug' | 'trace'>;
}

/**
 * V8's `gc()` for this isolate: the global one under `--expose-gc`, else the one a fresh context gets while the flag
 * is briefly on, which leaves `gc` off the global object.
 */
export function fullCollection(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (typeof exposed === 'function') return exposed;
  setFlagsFromString('--expose-gc');
  try {
    return runInNewContext('gc') as () => void;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}

const mb = (bytes: number) => Math.round(bytes / 1048576);

/** Starts the check; returns its stop function. The timer never keeps the process alive. */
export function startIdleHeapTrim(options: IdleHeapTrimOptions = {}): () => void {
  const intervalMs = options.intervalMs ?? 10_000;
  const idleUtilization = options.idleUtilization ?? 0.02;
  const minGrowthBytes = options.minGrowthBytes ?? 8 * 1048576;
  const collect = fullCollection();
  let baseline = getHeapStatistics().total_heap_size;
  let lastElu = performance.eventLoopUtilization();
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const elu = performance.eventLoopUtilization(now, lastElu);
    lastElu = now;
    const committed = getHeapStatistics().total_heap_size;
    // Below the baseline: V8 shrank the heap itself; that is the new baseline.
    if (committed < baseline) baseline = committed;
    const state = { utilization: Math.round(elu.utilization * 1000) / 1000, committedMb: mb(committed), baselineMb: mb(baseline) };
    if (elu.utilization > idleUtilization) return options.log?.trace(state, 'idle heap check: busy');
    if (committed - baseline < minGrowthBytes) return options.log?.trace(state, 'idle heap check: no growth to give back');
    collect();
    const after = getHeapStatistics();
    baseline = after.total_heap_size;
    lastElu = performance.eventLoopUtilization();
    options.log?.debug({ committedMbBefore: mb(committed), committedMb: mb(after.total_heap_size), usedMb: mb(after.used_heap_size) }, 'idle: heap trimmed after load');
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
