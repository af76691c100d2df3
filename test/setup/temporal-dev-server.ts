// Vitest global setup: one real Temporal dev server (the same CLI `make run` uses) and one workflow bundle
// for the whole run. Test files connect with createFromExistingServer({ address: inject('temporalAddress') }).
import { createServer } from 'node:net';
import type { TestProject } from 'vitest/node';
import { startDevServer } from '../../src/temporal/dev-server';
import { findTemporalCli } from '../../src/temporal/temporal-cli';
import { bundleWorkflows } from '../../src/temporal/worker';
import { searchAttributeKeys } from '../../workflows/search-attributes';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

// One namespace per parallel test worker, so `rebuild-<hostId>` ids of different test files never collide.
const testNamespaces = Array.from({ length: 8 }, (_, i) => `test-${i + 1}`);

/** The namespace of the current test worker (VITEST_POOL_ID is 1…maxWorkers among files running at once). */
export function testNamespace(): string {
  const pool = Number(process.env.VITEST_POOL_ID ?? '1');
  return `test-${((pool - 1) % testNamespaces.length) + 1}`;
}

export default async function setup(project: TestProject) {
  const cliPath = findTemporalCli(process.env.TEMPORAL_CLI ?? '', process.env.PATH);
  const [server, bundle] = await Promise.all([
    startDevServer({
      cliPath,
      ip: '127.0.0.1',
      port: await freePort(),
      uiPort: null,
      dbPath: null,
      namespace: 'default',
      extraNamespaces: testNamespaces,
      searchAttributes: searchAttributeKeys,
    }),
    bundleWorkflows(),
  ]);
  project.provide('temporalAddress', server.address);
  project.provide('temporalCli', cliPath);
  project.provide('workflowCode', bundle.code);
  return async () => {
    await server.stop();
  };
}
