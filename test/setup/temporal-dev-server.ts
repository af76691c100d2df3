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
