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

/** The activity type of every activity the history ran: scheduled activities and local activity markers. */
export function activitiesRun(history: temporal.api.history.v1.IHistory): string[] {
  const names: string[] = [];
  for (const e of history.events ?? []) {
    const scheduled = e.activityTaskScheduledEventAttributes?.activityType?.name;
    if (scheduled) names.push(scheduled);
    const marker = e.markerRecordedEventAttributes;
    if (marker?.markerName === 'core_local_activity') {
      const data = marker.details?.data?.payloads?.[0]?.data;
      const type = data ? (JSON.parse(Buffer.from(data).toString('utf8')) as { activity_type?: string }).activity_type : undefined;
      if (type) names.push(type);
    }
  }
  return names;
}

/** How many times each activity ran (activitiesRun, counted by name). */
export function activityRunCounts(history: temporal.api.history.v1.IHistory): (name: string) => number {
  const ran = activitiesRun(history);
  return (name) => ran.filter((n) => n === name).length;
}

/**
 * A replay failure as a reader wants it: the history's name, the SDK's message, and the id of the recorded event it
 * names (the SDK gives an id for most mismatches, only the type for a local activity marker: the first marker of that
 * type is meant, as replay compares them in order).
 */
export function describeReplayFailure(name: string, history: temporal.api.history.v1.IHistory, error: Error): string {
  const id = /\bid: (\d+)/.exec(error.message)?.[1] ?? firstMarkerId(history, /recorded marker '([^']+)'/.exec(error.message)?.[1]);
  return `${name}: ${error.name} at event ${id ?? '?'}: ${error.message}`;
}

function firstMarkerId(history: temporal.api.history.v1.IHistory, activityType: string | undefined): string | undefined {
  if (!activityType) return undefined;
  const event = (history.events ?? []).find((e) => {
    const data = e.markerRecordedEventAttributes?.details?.data?.payloads?.[0]?.data;
    return data && (JSON.parse(Buffer.from(data).toString('utf8')) as { activity_type?: string }).activity_type === activityType;
  });
  return event?.eventId?.toString();
}
