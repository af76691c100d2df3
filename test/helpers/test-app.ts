// buildTestApp(): the real gateway on a real SQLite file and a real Temporal client (the suite's dev server).
// Real: SQLite, Fastify, Temporal, the power drivers (no cluster API for the proxmox method). Fake: the power driver
// when a test passes one; server types come from a temp YAML file.
import { rebuildWorkflowId } from '../../src/domain/rebuild-ids';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { FastifyInstance } from 'fastify';
import { expect, inject } from 'vitest';
import { ServerTypeRegistry } from '../../src/config/server-types';
import { buildApp } from '../../src/gateway/app';
import { createLogger, type Logger } from '../../src/logging';
import { BootTokens } from '../../src/gateway/boot-tokens';
import { DashboardSessions } from '../../src/gateway/auth/dashboard-sessions';
import { ImageLibrary } from '../../src/images/image-library';
import { prepareImage, reprepareImage } from '../../src/images/iso-preparer';
import { ImageJobs } from '../../src/images/preparation-jobs';
import type { SetupItem } from '../../src/config/setup-checks';
import { EventHub, type EventHubOptions } from '../../src/dashboard/event-hub';
import { hostUpdateRenderer } from '../../src/dashboard/render-update';
import { operatorTools, type OperatorTools } from '../../src/observability/operator-tools';
import type { StreamHubOptions } from '../../src/observability/stream-hub';
import type { Tracing } from '../../src/observability/tracing';
import { FeedStore } from '../../src/store/feed-store';
import { openDatabase, type Database } from '../../src/store/database';
import { HostStore } from '../../src/store/host-store';
import { OperationStore } from '../../src/store/operation-store';
import { PowerStore } from '../../src/store/power-store';
import { PxeAllowList } from '../../src/store/pxe-allow-list';
import type { Host } from '../../src/domain/host';
import { powerDriver as realPowerDriver } from '../../src/power/drivers';
import type { PowerDriver, PowerTarget } from '../../src/power/types';
import type { PowerInputContext } from '../../src/gateway/power-input';
import { RebuildKeyStore } from '../../src/store/rebuild-key-store';
import { RebuildClient } from '../../src/temporal/rebuild-client';
import type { RebuildTimeouts } from '../../src/domain/rebuild';
import { tempDir } from './temp-dir';
import { testNamespace } from '../setup/temporal-dev-server';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { ClusterSnapshot } from '../../src/proxmox/cluster-monitor';
import type { RebuildPlanner } from '../../src/proxmox/rebuild-plan';

export const testServerTypes = `
server_types:
  minisforum-ms-01:
    display_name: "Minisforum MS-01"
    boot_disk: /dev/nvme0n1
    management_nic: enp2s0
    hostname_prefix: pve-ms
    filesystem: zfs
  minisforum-um790:
    display_name: "Minisforum UM790 Pro"
    boot_disk: /dev/nvme0n1
    management_nic: enp1s0
    gpu: true
    hostname_prefix: pve-um
`;

// openssl passwd -6 -salt Zc3xS0Gd1pG8r9Qe provisioning-test
export const testPasswordHash = '$6$Zc3xS0Gd1pG8r9Qe$FRr1Gc16G4e6CM5U1Q5WZQIsXWlKmOu/DKlGnXhT6y3iKA7hfv4DFKRrPlRn8ZmtCYvLOQvhr1MIrwUND6Q94.';

// "Short" next to the service's 20-30 minutes, yet longer than any test waits in one stage, so none fires by accident; a test
// of a stage timeout overrides that one stage with a sub-second or one-second timer.
export const shortTimeouts: RebuildTimeouts = { pxeBoot: '1m', answerFetch: '1m', install: '1m', phoneHome: '1m', join: '1m' };

