import { activityInfo } from '@temporalio/activity';
import type { HostStore } from '../src/store/host-store';
import type { OperationStore } from '../src/store/operation-store';
import type { PxeAllowList } from '../src/store/pxe-allow-list';
import type { RebuildKeyStore } from '../src/store/rebuild-key-store';
import type { JoinSettings } from './cluster-join';
import type { InfrastructureSettings } from './infrastructure';

/** What the activities need from the rest of the service; the worker builds it, tests pass real stores on temp files. */
export interface ActivityDeps {
  hosts: HostStore;
  operations: OperationStore;
  keys: RebuildKeyStore;
  pxeAllowList: PxeAllowList;
  join: JoinSettings;
  infrastructure: InfrastructureSettings;
}

/** The workflow id and run id of the rebuild that runs the current activity. */
export function rebuildRun(): { workflowId: string; runId: string } {
  const execution = activityInfo().workflowExecution;
  if (!execution) throw new Error('rebuild activities run only inside a rebuild workflow');
  return execution;
}
