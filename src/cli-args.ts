// The command line: `provisioning [--config FILE] [--role gateway|worker|all] [--listen host:port]` runs the service;
// `provisioning backup <file> [--config FILE]` writes a consistent copy of its database and exits.
import { parseArgs } from 'node:util';
import { parseListen } from './config/formats';

/** What this process runs: the HTTP gateway (API, boot endpoints, dashboard, dnsmasq), the Temporal worker, or both. */
export type Role = 'gateway' | 'worker' | 'all';
const roles: readonly Role[] = ['gateway', 'worker', 'all'];

/** The config file read when --config is not given; on first run it is created from the example. */
export const defaultConfigFile = 'provisioning.yaml';
export const usageLine = [
  'usage: provisioning [--config provisioning.yaml] [--role gateway|worker|all] [--listen host:port]',
  '       provisioning backup <file> [--config provisioning.yaml]',
].join('\n');

/** Run the service. */
export interface ServiceCommand {
  command: 'run';
  config: string;
  role: Role;
  listen: { host: string; port: number } | null; // overrides server.listen (e.g. a second worker on one box)
}

/** Write a backup of the service's database to `file` (never overwriting it). */
export interface BackupCommand {
  command: 'backup';
  config: string;
  file: string;
}

export type CommandLine = ServiceCommand | BackupCommand | { command: 'help' };

/** Thrown when the command line cannot be understood; the message says what to fix. */
export class UsageError extends Error {}

/** Parses `argv` (without node and the script); throws UsageError. */
export function parseCommandLine(argv: string[]): CommandLine {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c', default: defaultConfigFile },
        role: { type: 'string' },
        listen: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { command: 'help' };
  const [command, ...operands] = positionals;
  if (command === 'backup') return backupCommand(values, operands);
  if (command !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(command)} (the only command is backup; the config file goes after --config)`);
  const role = values.role ?? 'all';
  if (!(roles as readonly string[]).includes(role)) throw new UsageError(`--role must be one of ${roles.join(', ')}, got ${JSON.stringify(role)}`);
  const listen = values.listen === undefined ? null : parseListen(values.listen);
  if (values.listen !== undefined && !listen) throw new UsageError(`--listen expects host:port like 127.0.0.1:8081, got ${JSON.stringify(values.listen)}`);
  return { command: 'run', config: values.config, role: role as Role, listen };
}

function backupCommand(values: { config: string; role?: string; listen?: string }, operands: string[]): BackupCommand {
  for (const option of ['role', 'listen'] as const) {
    if (values[option] !== undefined) throw new UsageError(`--${option} does not apply to backup`);
  }
  if (operands.length === 0) throw new UsageError('backup needs the file to write, e.g. backup backups/provisioning.db');
  if (operands.length > 1) throw new UsageError(`backup writes one file, got ${operands.length}: ${operands.join(' ')}`);
  const file = operands[0]!;
  if (file.trim() === '') throw new UsageError('backup needs the file to write, got an empty name');
  return { command: 'backup', config: values.config, file };
}