export interface TestApp {
  app: FastifyInstance;
  db: Database;
  dir: string;
  dbPath: string;
  hosts: HostStore;
  operations: OperationStore;
  keys: RebuildKeyStore;
  pxeAllowList: PxeAllowList;
  power: PowerStore;
  /** The driver of a host's stored power settings, as the gateway's power routes and the test worker's activities get it. */
  powerDriverOf(host: Host): PowerDriver;
  images: ImageLibrary;
  imageJobs: ImageJobs;
  tokens: BootTokens;
  hub: EventHub;
  tools: OperatorTools; // the event stream, the audit trail, the metrics
  client: Client;
  namespace: string;
  taskQueue: string;
  timeouts: RebuildTimeouts;
  close(): Promise<void>;
}

/** Builds the gateway on a fresh database file; `close()` tears everything down. */
export async function buildTestApp(
  options: {
    apiToken?: string;
    taskQueue?: string;
    timeouts?: RebuildTimeouts;
    dbPath?: string;
    keyEncryptionKey?: Buffer;
    rebuildBlockers?: () => string[];
    setup?: () => Promise<SetupItem[]>;
    publicUrl?: string;
    logger?: Logger;
    hubOptions?: EventHubOptions;
    streamOptions?: StreamHubOptions; // GET /api/events
    metricsToken?: string; // server.metrics_token
    tracing?: Pick<Tracing, 'clientInterceptors'>; // a span per request, carried into the workflows it starts
    clusterSnapshot?: () => ClusterSnapshot;
    rebuildPlan?: RebuildPlanner; // the rebuild's pre-flight (planRebuild on a stand-in API); absent: no proxmox.api_token
    powerDriver?: (target: PowerTarget, host: Host) => PowerDriver; // gets the target as the store decrypts it
    powerInput?: Partial<PowerInputContext>; // default: pxe.subnet 192.168.1.0/24, the cluster API configured
  } = {},
): Promise<TestApp> {
  const dir = tempDir();
  const dbPath = options.dbPath ?? join(dir.path, 'provisioning.db');
  const db = openDatabase(dbPath);
  const typesFile = join(dir.path, 'server-types.yaml');
  writeFileSync(typesFile, testServerTypes);
  const serverTypes = new ServerTypeRegistry(typesFile);
  const connection = await Connection.connect({ address: inject('temporalAddress') });
  const namespace = testNamespace();
  const client = new Client({ connection, namespace, ...(options.tracing ? { interceptors: options.tracing.clientInterceptors() } : {}) });
  const taskQueue = options.taskQueue ?? `test-${randomBytes(6).toString('hex')}`;
  const timeouts = options.timeouts ?? shortTimeouts;
  const hosts = new HostStore(db);
  const operations = new OperationStore(db);
  const keyEncryptionKey = options.keyEncryptionKey ?? randomBytes(32);
  const keys = new RebuildKeyStore(db, keyEncryptionKey);
  const pxeAllowList = new PxeAllowList(db);
  const powerInput: PowerInputContext = { pxeSubnet: '192.168.1.0/24', proxmoxMissing: [], ...options.powerInput };
  const power = new PowerStore(db, keyEncryptionKey, { pxeSubnet: powerInput.pxeSubnet });
  const powerDriver = options.powerDriver ?? ((target: PowerTarget, host: Host) => realPowerDriver(target, { hostLabel: host.hostname, pxeSubnet: powerInput.pxeSubnet || null }));
  const imagesDir = join(dir.path, 'images');
  mkdirSync(imagesDir);
  const images = new ImageLibrary(imagesDir, 0); // tests add and remove images between requests
  const tokens = new BootTokens(keyEncryptionKey);
  const hub = new EventHub(new FeedStore(db), hostUpdateRenderer(hosts, operations, power), options.hubOptions);
  const publicUrl = options.publicUrl ?? 'http://127.0.0.1:8080';
  const imageJobs = new ImageJobs({ imagesDir, downloadIdleTimeoutMs: 300, prepare: prepareImage, reprepare: reprepareImage, answerUrl: () => `${publicUrl}/api/boot/answer`, certFingerprint: () => null, imageExists: (name) => images.choose(name) !== undefined, onPrepared: () => images.invalidate() });
  const tools = operatorTools({ db, hosts, operations, imageJobs, hub, metricsToken: options.metricsToken ?? '', ...(options.streamOptions ? { streamOptions: options.streamOptions } : {}) });
  const app = await buildApp({
    tracing: options.tracing !== undefined,
    tools,
    imageJobs,
    setup: options.setup ?? (async () => []),
    hosts,
    operations,
    serverTypes,
    rebuilds: new RebuildClient(client, taskQueue, () => timeouts),
    apiToken: options.apiToken ?? '',
    rebuildBlockers: options.rebuildBlockers ?? (() => []),
    logger: options.logger ?? createLogger('silent'),
    pxeAllowList,
    keys,
    images,
    tokens,
    publicUrl: options.publicUrl ?? 'http://127.0.0.1:8080',
    install: { domain: 'lab.example', country: 'us', keyboard: 'en-us', timezone: 'UTC', mailto: 'ops@lab.example' },
    rootPasswordHash: testPasswordHash,
    firstBootDeadlineSeconds: 60,
    hub,
    sessions: new DashboardSessions(options.apiToken ?? '', keyEncryptionKey),
    temporalUi: { uiUrl: 'http://127.0.0.1:8233', namespace },
    ...(options.clusterSnapshot ? { clusterSnapshot: options.clusterSnapshot } : {}),
    ...(options.rebuildPlan ? { rebuildPlan: options.rebuildPlan } : {}),
    power: { store: power, driver: (host) => powerDriverOf(host), input: powerInput },
  });
  await app.ready();
  function powerDriverOf(host: Host): PowerDriver {
    return powerDriver(power.target(host.id, host), host);
  }
  return {
    app,
    db,
    dir: dir.path,
    dbPath,
    hosts,
    operations,
    keys,
    pxeAllowList,
    power,
    powerDriverOf,
    images,
    imageJobs,
    tokens,
    hub,
    tools,
    client,
    namespace,
    taskQueue,
    timeouts,
    async close() {
      await imageJobs.close();
      // Leave no rebuild of this test running in the shared namespace.
      for (const host of hosts.list()) {
        try {
          const handle = client.workflow.getHandle(rebuildWorkflowId(host.id));
          const d = await handle.describe();
          if (d.taskQueue !== taskQueue) continue; // another test's rebuild with the same id
          if (process.env.RECORD_HISTORIES) await recordHistory(process.env.RECORD_HISTORIES, handle, host.id, d.status.name === 'RUNNING' ? hosts.get(host.id).state : null);
          if (d.status.name === 'RUNNING') await handle.terminate('test finished');
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        }
      }
      // The cluster lock workflows of this test's task queue (they end by themselves after idle minutes).
      for await (const lock of client.workflow.list({ query: `WorkflowType = 'clusterLockWorkflow' AND TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'` })) {
        const handle = client.workflow.getHandle(lock.workflowId);
        if (process.env.RECORD_HISTORIES) await recordHistory(process.env.RECORD_HISTORIES, handle, lock.workflowId.split('/').pop()!, 'lock');
        await handle.terminate('test finished').catch(() => undefined);
      }
      await app.close();
      await connection.close();
      db.close();
      dir.remove();
    },
  };
}

/**
 * `npm run histories:record` (RECORD_HISTORIES=<dir>): writes the history of each rebuild a test ran, as JSON, named
 * after the test; a rebuild still running is written as an open run at the state it waits in.
 */
async function recordHistory(dir: string, handle: WorkflowHandle, hostId: number | string, openAt: string | null): Promise<void> {
  const test = (expect.getState().currentTestName ?? 'unnamed').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 120);
  // A rebuild: --host-<id>[--open-at-<state>]; a cluster's lock workflow, open: --cluster-lock-<cluster>.
  const name = openAt === 'lock' ? `cluster-lock-${String(hostId).replace(/[^a-z0-9.]+/gi, '-')}` : `host-${hostId}${openAt ? `--open-at-${openAt}` : ''}`;
  const file = join(dir, `${test}--${name}.json`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, `${historyToJSON(await handle.fetchHistory())}\n`);
}
