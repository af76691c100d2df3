// Composition root: config → database → Temporal (embedded dev server or existing) → worker → gateway.
// Ctrl-C / SIGTERM drains the worker, closes the gateway, stops the dev server and closes the database.
import { copyFileSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { dirname, join, relative, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { loadConfig, type Config } from './config/load-config';
import { ConfigError } from './config/reader';
import { ServerTypeRegistry } from './config/server-types';
import { parseListen } from './config/formats';
import { EventHub } from './dashboard/event-hub';
import { hostUpdateRenderer } from './dashboard/render-update';
import { buildApp, buildHealthApp } from './gateway/app';
import type { ReadinessCheck } from './gateway/routes/health';
import { FeedStore } from './store/feed-store';
import { BootTokens } from './gateway/boot-tokens';
import { DashboardSessions } from './gateway/plugins/dashboard-session';
import { ImageLibrary } from './images/image-library';
import { DnsmasqSupervisor, renderDnsmasqConfig, testDnsmasqConfig } from './pxe/dnsmasq';
import { createLogger, type Logger } from './logging';
import { openDatabase } from './store/database';
import { HostStore } from './store/host-store';
import { OperationStore } from './store/operation-store';
import { loadOrCreateKeyFile } from './store/key-file';
import { PxeAllowList } from './store/pxe-allow-list';
import { RebuildKeyStore } from './store/rebuild-key-store';
import { startDevServer, type DevServer } from './temporal/dev-server';
import { RebuildClient } from './temporal/rebuild-client';
import { RebuildJanitor } from './temporal/rebuild-janitor';
import { ensureSearchAttributes } from './temporal/search-attributes';
import { findTemporalCli } from './temporal/temporal-cli';
import { searchAttributeKeys } from '../workflows/search-attributes';

// src/ → project root, also from dist/src/.
const projectRoot = __dirname.includes('/dist/') ? resolve(__dirname, '../..') : resolve(__dirname, '..');
const defaultConfig = 'provisioning.yaml';

/** What this process runs: the HTTP gateway (API, boot endpoints, dashboard, dnsmasq), the Temporal worker, or both. */
type Role = 'gateway' | 'worker' | 'all';
const roles: readonly Role[] = ['gateway', 'worker', 'all'];
const usageLine = 'usage: provisioning [--config provisioning.yaml] [--role gateway|worker|all] [--listen host:port]';

interface Args {
  config: string;
  role: Role;
  listen: { host: string; port: number } | null; // overrides server.listen (e.g. a second worker on one box)
}

function parseArgs(argv: string[]): Args {
  const args: Args = { config: defaultConfig, role: 'all', listen: null };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (!v) usage(`${flag} needs a value`);
      return v;
    };
    if (flag === '--config' || flag === '-c') args.config = value();
    else if (flag === '--role') {
      const role = value();
      if (!(roles as readonly string[]).includes(role)) usage(`--role must be one of ${roles.join(', ')}, got ${JSON.stringify(role)}`);
      args.role = role as Role;
    } else if (flag === '--listen') {
      const text = value();
      args.listen = parseListen(text);
      if (!args.listen) usage(`--listen expects host:port like 127.0.0.1:8081, got ${JSON.stringify(text)}`);
    } else if (flag === '--help' || flag === '-h') {
      process.stdout.write(`${usageLine}\n`);
      process.exit(0);
    } else usage(`unknown argument ${flag}`);
  }
  return args;
}

function usage(problem: string): never {
  process.stderr.write(`provisioning: ${problem}\n${usageLine}\n`);
  process.exit(2);
}

/** Copies an example file into place on first run; returns a line to log, or null. */
function createFromExample(target: string, example: string): string | null {
  if (existsSync(target)) return null;
  mkdirSync(dirname(resolve(target)), { recursive: true });
  // Copy, then rename into place: a second process starting now reads the whole file or none of it.
  const temporary = `${target}.${process.pid}.tmp`;
  copyFileSync(join(projectRoot, 'deploy', example), temporary);
  renameSync(temporary, target);
  return `created ${relative(process.cwd(), resolve(target)) || target} from deploy/${example}; edit it for your network`;
}

