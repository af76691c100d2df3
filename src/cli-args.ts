// The command line: `provisioning [--config FILE] [--role gateway|worker|all] [--listen host:port]` runs the service;
// `provisioning backup <file> [--config FILE]` writes a consistent copy of its database and exits;
// `provisioning images prepare <iso-file> [--name N] …` prepares a boot image from a stock ISO and exits.
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
/** The usage of `images prepare`, printed after its own usage errors and with --help. */
export const imagesUsageLine = 'usage: provisioning images prepare <iso-file> [--name NAME] [--sha256 HEX] [--cert-fingerprint FP] [--config provisioning.yaml]';
/** What --help prints: every command. */
export const helpText = `${usageLine}\n${imagesUsageLine.replace(/^usage: /, '       ')}`;

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

/** Prepare a boot image under images.dir from a stock Proxmox VE ISO (offline: no service needs to run). */
export interface ImagesPrepareCommand {
  command: 'images-prepare';
  config: string;
  iso: string;
  name: string | null; // default from the ISO's /.cd-info, e.g. pve-9.1-1
  sha256: string | null; // the ISO's published checksum, checked while it is read
  certFingerprint: string | null; // for an https public_url with a certificate the installer cannot check against system CAs
}

export type CommandLine = ServiceCommand | BackupCommand | ImagesPrepareCommand | { command: 'help' };

/** Thrown when the command line cannot be understood; the message says what to fix, `usage` which usage to show. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly usage: string = usageLine,
  ) {
    super(message);
  }
}

const imageOptions = ['name', 'sha256', 'cert-fingerprint'] as const;

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
        name: { type: 'string' },
        sha256: { type: 'string' },
        'cert-fingerprint': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { command: 'help' };
  const [command, ...operands] = positionals;
  if (command === 'images') return imagesCommand(values, operands);
  for (const option of imageOptions) {
    if (values[option] !== undefined) throw new UsageError(`--${option} applies only to images prepare`);
  }
  if (command === 'backup') return backupCommand(values, operands);
  if (command !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(command)} (the commands are backup and images prepare; the config file goes after --config)`);
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

function imagesCommand(values: { config: string; role?: string; listen?: string; name?: string; sha256?: string; 'cert-fingerprint'?: string }, operands: string[]): ImagesPrepareCommand {
  const usage = (message: string) => new UsageError(message, imagesUsageLine);
  const [sub, ...files] = operands;
  if (sub !== 'prepare') throw usage(sub === undefined ? 'images needs a subcommand: images prepare <iso-file>' : `unknown images subcommand ${JSON.stringify(sub)} (the only one is prepare)`);
  for (const option of ['role', 'listen'] as const) {
    if (values[option] !== undefined) throw usage(`--${option} does not apply to images prepare`);
  }
  if (files.length === 0 || files[0]!.trim() === '') throw usage('images prepare needs the stock ISO, e.g. images prepare downloads/proxmox-ve_9.1-1.iso');
  if (files.length > 1) throw usage(`images prepare takes one ISO, got ${files.length}: ${files.join(' ')}`);
  return { command: 'images-prepare', config: values.config, iso: files[0]!, name: values.name ?? null, sha256: values.sha256 ?? null, certFingerprint: values['cert-fingerprint'] ?? null };
}
