// Signal and query definitions, shared by the workflow and the gateway that sends them.
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { BootEventMeta, InstalledReport, PhoneHomeReport, RebuildProgress } from '../src/domain/rebuild';

export type { BootEventMeta } from '../src/domain/rebuild';

export const pxeBootedSignal = defineSignal<[BootEventMeta]>('pxeBooted');
export const answerServedSignal = defineSignal<[BootEventMeta]>('answerServed');
export const installedSignal = defineSignal<[BootEventMeta & InstalledReport]>('installed');
export const phonedHomeSignal = defineSignal<[BootEventMeta & PhoneHomeReport]>('phonedHome');
export const rebuildProgressQuery = defineQuery<RebuildProgress>('rebuildProgress');
