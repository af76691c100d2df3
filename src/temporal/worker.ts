import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { bundleWorkflowCode, Worker, type NativeConnection } from '@temporalio/worker';
import type { Activities } from '../../activities';
import { recordActivityFailures } from '../../activities/record-failures';
import type { OperationStore } from '../store/operation-store';

/** The workflows entry file, in the TypeScript tree or in dist/. */
export function workflowsPath(): string {
  const base = resolve(__dirname, '../../workflows/index');
  for (const candidate of [`${base}.ts`, `${base}.js`]) if (existsSync(candidate)) return candidate;
  throw new Error(`worker: cannot find the workflows entry file at ${base}.ts or .js`);
}

/** Bundles workflows/ once (webpack; seconds), to be reused by every Worker of the process. */
export async function bundleWorkflows(): Promise<{ code: string }> {
  const { code } = await bundleWorkflowCode({ workflowsPath: workflowsPath(), logger: silentBundlerLogger });
  return { code };
}

/** Where `npm run build` writes the bundle: dist/workflow-bundle.js. */
export const prebuiltBundlePath = resolve(__dirname, '../../workflow-bundle.js');

/**
 * The workflow code for a worker: the bundle written by `npm run build` when running from dist/ (built together
 * with the code, so never stale), else bundled now (running from the TypeScript sources, as the tests do).
 */
export async function loadWorkflowBundle(): Promise<{ code: string } | { codePath: string }> {
  if (__dirname.includes('/dist/') && existsSync(prebuiltBundlePath)) return { codePath: prebuiltBundlePath };
  return bundleWorkflows();
}

const noop = () => undefined;
const silentBundlerLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, log: noop };

/** Creates the worker that runs rebuild workflows and their activities on `taskQueue`. */
export async function createWorker(options: {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  /** Rebuilds kept in memory between events (`temporal.max_cached_workflows`); the SDK's default when absent. */
  maxCachedWorkflows?: number;
  activities: Activities;
  workflowBundle: { code: string } | { codePath: string };
  operations: OperationStore; // failed activity attempts are written to the rebuild's history
}): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    ...(options.maxCachedWorkflows === undefined ? {} : { maxCachedWorkflows: options.maxCachedWorkflows }),
    activities: options.activities,
    workflowBundle: options.workflowBundle,
    interceptors: { activity: [recordActivityFailures(options.operations)] },
  });
}