/** The 32-byte key that encrypts rebuild private keys at rest: from config/env, else generated once into the data dir. */
function keyEncryptionKey(config: Config, log: Logger): Buffer {
  if (config.secrets.keyEncryptionKey) return Buffer.from(config.secrets.keyEncryptionKey, 'hex');
  const file = join(config.dataDir, 'rebuild-key-encryption.key');
  const { key, created } = loadOrCreateKeyFile(file);
  if (created) log.info({ file }, 'generated the key-encryption key for rebuild keys');
  return key;
}

/** Writes and checks the dnsmasq config, then starts the supervised dnsmasq; throws naming the key to fix. */
async function startPxe(config: Config, allowList: PxeAllowList, log: Logger): Promise<DnsmasqSupervisor> {
  const host = new URL(config.server.publicUrl).hostname.replace(/^\[|\]$/g, '');
  const serverIp = isIP(host) ? host : (await lookup(host, { family: 4 })).address;
  for (const file of ['undionly.kpxe', 'ipxe.efi']) {
    if (!existsSync(join(config.pxe.tftpRoot, file))) {
      throw new Error(`${config.file}: pxe.tftp_root: ${config.pxe.tftpRoot} has no ${file} (install Debian's ipxe package or set pxe.tftp_root)`);
    }
  }
  if (!existsSync(config.pxe.dnsmasqPath)) {
    throw new Error(`${config.file}: pxe.dnsmasq_path: ${config.pxe.dnsmasqPath} does not exist (install Debian's dnsmasq-base or set pxe.dnsmasq_path)`);
  }
  const dir = join(config.dataDir, 'pxe');
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const configFile = join(dir, 'dnsmasq.conf');
  const hostsDir = join(dir, 'hosts');
  writeFileSync(
    configFile,
    renderDnsmasqConfig({
      interface: config.pxe.interface,
      subnet: config.pxe.subnet,
      serverIp,
      publicUrl: config.server.publicUrl,
      hostsDir,
      tftpRoot: config.pxe.tftpRoot,
      leaseFile: join(dir, 'dnsmasq.leases'),
    }),
    { mode: 0o644 },
  );
  const problem = testDnsmasqConfig(config.pxe.dnsmasqPath, configFile);
  if (problem) throw new Error(`the generated dnsmasq config ${configFile} failed dnsmasq --test: ${problem}`);
  const supervisor = new DnsmasqSupervisor({
    binary: config.pxe.dnsmasqPath,
    configFile,
    hostsDir,
    allowedMacs: () => allowList.list().map((a) => a.mac),
    log,
  });
  allowList.onChange(() => supervisor.sync());
  supervisor.start();
  log.info({ interface: config.pxe.interface, subnet: config.pxe.subnet, serverIp }, 'PXE proxy-DHCP running');
  return supervisor;
}

