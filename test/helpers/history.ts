import type { temporal } from '@temporalio/proto';

/** Everything a Web UI user could read in a history: the JSON plus every payload decoded as UTF-8. */
export function readableHistory(history: temporal.api.history.v1.IHistory): string {
  const parts: string[] = [JSON.stringify(history)];
  const walk = (value: unknown): void => {
    if (value instanceof Uint8Array) parts.push(Buffer.from(value).toString('utf8'));
    else if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === 'object') Object.values(value).forEach(walk);
  };
  walk(history);
  return parts.join('\n');
}
