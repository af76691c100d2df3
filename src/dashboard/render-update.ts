import type { HostStore } from '../store/host-store';
import type { OperationStore } from '../store/operation-store';
import type { HostUpdate } from './event-hub';
import { tileModel, type PowerLookup } from './view-models';
import { renderTile } from './views/host-tile';

/** Returns the function the event hub uses to turn "host N changed" into the message clients get (with `power`, the tile's power state). */
export function hostUpdateRenderer(hosts: Pick<HostStore, 'find'>, operations: Pick<OperationStore, 'listForHost' | 'events'>, power?: PowerLookup) {
  return (hostId: number): HostUpdate => {
    const host = hosts.find(hostId);
    if (!host) return { hostId, deleted: true };
    return { hostId, state: host.state, tile: renderTile(tileModel(host, operations, power)).value };
  };
}
