// The gateway half of the service (`--role gateway|all`): PXE, the janitor, the server types and the HTTP app
// (operator API, boot endpoints, dashboard). A worker-only process serves /healthz and /readyz instead.
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/load-config';
import { ServerTypeRegistry } from '../config/server-types';
import { checkSetup, missingForRebuild, setupItems } from '../config/setup-checks';
import { EventHub } from '../dashboard/event-hub';
import { hostUpdateRenderer } from '../dashboard/render-update';
import { buildApp, buildHealthApp } from '../gateway/app';
import { operatorTools, startPruning } from '../observability/operator-tools';
import { durationMs } from '../domain/duration';
import { BootTokens } from '../gateway/boot-tokens';
import { DashboardSessions } from '../gateway/auth/dashboard-sessions';
import type { ReadinessCheck } from '../gateway/routes/health';
import { firstBootDeadlineSeconds } from '../boot/first-boot-script';
import { brokenImages } from '../images/image-staleness';
import { ProxmoxApi } from '../proxmox/api-client';
import { ClusterMonitor } from '../proxmox/cluster-monitor';
import { planRebuild, uncheckedPlanner } from '../proxmox/rebuild-plan';
import { prepareImage, reprepareImage } from '../images/iso-preparer';
import { ImageJobs } from '../images/preparation-jobs';
import { rebuildRunTimeoutMs } from '../domain/rebuild';
import type { Logger } from '../logging';
import { FeedStore } from '../store/feed-store';
import { PowerStore } from '../store/power-store';
import { powerControlOf } from './power-control';
import type { PowerDeps } from '../gateway/routes/power';
import { RebuildClient } from '../temporal/rebuild-client';
import { RebuildJanitor } from '../temporal/rebuild-janitor';
import { startPxe } from './pxe';
import { loadOrCreateTls, startHttpsListener, type HttpsListener } from './tls';
import type { Storage } from './storage';
import type { TemporalConnection } from './temporal';

/** How often the janitor looks for rebuilds that were terminated (no workflow code ran their cleanup). */
const janitorIntervalMs = 60_000;

export interface RunningHttp {
  app: FastifyInstance;
  https?: HttpsListener | null; // the boot API over HTTPS (server.tls), listening already; it closes with the app
  close(): Promise<void>;
}

/**
 * Starts PXE (when pxe.enabled), the janitor and the server types, and builds the gateway app; `readiness` gains the
 * dnsmasq check. A bad server types file throws its ConfigError.
 */
