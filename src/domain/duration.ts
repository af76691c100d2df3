// Durations in the ms-format Temporal accepts ('90s', '20m', '1h'), as the config and the workflow arguments carry
// them. Pure: the workflow bundle imports it through the rebuild rules.

const durationPattern = /^(\d+)(ms|s|m|h|d)$/;
const unitMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** True for a non-zero duration such as `90s`, `20m` or `1h`. */
export function isDuration(text: string): boolean {
  const m = durationPattern.exec(text);
  return m !== null && Number(m[1]) > 0;
}

/** Milliseconds in a duration such as `90s`, `20m` or `1h`; throws on anything else. */
export function durationMs(text: string): number {
  const m = durationPattern.exec(text);
  if (!m) throw new Error(`not a duration: ${text}`);
  return Number(m[1]) * unitMs[m[2]!]!;
}

/** The shortest readable form of `ms` in whole minutes or more: 12300000 → '3h25m'. */
export function formatDuration(ms: number): string {
  const minutes = Math.ceil(ms / 60_000);
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  if (h === 0) return `${m}m`;
  return m === 0 ? `${h}h` : `${h}h${m}m`;
}
