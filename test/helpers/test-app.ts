// buildTestApp(): the real gateway on a real SQLite file and a real Temporal client (the suite's dev server).
// Real: SQLite, Fastify, Temporal. Fake: nothing; server types come from a temp YAML file.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { inject } from 'vitest';
import { ServerTypeRegistry } from '../../src/config/server-types';
import { buildApp } from '../../src/gateway/app';
import { createLogger } from '../../src/logging';
import { openDatabase, type Database } from '../../src/store/database';
import { HostStore } from '../../src/store/host-store';
import { OperationStore } from '../../src/store/operation-store';
import { PxeAllowList } from '../../src/store/pxe-allow-list';
import { RebuildKeyStore } from '../../src/store/rebuild-key-store';
import { RebuildClient } from '../../src/temporal/rebuild-client';
import type { RebuildTimeouts } from '../../src/domain/rebuild';
import { tempDir } from './temp-dir';
import { testNamespace } from '../setup/temporal-dev-server';
import { WorkflowNotFoundError } from '@temporalio/client';

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
  const client = new Client({ connection, namespace });
  const taskQueue = options.taskQueue ?? `test-${randomBytes(6).toString('hex')}`;
  const timeouts = options.timeouts ?? shortTimeouts;
  const hosts = new HostStore(db);
  const operations = new OperationStore(db);
  const app = await buildApp({
    hosts,
    operations,
    serverTypes,
    rebuilds: new RebuildClient(client, taskQueue, () => timeouts),
    apiToken: options.apiToken ?? '',
    rebuildBlockers: options.rebuildBlockers ?? (() => []),
    logger: createLogger('silent'),
  });
  await app.ready();
  return {
    app,
    db,
    dir: dir.path,
    dbPath,
    hosts,
    operations,
    keys: new RebuildKeyStore(db, options.keyEncryptionKey ?? randomBytes(32)),
    pxeAllowList: new PxeAllowList(db),
    client,
    namespace,
    taskQueue,
    timeouts,
    async close() {
      // Leave no rebuild of this test running in the shared namespace.
      for (const host of hosts.list()) {
        try {
          const handle = client.workflow.getHandle(`rebuild-${host.id}`);
          const d = await handle.describe();
          if (d.status.name === 'RUNNING' && d.taskQueue === taskQueue) await handle.terminate('test finished');
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        }
      }
      await app.close();
      await connection.close();
      db.close();
      dir.remove();
    },
  };
}
