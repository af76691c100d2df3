import { NativeConnection, Worker } from '@temporalio/worker';
import { inject } from 'vitest';
import { createActivities, type Activities } from '../../activities';
import type { TestApp } from './test-app';

/** Starts a real worker for `t.taskQueue` with the real activities on the test app's stores. */
export async function startTestWorker(t: TestApp, override: Partial<Activities> = {}): Promise<{ worker: Worker; stop(): Promise<void> }> {
  const connection = await NativeConnection.connect({ address: inject('temporalAddress') });
  const activities = { ...createActivities({ hosts: t.hosts, operations: t.operations, keys: t.keys, pxeAllowList: t.pxeAllowList }), ...override };
  const worker = await Worker.create({
    connection,
    taskQueue: t.taskQueue,
    workflowBundle: { code: inject('workflowCode') },
    activities,
  });
  const running = worker.run();
  return {
    worker,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await connection.close();
    },
  };
}