export async function startGatewayRole(o: {
  config: Readonly<Config>;
  storage: Storage;
  temporal: TemporalConnection;
  readiness: Record<string, ReadinessCheck>;
  log: Logger;
  tracing?: boolean; // telemetry.otlp_endpoint set: a span per request
}): Promise<RunningHttp> {
  const { config, storage, log } = o;
  const closers: Array<() => Promise<void> | void> = [];
  const close = async () => {
    for (const step of closers.reverse()) await step();
  };
  try {
    if (config.pxe.enabled) {
      const pxe = await startPxe(config, storage.pxeAllowList, log.child({ component: 'pxe' }));
      closers.push(() => pxe.close());
      o.readiness.dnsmasq = pxe.ready;
    } else {
      log.info('pxe.enabled is false: no dnsmasq; hosts must be pointed at /ipxe/<mac> some other way');
    }
    const janitor = new RebuildJanitor({
      client: o.temporal.client,
      hosts: storage.hosts,
      operations: storage.operations,
      keys: storage.keys,
      pxeAllowList: storage.pxeAllowList,
      log: log.child({ component: 'janitor' }),
      unboundedRunLimitMs: rebuildRunTimeoutMs(config.timeouts, { powered: true }),
    });
    janitor.start(janitorIntervalMs);
    closers.push(() => janitor.stop());
    const serverTypes = watchServerTypes(config.serverTypesFile, log);
    closers.push(() => serverTypes.close());
    const { hosts, operations, keys, pxeAllowList, images } = storage;
    const power = new PowerStore(storage.db, storage.secret, { pxeSubnet: config.pxe.subnet });
    // Before the app: the answer's URLs and prepared images carry the HTTPS certificate's fingerprint.
    const tls = config.server.tls ? await loadOrCreateTls(config, log.child({ component: 'tls' })) : null;
    const https = config.server.tls && tls ? { publicUrl: config.server.tls.publicUrl, certFingerprint: tls.fingerprint } : null;
    const api = clusterApi(config);
    // Checked at once and every 15 s, not awaited: a slow or unreachable member must not hold up the start.
    const cluster = api ? new ClusterMonitor(api, log.child({ component: 'cluster' })) : null;
    if (cluster) {
      cluster.start();
      closers.push(() => cluster.stop());
    }
    const imageJobs = new ImageJobs({ imagesDir: images.dir, prepare: prepareImage, reprepare: reprepareImage, answerUrl: () => `${https?.publicUrl ?? config.server.publicUrl}/api/boot/answer`, plainAnswerUrl: () => `${config.server.publicUrl}/api/boot/answer`, certFingerprint: () => https?.certFingerprint ?? null, imageExists: (name) => images.choose(name) !== undefined, onPrepared: () => images.invalidate() });
    closers.push(() => imageJobs.close());
    const hub = new EventHub(new FeedStore(storage.db), hostUpdateRenderer(storage.hosts, storage.operations, power));
    const tools = operatorTools({ db: storage.db, hosts, operations, imageJobs, hub, metricsToken: config.server.metricsToken, auditRetention: config.audit.retention });
    const pruning = startPruning(tools, durationMs(config.audit.retention), (pruned) => log.info(pruned, 'pruned the audit trail and the event stream'));
    closers.push(() => clearInterval(pruning));
    const app = await buildApp({
      tracing: o.tracing ?? false,
      tools,
      imageJobs,
      hosts,
      operations,
      keys,
      pxeAllowList,
      images,
      serverTypes,
      rebuilds: new RebuildClient(o.temporal.client, config.temporal.taskQueue, () => config.timeouts, { notify: config.notifications.length > 0 }),
      apiToken: config.server.apiToken,
      rebuildBlockers: () => missingForRebuild(setupItems(config, { images: images.list().map((i) => i.name), unusableImages: brokenImages(images.list(), imageJobs.answerSettings()), clusterReachable: null })).map((i) => i.label),
      setup: () => checkSetup(config, images.list().map((i) => i.name), undefined, brokenImages(images.list(), imageJobs.answerSettings())),
      logger: log,
      readiness: o.readiness,
      ...(cluster ? { clusterSnapshot: () => cluster.snapshot() } : {}),
      // The rebuild's pre-flight reads the cluster when asked (a plan is never older than the request).
      rebuildPlan: api ? (host, choice) => planRebuild(api, host, choice, { existingNode: config.proxmox.existingNode, fingerprint: config.proxmox.joinFingerprint }) : uncheckedPlanner(config.proxmox.existingNode),
      tokens: new BootTokens(storage.secret),
      publicUrl: config.server.publicUrl,
      https,
      install: config.install,
      rootPasswordHash: config.credentials.rootPasswordHash,
      firstBootDeadlineSeconds,
      sessions: new DashboardSessions(config.server.apiToken, storage.secret),
      hub,
      temporalUi: { uiUrl: config.temporal.uiUrl, namespace: config.temporal.namespace },
      power: powerDeps(config, power),
    });
    closers.push(() => app.close());
    const httpsListener = config.server.tls && tls ? await startHttpsListener(app, config.server.tls, tls, log.child({ component: 'https' })) : null;
    if (!config.server.apiToken) log.warn('server.api_token is empty: the operator API is open to anyone who can reach it');
    return { app, https: httpsListener, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The HTTP server of a worker-only process: /healthz and /readyz. */
export async function startHealthServer(log: Logger, readiness: Record<string, ReadinessCheck>): Promise<RunningHttp> {
  const app = await buildHealthApp(log, readiness);
  return { app, close: () => app.close() };
}

/** Loads the server types (throws ConfigError on a bad file) and reloads them when the file changes. */
function watchServerTypes(file: string, log: Logger): ServerTypeRegistry {
  const serverTypes = new ServerTypeRegistry(file);
  serverTypes.on('reloaded', (types) => log.info({ file, count: types.length }, 'server types reloaded'));
  serverTypes.on('rejected', (err) => log.warn({ file, problems: err.problems }, 'server types edit rejected; keeping the last good set'));
  serverTypes.watch();
  return serverTypes;
}

/** Settings a rebuild cannot succeed without, named as in provisioning.yaml. */

/** The cluster API of proxmox.existing_node, when a token is configured (else the cluster is not checked). */
function clusterApi(config: Readonly<Config>): ProxmoxApi | null {
  const p = config.proxmox;
  if (!p.apiToken || !p.existingNode || !p.joinFingerprint) return null;
  return new ProxmoxApi({ host: p.existingNode, port: p.apiPort, fingerprint: p.joinFingerprint, apiToken: p.apiToken, rootPassword: p.joinPassword || null, timeoutMs: 5_000 });
}

/** The hosts' power: the stored settings, a driver per call (its target read from the store), the checks of new settings. */
function powerDeps(config: Readonly<Config>, store: PowerStore): PowerDeps {
  const control = powerControlOf(config, store);
  return { store, driver: control.driver, input: { pxeSubnet: config.pxe.subnet, proxmoxMissing: control.proxmoxMissing } };
}
