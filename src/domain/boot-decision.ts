// Default-deny boot decisions: a machine is told to install only on an explicit, current allowance.
import type { Host } from './host';
import type { HostState } from './host-state-machine';
import { rebuildWorkflowId } from './rebuild-ids';

/** States in which the installer may still be (re)booted: nothing has been written to the disk yet. */
const installableStates: readonly HostState[] = ['pxe_ready', 'pxe_booted'];

export type BootDecision = { action: 'install' } | { action: 'local-disk'; reason: string };

/**
 * Decides what a PXE-booting MAC gets. Install only when the host exists, its MAC is allowed by *its own* running
 * rebuild (workflow `rebuild-<id>`), and the rebuild has not yet served the answer file.
 */
export function decideBoot(host: Host | undefined, allowance: { workflowId: string } | undefined): BootDecision {
  if (!host) return { action: 'local-disk', reason: 'unknown MAC' };
  if (!allowance) return { action: 'local-disk', reason: `no rebuild allows PXE for ${host.hostname} (state ${host.state})` };
  if (allowance.workflowId !== rebuildWorkflowId(host.id)) {
    return { action: 'local-disk', reason: `PXE allowance belongs to ${allowance.workflowId}, not to ${host.hostname}'s rebuild` };
  }
  if (!installableStates.includes(host.state)) {
    return { action: 'local-disk', reason: `${host.hostname} is ${host.state}: past the point where the installer may boot` };
  }
  return { action: 'install' };
}
