// Signal and query definitions, shared by the workflow and the gateway that sends them.
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { BootEventMeta, InstalledReport, PhoneHomeReport, RebuildProgress } from '../src/domain/rebuild';

export type { BootEventMeta } from '../src/domain/rebuild';

export const pxeBootedSignal = defineSignal<[BootEventMeta]>('pxeBooted');
export const answerServedSignal = defineSignal<[BootEventMeta]>('answerServed');
export const installedSignal = defineSignal<[BootEventMeta & InstalledReport]>('installed');
export const phonedHomeSignal = defineSignal<[BootEventMeta & PhoneHomeReport]>('phonedHome');
export const rebuildProgressQuery = defineQuery<RebuildProgress>('rebuildProgress');

/** A rebuild asking for its cluster's lock: who it is (the grant is signalled back to that run) and for how long. */
export interface ClusterLockRequest {
  workflowId: string;
  runId: string;
  hostname: string; // shown as "waiting for the cluster lock behind <hostname>"
  purpose: string; // "join", "remove pve-ms-02 from the cluster"
  leaseMs: number; // the longest the grant is held; then the next in line gets it
}

/** Who holds a cluster's lock and who waits, in order (the lock workflow's query, the dashboard). */
export interface ClusterLockState {
  cluster: string;
  holder: (ClusterLockRequest & { since: string; leaseUntil: string }) | null;
  waiting: Array<ClusterLockRequest & { since: string }>;
}

export const acquireClusterLockSignal = defineSignal<[ClusterLockRequest]>('acquireClusterLock');
export const releaseClusterLockSignal = defineSignal<[{ runId: string }]>('releaseClusterLock');
export const clusterLockGrantedSignal = defineSignal<[{ cluster: string; grantedAt: string }]>('clusterLockGranted');
export const clusterLockStateQuery = defineQuery<ClusterLockState>('clusterLockState');

/**
 * The lock workflow's id for a cluster: one per cluster and task queue (the service's deployment), across every
 * worker process: `cluster-lock/provisioning/lab`.
 */
export const clusterLockWorkflowId = (taskQueue: string, cluster: string): string => `cluster-lock/${taskQueue}/${cluster}`;
