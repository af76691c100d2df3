import { describe, expect, it } from 'vitest';
import { durationMs, formatDuration, isDuration } from '../../src/domain/duration';
import { rebuildRunTimeoutMs } from '../../src/domain/rebuild';

describe('durations', () => {
  it('reads the ms-format units and refuses zero or anything else', () => {
    expect(['250ms', '90s', '20m', '2h', '1d'].map(durationMs)).toEqual([250, 90_000, 1_200_000, 7_200_000, 86_400_000]);
    expect(['0m', '20', '1.5h', '20 m', ''].map(isDuration)).toEqual([false, false, false, false, false]);
    expect(() => durationMs('soon')).toThrow('not a duration: soon');
  });

  it('writes whole minutes, hours first', () => {
    expect([59_000, 60_000, 3_600_000, 12_300_000].map(formatDuration)).toEqual(['1m', '1m', '1h', '3h25m']);
  });
});

describe('rebuildRunTimeoutMs', () => {
  it('is the sum of the stage timeouts plus an hour', () => {
    // The defaults: 20m + 15m + 60m + 30m + 15m = 2h20m, so a rebuild ends by itself after 3h20m.
    const defaults = { pxeBoot: '20m', answerFetch: '15m', install: '60m', phoneHome: '30m', join: '15m' };
    expect(formatDuration(rebuildRunTimeoutMs(defaults))).toBe('3h20m');
    expect(rebuildRunTimeoutMs({ ...defaults, install: '2h' })).toBe(rebuildRunTimeoutMs(defaults) + 3_600_000);
  });
});
