// The activities the worker registers: every side effect of a rebuild. Built from injected stores so tests
// run them on real SQLite files.
import type { ActivityDeps } from './deps';
import { joinCluster } from './cluster-join';
import { registerInInfrastructure } from './infrastructure';
import { removeRebuildKeyFromHost } from './key-cleanup';
import { allowPxeBoot, revokePxeBoot } from './pxe-allow-list';
import { beginRebuild, finishRebuild, recordHostState, recordRebuildEvent } from './operation-records';
import { destroyRebuildKey, generateRebuildKey } from './rebuild-key';

export type { ActivityDeps } from './deps';

/** Returns the object the worker registers as its activities. */
export function createActivities(deps: ActivityDeps) {
  return {
    beginRebuild: beginRebuild(deps),
    generateRebuildKey: generateRebuildKey(deps),
    destroyRebuildKey: destroyRebuildKey(deps),
    allowPxeBoot: allowPxeBoot(deps),
    revokePxeBoot: revokePxeBoot(deps),
    recordHostState: recordHostState(deps),
    recordRebuildEvent: recordRebuildEvent(deps),
    finishRebuild: finishRebuild(deps),
    joinCluster: joinCluster(deps),
    removeRebuildKeyFromHost: removeRebuildKeyFromHost(deps),
    registerInInfrastructure: registerInInfrastructure(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
