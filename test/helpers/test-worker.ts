import { NativeConnection } from '@temporalio/worker';
import { inject } from 'vitest';
import { createActivities, type Activities, type ActivityDeps } from '../../activities';
import { proxmoxLayout } from '../../activities/cluster-join';
import type { Resource } from '@opentelemetry/resources';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createWorker, type RebuildWorker } from '../../src/temporal/worker';
import type { TestApp } from './test-app';

export const testFingerprint = Array.from({ length: 32 }, (_, i) => (i * 7 + 16).toString(16).toUpperCase().padStart(2, '0')).join(':');

/** Starts the service's worker (createWorker) for `t.taskQueue` with the real activities on the test app's stores. */
export async function startTestWorker(
  t: TestApp,
  options: {
    override?: Partial<Activities>;
    join?: Partial<ActivityDeps['join']>;
    infrastructure?: ActivityDeps['infrastructure'];
    power?: ActivityDeps['power']; // default: the test app's drivers (its powerDriver option)
    maxCachedWorkflows?: number; // temporal.max_cached_workflows; the SDK's default when absent
    maxParallelJoins?: number; // proxmox.max_parallel_joins; 4 when absent
    notifications?: ActivityDeps['notifications']; // notification targets (and a short retry); none when absent
    tracing?: { processor: SpanProcessor; resource: Resource; bundle: { code: string } }; // activity and workflow spans (a bundle with the tracing interceptors)
  } = {},
): Promise<{ worker: RebuildWorker; stop(): Promise<void> }> {
  const connection = await NativeConnection.connect({ address: inject('temporalAddress') });
  const deps: ActivityDeps = {
    hosts: t.hosts,
    operations: t.operations,
    keys: t.keys,
    pxeAllowList: t.pxeAllowList,
    join: { existingNode: '192.0.2.10', fingerprint: testFingerprint, password: 'join-secret-93f1', sshPort: 22, layout: proxmoxLayout, ...options.join },
    infrastructure: options.infrastructure ?? { baseUrl: '', serverTypeMap: {} },
    power: options.power ?? { driver: (host) => t.powerDriverOf(host) },
    ...(options.notifications ? { notifications: options.notifications } : {}),
  };
  const activities = { ...createActivities(deps), ...options.override };
  const worker = await createWorker({
    connection,
    namespace: t.namespace,
    taskQueue: t.taskQueue,
    maxCachedWorkflows: options.maxCachedWorkflows,
    maxParallelJoins: options.maxParallelJoins ?? 4,
    workflowBundle: options.tracing?.bundle ?? { code: inject('workflowCode') },
    activities,
    operations: t.operations,
    tracing: options.tracing,
  });
  const running = worker.run();
  return {
    worker,
    async stop() {
      worker.shutdown();
      await running;
      await connection.close();
    },
  };
}
