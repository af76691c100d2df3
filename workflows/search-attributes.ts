// Typed search attribute keys shown and filterable in the Temporal Web UI. All Keyword: SQL visibility
// allows few Text attributes, and these are matched exactly (`HostMac = 'aa:bb:…'`).
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const HOST_ID = defineSearchAttributeKey('HostId', SearchAttributeType.KEYWORD);
export const HOSTNAME = defineSearchAttributeKey('Hostname', SearchAttributeType.KEYWORD);
export const HOST_MAC = defineSearchAttributeKey('HostMac', SearchAttributeType.KEYWORD);
export const HOST_STATE = defineSearchAttributeKey('HostState', SearchAttributeType.KEYWORD);

/** Every key the namespace must have registered before a rebuild starts. */
export const searchAttributeKeys = [HOST_ID, HOSTNAME, HOST_MAC, HOST_STATE] as const;
