// The service (dist/src/main.js) as a child process, with its output collected line by line.
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';

export interface ServiceProcess {
  child: ChildProcess;
  output: string[];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first output line matching `pattern` (already printed or to come). */
  waitFor(pattern: RegExp, ms?: number): Promise<string>;
}

/** Starts `node dist/src/main.js …args`, optionally behind a command prefix such as `ip netns exec <ns>`. */
export function startService(
  args: string[],
  options: { prefix?: string[]; env?: NodeJS.ProcessEnv; entry?: string; nodeFlags?: string[] } = {},
): ServiceProcess {
  const argv = [...(options.prefix ?? []), process.execPath, ...(options.nodeFlags ?? []), options.entry ?? resolve('dist/src/main.js'), ...args];
  const child = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const waiters: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  const onLine = (line: string) => {
    output.push(line);
    for (const w of [...waiters]) {
      if (w.pattern.test(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', onLine);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  return {
    child,
    output,
    exit,
    waitFor(pattern, ms = 60_000) {
      const seen = output.find((l) => pattern.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolveLine, reject) => {
        const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} within ${ms} ms; output:\n${output.slice(-40).join('\n')}`)), ms);
        waiters.push({ pattern, resolve: (l) => { clearTimeout(timer); resolveLine(l); } });
        void exit.then(() => setTimeout(() => { clearTimeout(timer); reject(new Error(`process exited before ${pattern}; output:\n${output.slice(-40).join('\n')}`)); }, 50));
      });
    },
  };
}

/** Stops the service with SIGTERM (SIGKILL if it does not exit in time). */
export async function stopService(service: ServiceProcess): Promise<void> {
  if (service.child.exitCode !== null || service.child.signalCode !== null) return;
  service.child.kill('SIGTERM');
  const force = setTimeout(() => service.child.kill('SIGKILL'), 20_000);
  await service.exit;
  clearTimeout(force);
}
