// The worker half of the service, loaded only by `--role worker|all` (main.ts imports it on demand): the gateway
// role then never loads the Temporal Core runtime, webpack or the activities' SSH code, and stays smaller.
import { DefaultLogger, NativeConnection, Runtime, type LogLevel } from '@temporalio/worker';
import { createActivities } from '../../activities';
import type { Config } from '../config/load-config';
import type { Logger } from '../logging';
import type { HostStore } from '../store/host-store';
import type { OperationStore } from '../store/operation-store';
import type { PxeAllowList } from '../store/pxe-allow-list';
import type { RebuildKeyStore } from '../store/rebuild-key-store';
import { createWorker, loadWorkflowBundle } from '../temporal/worker';
import type { Tracing } from '../observability/tracing';
import type { ReadinessCheck } from '../gateway/routes/health';
import { ProxmoxApi } from '../proxmox/api-client';
import type { Database } from '../store/database';
import { PowerStore } from '../store/power-store';
import { powerControlOf } from './power-control';

/** Routes the Temporal Core runtime's log lines into our logger. */
function installTemporalRuntime(log: Logger): void {
  const levels: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
    TRACE: 'trace',
    DEBUG: 'debug',
    INFO: 'info',
    WARN: 'warn',
    ERROR: 'error',
  };
  const temporalLog = log.child({ component: 'temporal' });
  Runtime.install({
    // main.ts owns the signals: SIGINT/SIGTERM stop the gateway, drain the worker and stop the dev server in order.
    // The SDK's default also drains the worker on SIGQUIT and SIGUSR2, which left the service running without one
    // (and made `node --heapsnapshot-signal=SIGUSR2` stop the worker).
    shutdownSignals: [],
    logger: new DefaultLogger('INFO', (entry) => temporalLog[levels[entry.level]]({ ...entry.meta }, entry.message)),
  });
}

export interface RunningWorker {
  /** Resolves when the worker stops; rejects when it fails. */
  done: Promise<void>;
  ready: ReadinessCheck;
  /** Drains the worker and closes its connection. */
  close(): Promise<void>;
}

/** Starts the worker: workflows and every activity (they all use the SQLite file and the rebuild keys in it). */
export async function startWorkerRole(o: {
  config: Readonly<Config>;
  address: string;
  log: Logger;
  stores: { db: Database; secret: Buffer; hosts: HostStore; operations: OperationStore; keys: RebuildKeyStore; pxeAllowList: PxeAllowList };
  tracing?: Pick<Tracing, 'processor' | 'resource'> | null; // telemetry.otlp_endpoint: activity and workflow spans
}): Promise<RunningWorker> {
  const { config, log } = o;
  installTemporalRuntime(log);
  const connection = await NativeConnection.connect({ address: o.address });
  try {
    const worker = await createWorker({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      maxCachedWorkflows: config.temporal.maxCachedWorkflows ?? undefined,
      maxParallelJoins: config.proxmox.maxParallelJoins,
      activities: createActivities({
        hosts: o.stores.hosts,
        operations: o.stores.operations,
        keys: o.stores.keys,
        pxeAllowList: o.stores.pxeAllowList,
        power: powerControlOf(config, new PowerStore(o.stores.db, o.stores.secret, { pxeSubnet: config.pxe.subnet })),
        join: {
          existingNode: config.proxmox.existingNode,
          fingerprint: config.proxmox.joinFingerprint,
          password: config.proxmox.joinPassword,
          sshPort: config.proxmox.sshPort,
          layout: { corosyncConf: config.proxmox.corosyncConf, authorizedKeysFiles: [...config.proxmox.authorizedKeysFiles] },
          cluster: config.proxmox.apiToken && config.proxmox.existingNode && config.proxmox.joinFingerprint
            ? new ProxmoxApi({ host: config.proxmox.existingNode, port: config.proxmox.apiPort, fingerprint: config.proxmox.joinFingerprint, apiToken: config.proxmox.apiToken })
            : null,
          memberApi: config.proxmox.apiToken
            ? (via) => new ProxmoxApi({ host: via.address, port: config.proxmox.apiPort, fingerprint: via.fingerprint, apiToken: config.proxmox.apiToken, rootPassword: config.proxmox.joinPassword })
            : null,
        },
        infrastructure: { baseUrl: config.infrastructure.baseUrl, serverTypeMap: config.infrastructure.serverTypeMap },
        notifications: { targets: config.notifications, publicUrl: config.server.publicUrl },
      }),
      workflowBundle: await loadWorkflowBundle({ tracing: Boolean(o.tracing) }),
      operations: o.stores.operations,
      tracing: o.tracing ?? undefined,
    });
    if (config.notifications.length > 0) log.info({ targets: config.notifications.map((t) => t.name) }, 'rebuild notifications configured');
    const done = worker.run();
    return {
      done,
      ready: async () => (worker.getState() === 'RUNNING' ? null : `worker is ${worker.getState().toLowerCase()}`),
      async close() {
        log.info('draining the worker');
        worker.shutdown();
        await done.catch(() => undefined);
        await connection.close();
      },
    };
  } catch (err) {
    await connection.close();
    throw err;
  }
}