/** Settings a rebuild cannot succeed without, named as in provisioning.yaml. */
function rebuildBlockers(config: Config, images: ImageLibrary): string[] {
  const missing: string[] = [];
  if (!config.credentials.rootPasswordHash) missing.push('credentials.root_password_hash');
  if (images.list().length === 0) missing.push(`a boot image in ${config.images.dir} (see README: preparing a boot image)`);
  if (!config.proxmox.existingNode) missing.push('proxmox.existing_node');
  if (!config.proxmox.joinFingerprint) missing.push('proxmox.join_fingerprint');
  if (!config.proxmox.joinPassword) missing.push('proxmox.join_password (or PROVISIONING_JOIN_PASSWORD)');
  return missing;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const firstRunNotes: string[] = [];
  if (resolve(args.config) === resolve(defaultConfig)) {
    const note = createFromExample(args.config, 'provisioning.example.yaml');
    if (note) firstRunNotes.push(note);
  }

  let config: Readonly<Config>;
  try {
    config = loadConfig(args.config, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\nprovisioning: not started: fix the configuration above\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(process.env.LOG_LEVEL ?? 'info');
  for (const note of firstRunNotes) log.info(note);
  if (!existsSync(config.serverTypesFile) && config.serverTypesFile === resolve(dirname(config.file), 'server-types.yaml')) {
    log.info(createFromExample(config.serverTypesFile, 'server-types.example.yaml')!);
  }

  const cleanups: Array<() => Promise<void> | void> = [];
  const shutdown = async (reason: string, code: number) => {
    log.info({ reason }, 'shutting down');
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (err) {
        log.error({ err }, 'shutdown step failed');
      }
    }
    log.info('stopped');
    process.exit(code);
  };
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      void shutdown(signal, 0);
    });
  }

  if (args.role !== 'all' && config.temporal.address === '') {
    process.stderr.write(
      `${config.file}: temporal.address: --role ${args.role} needs a shared Temporal server (the embedded dev server only serves --role all)\nprovisioning: not started\n`,
    );
    process.exit(2);
  }
  const runsGateway = args.role !== 'worker';
  const runsWorker = args.role !== 'gateway';
  const listen = args.listen ?? config.server.listen;

  try {
    // Storage: gateway and workers share the SQLite file (WAL), so they run on the same box (or share /data).
    const db = openDatabase(config.database.path);
    cleanups.push(() => {
      db.close();
    });
    const hosts = new HostStore(db);
    const operations = new OperationStore(db);
    const secret = keyEncryptionKey(config, log);
    const keys = new RebuildKeyStore(db, secret);
    mkdirSync(config.images.dir, { recursive: true });
    const images = new ImageLibrary(config.images.dir);
    const pxeAllowList = new PxeAllowList(db);
    const readiness: Record<string, ReadinessCheck> = {
      database: async () => (db.prepare('SELECT 1 AS ok').get() ? null : 'database did not answer'),
    };

    // PXE (gateway): dnsmasq as proxy-DHCP/TFTP, answering only MACs on the allow-list.
    if (runsGateway && config.pxe.enabled) {
      const supervisor = await startPxe(config, pxeAllowList, log.child({ component: 'pxe' }));
      cleanups.push(() => supervisor.stop());
      readiness.dnsmasq = async () => (supervisor.pid !== null ? null : 'dnsmasq is not running (restarting)');
    } else if (runsGateway) {
      log.info('pxe.enabled is false: no dnsmasq; hosts must be pointed at /ipxe/<mac> some other way');
    }

    // Temporal: the embedded dev server unless temporal.address points at one.
    let address = config.temporal.address;
    let devServer: DevServer | null = null;
    if (address === '') {
      const cliPath = findTemporalCli(config.temporal.devServer.cliPath, process.env.PATH);
      log.info({ cliPath, port: config.temporal.devServer.port }, 'starting the embedded Temporal dev server');
      const devLog = log.child({ component: 'temporal-dev-server' });
      devServer = await startDevServer({
        cliPath,
        ip: config.temporal.devServer.ip,
        port: config.temporal.devServer.port,
        uiPort: config.temporal.devServer.uiPort,
        dbPath: config.temporal.devServer.dbPath,
        namespace: config.temporal.namespace,
        searchAttributes: searchAttributeKeys,
        onLog: (line) => devLog.info(line),
      });
      address = devServer.address;
      const server = devServer;
      cleanups.push(async () => {
        log.info('stopping the embedded Temporal dev server');
        await server.stop();
      });
    }

    const connection = await Connection.connect({ address });
    cleanups.push(() => connection.close());
    readiness.temporal = async () => {
      await connection.withDeadline(Date.now() + 3000, () => connection.workflowService.getSystemInfo({}));
      return null;
    };
    if (!devServer && runsGateway) await ensureSearchAttributes(connection, config.temporal.namespace, log);
    const client = new Client({ connection, namespace: config.temporal.namespace });

    // Worker: loaded on demand, so a gateway never loads the Temporal Core runtime, webpack or SSH code.
    if (runsWorker) {
      const { startWorkerRole } = await import('./temporal/worker-role.js');
      const worker = await startWorkerRole({ config, address, log, stores: { hosts, operations, keys, pxeAllowList } });
      // The worker stops only when we drain it; stopping on its own (an error, or a stop we did not ask for) ends the
      // service with status 1, so systemd or Docker restarts it instead of leaving a gateway with no worker.
      const stoppedOnItsOwn = (failed: boolean, err?: unknown) => {
        if (failed) log.error({ err }, 'worker stopped unexpectedly');
        if (stopping) return;
        if (!failed) log.error('worker stopped unexpectedly');
        stopping = true;
        void shutdown(failed ? 'worker failed' : 'worker stopped', 1);
      };
      worker.done.then(
        () => stoppedOnItsOwn(false),
        (err: unknown) => stoppedOnItsOwn(true, err),
      );
      cleanups.push(() => worker.stop());
      readiness.worker = async () => (worker.state() === 'RUNNING' ? null : `worker is ${worker.state().toLowerCase()}`);
    }

    let app;
    if (runsGateway) {
      // Janitor: cleans up after rebuilds that were terminated (no workflow code runs then).
      const janitor = new RebuildJanitor({ client, hosts, operations, keys, pxeAllowList, log: log.child({ component: 'janitor' }) });
      janitor.start(60_000);
      cleanups.push(() => janitor.stop());

      // Serve once server types load: a bad file stops the start-up with its reasons.
      let serverTypes: ServerTypeRegistry;
      try {
        serverTypes = new ServerTypeRegistry(config.serverTypesFile);
      } catch (err) {
        if (err instanceof ConfigError) {
          process.stderr.write(`${err.message}\nprovisioning: not started: fix the server types above\n`);
          await shutdown('invalid server types', 2);
        }
        throw err;
      }
      serverTypes.on('reloaded', (types) => log.info({ file: config.serverTypesFile, count: types.length }, 'server types reloaded'));
      serverTypes.on('rejected', (err) =>
        log.warn({ file: config.serverTypesFile, problems: err.problems }, 'server types edit rejected; keeping the last good set'),
      );
      serverTypes.watch();
      const registry = serverTypes;
      cleanups.push(() => registry.close());

      app = await buildApp({
        hosts,
        operations,
        serverTypes,
        rebuilds: new RebuildClient(client, config.temporal.taskQueue, () => config.timeouts),
        apiToken: config.server.apiToken,
        rebuildBlockers: () => rebuildBlockers(config, images),
        logger: log,
        readiness,
        pxeAllowList,
        keys,
        images,
        tokens: new BootTokens(secret),
        publicUrl: config.server.publicUrl,
        install: config.install,
        rootPasswordHash: config.credentials.rootPasswordHash,
        firstBootDeadlineSeconds: 900,
        sessions: new DashboardSessions(config.server.apiToken, secret),
        hub: new EventHub(new FeedStore(db), hostUpdateRenderer(hosts, operations)),
        temporalUi: { uiUrl: config.temporal.uiUrl, namespace: config.temporal.namespace },
      });
    } else {
      app = await buildHealthApp(log, readiness);
    }
    const server = app;
    cleanups.push(() => server.close());
    await app.listen({ host: listen.host, port: listen.port });
    if (runsGateway && !config.server.apiToken) log.warn('server.api_token is empty: the operator API is open to anyone who can reach it');

    const local = `http://${['0.0.0.0', '::'].includes(listen.host) ? '127.0.0.1' : listen.host}:${listen.port}`;
    const urls = { role: args.role, dashboard: `${local}/`, api: `${local}/api`, docs: `${local}/docs`, readyz: `${local}/readyz`, temporalUi: config.temporal.uiUrl || null, temporal: address };
    log.info(urls, 'provisioning is running');
    process.stdout.write(
      (runsGateway
        ? [
            '',
            `  Dashboard:        ${urls.dashboard}`,
            `  API:              ${urls.api}  (OpenAPI: ${urls.docs})`,
            `  Temporal Web UI:  ${urls.temporalUi ?? '(set temporal.ui_url)'}`,
            `  Temporal server:  ${address}${devServer ? ' (embedded dev server)' : ''}`,
            `  Role:             ${args.role}`,
            '',
          ]
        : ['', `  Worker on task queue ${config.temporal.taskQueue} at ${address}; health: ${urls.readyz}`, '']
      ).join('\n') + '\n',
    );
  } catch (err) {
    log.fatal({ err }, `start-up failed: ${(err as Error).message}`);
    await shutdown('start-up failed', 1);
  }
}

void main();
