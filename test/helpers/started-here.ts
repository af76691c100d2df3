import { WorkflowNotFoundError } from '@temporalio/client';
import { rebuildWorkflowId } from '../../src/domain/rebuild-ids';
import type { TestApp } from './test-app';

/** True when this test app started a rebuild workflow for `hostId` (the namespace is shared with earlier test files). */
export async function rebuildStartedHere(t: TestApp, hostId: number): Promise<boolean> {
  try {
    return (await t.client.workflow.getHandle(rebuildWorkflowId(hostId)).describe()).taskQueue === t.taskQueue;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}
