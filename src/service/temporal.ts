// Temporal: the server at temporal.address, or with none configured the embedded dev server, and the client
// connection to it.
import { Client, Connection, type ClientInterceptors } from '@temporalio/client';
import type { Config } from '../config/load-config';
import type { ReadinessCheck } from '../gateway/routes/health';
import type { Logger } from '../logging';
import { startDevServer, type DevServer } from '../temporal/dev-server';
import { ensureSearchAttributes } from '../temporal/search-attributes';
import { findTemporalCli } from '../temporal/temporal-cli';
import { searchAttributeKeys } from '../../workflows/search-attributes';

/** How long /readyz waits for the Temporal server to answer. */
const readinessDeadlineMs = 3000;

export interface TemporalConnection {
  address: string; // 127.0.0.1:7233
  embedded: boolean; // true: the dev server this process started
  connection: Connection;
  client: Client;
  ready: ReadinessCheck;
  close(): Promise<void>;
}

/**
 * Connects to temporal.address, or starts the embedded dev server when it is empty. On an existing server the
 * gateway registers the rebuild search attributes (the embedded one gets them as flags).
 */
export async function startTemporal(config: Readonly<Config>, o: { registerSearchAttributes: boolean; log: Logger; interceptors?: ClientInterceptors }): Promise<TemporalConnection> {
  const devServer = config.temporal.address === '' ? await startEmbedded(config, o.log) : null;
  const address = devServer?.address ?? config.temporal.address;
  try {
    const connection = await Connection.connect({ address });
    if (!devServer && o.registerSearchAttributes) await ensureSearchAttributes(connection, config.temporal.namespace, o.log);
    return {
      address,
      embedded: devServer !== null,
      connection,
      client: new Client({ connection, namespace: config.temporal.namespace, ...(o.interceptors ? { interceptors: o.interceptors } : {}) }),
      ready: async () => {
        await connection.withDeadline(Date.now() + readinessDeadlineMs, () => connection.workflowService.getSystemInfo({}));
        return null;
      },
      async close() {
        await connection.close();
        await stopEmbedded(devServer, o.log);
      },
    };
  } catch (err) {
    await stopEmbedded(devServer, o.log);
    throw err;
  }
}

async function startEmbedded(config: Readonly<Config>, log: Logger): Promise<DevServer> {
  const { devServer } = config.temporal;
  const cliPath = findTemporalCli(devServer.cliPath, process.env.PATH);
  log.info({ cliPath, port: devServer.port }, 'starting the embedded Temporal dev server');
  const devLog = log.child({ component: 'temporal-dev-server' });
  return startDevServer({
    cliPath,
    ip: devServer.ip,
    port: devServer.port,
    uiPort: devServer.uiPort,
    dbPath: devServer.dbPath,
    namespace: config.temporal.namespace,
    searchAttributes: searchAttributeKeys,
    onLog: (line) => devLog.info(line),
  });
}

async function stopEmbedded(devServer: DevServer | null, log: Logger): Promise<void> {
  if (!devServer) return;
  log.info('stopping the embedded Temporal dev server');
  await devServer.stop();
}
