// Composition root: command line → config → storage → Temporal (embedded dev server or existing) → worker role →
// gateway role (or a health-only server) → banner. Each step returns its own close; Shutdown closes them newest first
// on SIGINT/SIGTERM, a failed start, or a worker that stopped on its own. `backup <file>` copies the database instead;
// `images prepare <iso-file>` prepares a boot image.
import { helpText, parseCommandLine, UsageError, type BackupCommand, type CommandLine, type ImagesPrepareCommand, type ServiceCommand } from './cli-args';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from './config/reader';
import type { ReadinessCheck } from './gateway/routes/health';
import { createLogger, type Logger } from './logging';
import { runBackupCommand } from './service/backup';
import { runImagesCommand } from './service/images-command';
import { printBanner } from './service/banner';
import { loadConfigFiles } from './service/config-files';
import { startGatewayRole, startHealthServer } from './service/gateway-role';
import { openStorage } from './service/storage';
import { startTemporal } from './service/temporal';
import { Shutdown } from './shutdown';
import { startTracing, type Tracing } from './observability/tracing';

/** The version in the spans' resource: package.json's (beside src/ in the checkout, two up from dist/src/). */
const serviceVersion = ((): string => {
  for (const file of [resolve(__dirname, '../package.json'), resolve(__dirname, '../../package.json')]) {
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  }
  return 'unknown';
})();

/** Tracing as a Shutdown step: its close sends the spans still buffered. */
const withClose = (t: Tracing) => Object.assign(t, { close: () => t.shutdown() });

async function main(): Promise<void> {
  const args = commandLineOrExit(process.argv.slice(2));
  if (args.command === 'backup') {
    process.exitCode = await runBackupCommand(args, process.env);
    return;
  }
  if (args.command === 'images-prepare') {
    process.exitCode = await runImagesCommand(args, process.env);
    return;
  }
  const { config, notes } = orExitOnConfigError(() => loadConfigFiles(args.config, process.env));
  const log = createLogger(process.env.LOG_LEVEL ?? 'info');
  for (const note of notes) log.info(note);
  if (args.role !== 'all' && config.temporal.address === '') {
    exitOnConfigError(new ConfigError(config.file, [`temporal.address: --role ${args.role} needs a shared Temporal server (the embedded dev server only serves --role all)`]));
  }
  const runsGateway = args.role !== 'worker';
  const shutdown = new Shutdown(log).onSignals();
  try {
    const storage = shutdown.add('storage', openStorage(config, log));
    // Before the Temporal client: its interceptors carry each request's trace into the workflows it starts.
    const tracing = config.telemetry.otlpEndpoint ? shutdown.add('tracing', withClose(startTracing(config.telemetry.otlpEndpoint, { serviceName: `provisioning-${args.role}`, version: serviceVersion }))) : null;
    if (tracing) log.info({ endpoint: config.telemetry.otlpEndpoint }, 'tracing: spans go to the OTLP/HTTP endpoint');
    const temporal = shutdown.add('temporal', await startTemporal(config, { registerSearchAttributes: runsGateway, log, ...(tracing ? { interceptors: tracing.clientInterceptors() } : {}) }));
    const readiness: Record<string, ReadinessCheck> = { database: storage.ready, temporal: temporal.ready };
    if (args.role !== 'gateway') {
      // Loaded on demand: a gateway never loads the Temporal Core runtime, webpack or the SSH code.
      const { startWorkerRole } = await import('./service/worker-role.js');
      const worker = shutdown.add('worker', await startWorkerRole({ config, address: temporal.address, log, stores: storage, tracing }));
      readiness.worker = worker.ready;
      exitWhenStoppedOnItsOwn(worker.done, shutdown, log);
    }
    const http = shutdown.add('http', runsGateway ? await startGatewayRole({ config, storage, temporal, readiness, log, tracing: tracing !== null }) : await startHealthServer(log, readiness));
    const listen = args.listen ?? config.server.listen;
    await http.app.listen({ host: listen.host, port: listen.port });
    printBanner({ config, role: args.role, listen, temporal, log });
  } catch (err) {
    if (err instanceof ConfigError) process.stderr.write(`${err.message}\nprovisioning: not started: fix the configuration above\n`);
    else log.fatal({ err }, `start-up failed: ${(err as Error).message}`);
    await shutdown.exit('start-up failed', err instanceof ConfigError ? 2 : 1);
  }
}

/**
 * The worker stops only when we drain it. Stopping on its own (an error, or a stop we did not ask for) ends the service
 * with status 1, so systemd or Docker restarts it instead of leaving a gateway with no worker.
 */
function exitWhenStoppedOnItsOwn(done: Promise<void>, shutdown: Shutdown, log: Logger): void {
  const stopped = (err?: unknown) => {
    if (shutdown.stopping && err === undefined) return;
    log.error(err === undefined ? {} : { err }, 'worker stopped unexpectedly');
    void shutdown.exit(err === undefined ? 'worker stopped' : 'worker failed', 1);
  };
  done.then(() => stopped(), (err: unknown) => stopped(err ?? 'failed'));
}

function commandLineOrExit(argv: string[]): ServiceCommand | BackupCommand | ImagesPrepareCommand {
  let args: CommandLine;
  try {
    args = parseCommandLine(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`provisioning: ${err.message}\n${err.usage}\n`);
    process.exit(2);
  }
  if (args.command === 'help') {
    process.stdout.write(`${helpText}\n`);
    process.exit(0);
  }
  return args;
}

function orExitOnConfigError<T>(load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (err instanceof ConfigError) exitOnConfigError(err);
    throw err;
  }
}

function exitOnConfigError(err: ConfigError): never {
  process.stderr.write(`${err.message}\nprovisioning: not started: fix the configuration above\n`);
  process.exit(2);
}

void main();
