import { activityInfo } from '@temporalio/activity';

/** The workflow id and run id of the rebuild that runs the current activity. */
export function rebuildRun(): { workflowId: string; runId: string } {
  const execution = activityInfo().workflowExecution;
  if (!execution) throw new Error('rebuild activities run only inside a rebuild workflow');
  return execution;
}
