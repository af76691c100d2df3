import type { OperationEvent, OperationStore } from '../../src/store/operation-store';

/** Resolves with the first event (already recorded or appended later) of `hostId` that matches; rejects after `ms`. */
export function waitForEvent(
  operations: OperationStore,
  hostId: number,
  match: (e: OperationEvent) => boolean,
  ms = 20_000,
): Promise<OperationEvent> {
  return new Promise((resolve, reject) => {
    const done = (e: OperationEvent) => {
      clearTimeout(timer);
      unsubscribe();
      resolve(e);
    };
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`no matching event for host ${hostId} within ${ms} ms`));
    }, ms);
    const unsubscribe = operations.subscribe((e) => {
      if (e.hostId === hostId && match(e)) done(e);
    });
    const past = operations.listForHost(hostId).flatMap((o) => operations.events(o.id)).find(match);
    if (past) done(past);
  });
}

/** Resolves when the host's history records `state`. */
export function waitForState(operations: OperationStore, hostId: number, state: string, ms?: number): Promise<OperationEvent> {
  return waitForEvent(operations, hostId, (e) => e.kind === 'state' && e.state === state, ms);
}
