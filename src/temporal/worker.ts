import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Resource } from '@opentelemetry/resources';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { makeWorkflowExporter, OpenTelemetryActivityInboundInterceptor } from '@temporalio/interceptors-opentelemetry/lib/worker';
import { bundleWorkflowCode, Worker, type ActivityInterceptorsFactory, type NativeConnection } from '@temporalio/worker';
import type { Activities } from '../../activities';
import { recordActivityFailures } from './activity-failures';
import { sshTaskQueue } from '../domain/rebuild';
import type { OperationStore } from '../store/operation-store';

/** The workflows entry file, in the TypeScript tree or in dist/. */
export function workflowsPath(): string {
  const base = resolve(__dirname, '../../workflows/index');
  for (const candidate of [`${base}.ts`, `${base}.js`]) if (existsSync(candidate)) return candidate;
  throw new Error(`worker: cannot find the workflows entry file at ${base}.ts or .js`);
}

/**
 * Bundles workflows/ once (webpack; seconds), to be reused by every Worker of the process; `tracing` adds Temporal's
 * OpenTelemetry workflow interceptors (spans through the `exporter` sink; they add no command to the history).
 */
export async function bundleWorkflows(o: { tracing?: boolean } = {}): Promise<{ code: string }> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: workflowsPath(),
    logger: silentBundlerLogger,
    ...(o.tracing ? { workflowInterceptorModules: [require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors')] } : {}),
  });
  return { code };
}

/** Where `npm run build` writes the bundles: dist/workflow-bundle.js, and with the tracing interceptors dist/workflow-bundle-tracing.js. */
export const prebuiltBundlePath = resolve(__dirname, '../../workflow-bundle.js');
export const prebuiltTracingBundlePath = resolve(__dirname, '../../workflow-bundle-tracing.js');

/**
 * The workflow code for a worker: the bundle written by `npm run build` when running from dist/ (built together
 * with the code, so never stale), else bundled now (running from the TypeScript sources, as the tests do).
 */
export async function loadWorkflowBundle(o: { tracing?: boolean } = {}): Promise<{ code: string } | { codePath: string }> {
  const prebuilt = o.tracing ? prebuiltTracingBundlePath : prebuiltBundlePath;
  if (__dirname.includes('/dist/') && existsSync(prebuilt)) return { codePath: prebuilt };
  return bundleWorkflows(o);
}

const noop = () => undefined;
const silentBundlerLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, log: noop };

/** The SSH activities: they run on the SSH task queue, a capped number at a time. */
const sshActivityNames = ['joinCluster', 'removeRebuildKeyFromHost', 'removeOldNodeKey'] as const satisfies ReadonlyArray<keyof Activities>;

/**
 * The service's worker: one Temporal Worker for the rebuild workflows and their other activities on `taskQueue`,
 * and one for the SSH activities on `<taskQueue>-ssh` that runs at most `maxParallelJoins` of them at once (the
 * rest wait on the Temporal server, costing this process nothing). Both share the connection and run and stop
 * together.
 */
export class RebuildWorker {
  private readonly workers: Worker[];

  constructor(
    readonly main: Worker,
    readonly ssh: Worker,
  ) {
    this.workers = [main, ssh];
  }

  /** Runs both until shutdown; when one stops or fails, the other is shut down too, and the first failure is thrown. */
  async run(): Promise<void> {
    const results = await Promise.allSettled(this.workers.map((w) => w.run().finally(() => this.shutdown())));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Starts draining both (idempotent). */
  shutdown(): void {
    for (const w of this.workers) if (w.getState() === 'RUNNING') w.shutdown();
  }

  /** RUNNING while both run; otherwise the state of the one that is not (FAILED first). */
  getState(): ReturnType<Worker['getState']> {
    const states = this.workers.map((w) => w.getState());
    return states.find((s) => s === 'FAILED') ?? states.find((s) => s !== 'RUNNING') ?? 'RUNNING';
  }
}

/** Creates the worker that runs rebuild workflows and their activities on `taskQueue` (and the SSH ones beside it). */
export async function createWorker(options: {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  /** Rebuilds kept in memory between events (`temporal.max_cached_workflows`); the SDK's default when absent. */
  maxCachedWorkflows?: number;
  /** SSH activities (joins, key removals) running at once (`proxmox.max_parallel_joins`). */
  maxParallelJoins: number;
  activities: Activities;
  workflowBundle: { code: string } | { codePath: string };
  operations: OperationStore; // failed activity attempts are written to the rebuild's history
  /** With telemetry.otlp_endpoint: activity spans, and the workflow's spans through the `exporter` sink (the bundle must have the tracing interceptors). */
  tracing?: { processor: SpanProcessor; resource: Resource } | undefined;
}): Promise<RebuildWorker> {
  const tracingInterceptor: ActivityInterceptorsFactory = (ctx) => ({ inbound: new OpenTelemetryActivityInboundInterceptor(ctx) });
  const interceptors = { activity: [...(options.tracing ? [tracingInterceptor] : []), recordActivityFailures(options.operations)] };
  const sinks = options.tracing ? { sinks: { exporter: makeWorkflowExporter(options.tracing.processor, options.tracing.resource) } } : {};
  const main = await Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    ...(options.maxCachedWorkflows === undefined ? {} : { maxCachedWorkflows: options.maxCachedWorkflows }),
    // All activities, the SSH ones too: an SSH activity scheduled on this queue before the SSH queue existed (a
    // rebuild in flight across the upgrade) still finds a worker.
    activities: options.activities,
    workflowBundle: options.workflowBundle,
    interceptors,
    ...sinks,
  });
  const ssh = await Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: sshTaskQueue(options.taskQueue),
    activities: Object.fromEntries(sshActivityNames.map((name) => [name, options.activities[name]])),
    maxConcurrentActivityTaskExecutions: options.maxParallelJoins,
    interceptors,
  });
  return new RebuildWorker(main, ssh);
}
