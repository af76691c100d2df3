// Which hosts boot an image right now: those in an active rebuild whose server type pins it, or pins nothing while it
// is the newest. An image they use is not deleted from under them.
import type { ServerTypeRegistry } from '../config/server-types';
import { isActive } from '../domain/host-state-machine';
import type { HostStore } from '../store/host-store';
import type { ImageLibrary } from './image-library';

export interface ImageUsageDeps {
  images: Pick<ImageLibrary, 'choose'>;
  hosts: Pick<HostStore, 'list'>;
  serverTypes: Pick<ServerTypeRegistry, 'get'>;
}

/** The hostnames of the active rebuilds that boot image `name`. */
export function rebuildsUsingImage(deps: ImageUsageDeps, name: string): string[] {
  const newest = deps.images.choose(null)?.name;
  return deps.hosts
    .list()
    .filter((h) => isActive(h.state) && (deps.serverTypes.get(h.serverType)?.image ?? newest) === name)
    .map((h) => h.hostname);
}
