// Signal and query definitions, shared by the workflow and the gateway that sends them.
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { InstalledReport, PhoneHomeReport, RebuildProgress } from '../src/domain/rebuild';

/** Common fields of every boot event: when the gateway saw it and from where. */
export interface BootEventMeta {
  at: string; // ISO-8601, as received by the gateway
  remoteAddress?: string; // 192.168.1.53
}

export const pxeBootedSignal = defineSignal<[BootEventMeta]>('pxeBooted');
export const answerServedSignal = defineSignal<[BootEventMeta]>('answerServed');
export const installedSignal = defineSignal<[BootEventMeta & InstalledReport]>('installed');
export const phonedHomeSignal = defineSignal<[BootEventMeta & PhoneHomeReport]>('phonedHome');
export const rebuildProgressQuery = defineQuery<RebuildProgress>('rebuildProgress');
