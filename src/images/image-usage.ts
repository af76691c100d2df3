// Which hosts boot an image right now: those in an active rebuild that were served it (the boot service records
// that), or, not served yet, whose server type pins it or pins nothing while it is the newest. An image they use is
// not deleted from under them.
import type { ServerTypeRegistry } from '../config/server-types';
import { isActive } from '../domain/host-state-machine';
import type { HostStore } from '../store/host-store';
import type { OperationStore } from '../store/operation-store';
import type { ImageLibrary } from './image-library';

export interface ImageUsageDeps {
  images: Pick<ImageLibrary, 'choose'>;
  hosts: Pick<HostStore, 'list'>;
  operations: Pick<OperationStore, 'running' | 'events'>;
  serverTypes: Pick<ServerTypeRegistry, 'get'>;
}

/** The event the boot service appends when it serves a host the installer of an image (details.image). */
export const installerServedEvent = 'installer_served';

/** The image the installer was last served from in operation `operationId`, if recorded. */
export function servedImage(operations: Pick<OperationStore, 'events'>, operationId: number): string | undefined {
  const served = operations.events(operationId).filter((e) => e.kind === installerServedEvent).at(-1);
  const image = served?.details?.image;
  return typeof image === 'string' ? image : undefined;
}

/** The hostnames of the active rebuilds that boot image `name`. */
export function rebuildsUsingImage(deps: ImageUsageDeps, name: string): string[] {
  const newest = deps.images.choose(null)?.name;
  return deps.hosts
    .list()
    .filter((h) => {
      if (!isActive(h.state)) return false;
      const operation = deps.operations.running(h.id);
      const served = operation ? servedImage(deps.operations, operation.id) : undefined;
      return (served ?? deps.serverTypes.get(h.serverType)?.image ?? newest) === name;
    })
    .map((h) => h.hostname);
}
