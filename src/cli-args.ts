// The command line: `provisioning [--config FILE] [--role gateway|worker|all] [--listen host:port]`.
import { parseArgs } from 'node:util';
import { parseListen } from './config/formats';

/** What this process runs: the HTTP gateway (API, boot endpoints, dashboard, dnsmasq), the Temporal worker, or both. */
export type Role = 'gateway' | 'worker' | 'all';
const roles: readonly Role[] = ['gateway', 'worker', 'all'];

/** The config file read when --config is not given; on first run it is created from the example. */
export const defaultConfigFile = 'provisioning.yaml';
export const usageLine = 'usage: provisioning [--config provisioning.yaml] [--role gateway|worker|all] [--listen host:port]';

export interface CommandLine {
  config: string;
  role: Role;
  listen: { host: string; port: number } | null; // overrides server.listen (e.g. a second worker on one box)
  help: boolean;
}

/** Thrown when the command line cannot be understood; the message says what to fix. */
export class UsageError extends Error {}

/** Parses `argv` (without node and the script); throws UsageError. */
export function parseCommandLine(argv: string[]): CommandLine {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c', default: defaultConfigFile },
        role: { type: 'string', default: 'all' },
        listen: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (!(roles as readonly string[]).includes(values.role)) throw new UsageError(`--role must be one of ${roles.join(', ')}, got ${JSON.stringify(values.role)}`);
  const listen = values.listen === undefined ? null : parseListen(values.listen);
  if (values.listen !== undefined && !listen) throw new UsageError(`--listen expects host:port like 127.0.0.1:8081, got ${JSON.stringify(values.listen)}`);
  return { config: values.config, role: values.role as Role, listen, help: values.help };
}
