// The activities the worker registers: every side effect of a rebuild. Built from injected stores so tests
// run them on real SQLite files.
import type { HostStore } from '../src/store/host-store';
import type { OperationStore } from '../src/store/operation-store';
import type { PxeAllowList } from '../src/store/pxe-allow-list';
import type { RebuildKeyStore } from '../src/store/rebuild-key-store';
import { joinCluster, type JoinSettings } from './cluster-join';
import { checkClusterMembership, requestClusterLock } from './cluster-lock';
import { awaitMemberOffline, migrateGuests, rebootMember, removeMember, removeOldNodeKey } from './member-rebuild';
import { registerInInfrastructure, type InfrastructureSettings } from './infrastructure';
import { removeRebuildKeyFromHost } from './key-cleanup';
import { allowPxeBoot, revokePxeBoot } from './pxe-allow-list';
import { beginRebuild, finishRebuild, recordHostState, recordRebuildEvent } from './operation-records';
import { destroyRebuildKey, generateRebuildKey } from './rebuild-key';
import { checkBootOverride, powerIntoInstaller, restartInstall, type PowerControl } from './power';
import { planNotification, sendNotification, type NotificationSettings } from './notify';

/** What the activities need from the rest of the service; each activity module declares its own part of it. */
export interface ActivityDeps {
  hosts: HostStore;
  operations: OperationStore;
  keys: RebuildKeyStore;
  pxeAllowList: PxeAllowList;
  join: JoinSettings;
  infrastructure: InfrastructureSettings;
  power: PowerControl;
  notifications?: NotificationSettings; // absent: no targets
}

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
    requestClusterLock: requestClusterLock(deps),
    joinCluster: joinCluster(deps),
    checkClusterMembership: checkClusterMembership(deps),
    migrateGuests: migrateGuests(deps),
    rebootMember: rebootMember(deps),
    awaitMemberOffline: awaitMemberOffline(deps),
    removeMember: removeMember(deps),
    removeOldNodeKey: removeOldNodeKey(deps),
    removeRebuildKeyFromHost: removeRebuildKeyFromHost(deps),
    registerInInfrastructure: registerInInfrastructure(deps),
    powerIntoInstaller: powerIntoInstaller(deps),
    restartInstall: restartInstall(deps),
    checkBootOverride: checkBootOverride(deps),
    planNotification: planNotification(deps),
    sendNotification: sendNotification(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
