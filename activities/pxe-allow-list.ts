import { parseMac } from '../src/domain/mac-address';
import { rebuildRun } from './rebuild-run';
import type { OperationStore } from '../src/store/operation-store';
import type { PxeAllowList } from '../src/store/pxe-allow-list';

/** Returns the activity that lets this rebuild's MAC PXE boot the installer. */
export function allowPxeBoot(deps: { pxeAllowList: PxeAllowList; operations: OperationStore }) {
  return async function allowPxeBoot(input: { hostId: number; mac: string }): Promise<void> {
    const { workflowId, runId } = rebuildRun();
    deps.pxeAllowList.allow(parseMac(input.mac), input.hostId, workflowId);
    deps.operations.append({
      hostId: input.hostId,
      operationId: deps.operations.byRunId(runId)?.id ?? null,
      kind: 'pxe_allowed',
      message: `PXE boot into the installer allowed for ${input.mac}`,
    });
  };
}

/** Returns the activity that stops this MAC from PXE booting the installer (the host boots its disk). */
export function revokePxeBoot(deps: { pxeAllowList: PxeAllowList; operations: OperationStore }) {
  return async function revokePxeBoot(input: { hostId: number; mac: string }): Promise<void> {
    const { workflowId, runId } = rebuildRun();
    const mac = parseMac(input.mac);
    // Only revoke our own allowance: never one that a newer rebuild of the same MAC made.
    if (deps.pxeAllowList.find(mac)?.workflowId !== workflowId) return;
    deps.pxeAllowList.revoke(mac);
    deps.operations.append({
      hostId: input.hostId,
      operationId: deps.operations.byRunId(runId)?.id ?? null,
      kind: 'pxe_revoked',
      message: `PXE boot into the installer no longer allowed for ${input.mac}; it boots from its disk`,
    });
  };
}
