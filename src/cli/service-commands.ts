// The service's own command line (src/main.ts: run the service, `backup <file>`, the offline `images prepare <iso>`)
// reached through `provisioning serve|run|backup|images prepare --offline`: the same program, run as a child with
// the arguments unchanged, its output and exit status passed through.
import { spawn } from 'node:child_process';
import { join } from 'node:path';

/** The built service entry point next to this file (dist/src/main.js). */
export const serviceEntry = join(__dirname, '..', 'main.js');

/**
 * Runs `node dist/src/main.js …args` in the foreground and resolves with its exit status. SIGINT and SIGTERM sent to
 * this process reach it too (a terminal's Ctrl-C reaches both; its shutdown ignores a second signal), so it drains
 * and stops as when started directly.
 */
export function runService(args: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, serviceEntry, ...args], { stdio: 'inherit' });
    const forward = (signal: NodeJS.Signals) => () => {
      if (child.exitCode === null) child.kill(signal);
    };
    const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((s) => [s, forward(s)] as const);
    for (const [s, h] of handlers) process.on(s, h);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      for (const [s, h] of handlers) process.off(s, h);
      // Killed by a signal: the shell's convention, 128 + its number.
      resolve(code ?? 128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : signal === 'SIGHUP' ? 1 : 9));
    });
  });
}
