// `provisioning`, the operator's command line (package.json "bin", bin/provisioning.js): the REST API's commands
// (hosts, rebuild, cancel, explain, images, audit) against --url / PROVISIONING_URL with --token /
// PROVISIONING_API_TOKEN; and the service's own commands (serve/run, backup, images prepare --offline), which run
// dist/src/main.js unchanged.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { ApiClient, ApiError, UnreachableError } from './api-client';
import { showAudit, type AuditOptions } from './audit';
import { CliError, exitCodes, type CommandContext } from './context';
import { explainMac } from './explain';
import { addHost, listHosts, removeHost, showHost, type AddOptions } from './hosts';
import { listImages, prepareImage, type PrepareOptions } from './images';
import { createOutput, type Output } from './output';
import { cancelRebuild, rebuildHost, type RebuildOptions } from './rebuild';
import { runService } from './service-commands';

/** The URL used without --url or PROVISIONING_URL: the service's default listener on this machine. */
const defaultUrl = 'http://127.0.0.1:8080';

interface GlobalOptions {
  url?: string;
  token?: string;
  json?: boolean;
  color: boolean;
}

/** The service's commands, passed to dist/src/main.js as they are (their options are its own). */
const serviceCommands = new Set(['serve', 'run', 'backup']);

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [first, ...rest] = argv;
  if (first !== undefined && serviceCommands.has(first)) return runService(first === 'backup' ? argv : rest);
  let status: number = exitCodes.ok;
  const program = buildProgram(env, (s) => (status = s));
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? exitCodes.ok : exitCodes.usage;
    throw err;
  }
  return status;
}

/** The command tree; each API command's action reports its exit status through `done`. */
function buildProgram(env: NodeJS.ProcessEnv, done: (status: number) => void): Command {
  const program = new Command('provisioning')
    .description('Operate Provisioning over its REST API, or run the service itself (serve, backup, images prepare --offline).')
    .version(packageVersion(), '-V, --version')
    .addOption(new Option('--url <url>', `the service's base URL (env PROVISIONING_URL; default ${defaultUrl})`))
    .addOption(new Option('--token <token>', 'the operator API token (env PROVISIONING_API_TOKEN, which keeps it out of the process list)'))
    .option('--json', 'print the API’s JSON as it answers (one object per line for --watch)')
    .option('--no-color', 'no colour (also NO_COLOR=1; output that is not a terminal has none)')
    .exitOverride()
    .showHelpAfterError('(provisioning --help lists the commands)')
    .addHelpText(
      'after',
      `
Exit status: 0 done (a watched rebuild is ready), 1 the API refused or a watched rebuild failed,
2 usage, 3 the service could not be reached.

Examples:
  provisioning hosts add pve-ms-03 aa:bb:cc:dd:ee:03 --type minisforum-ms-01
  provisioning rebuild pve-ms-03 --watch
  provisioning explain aa:bb:cc:dd:ee:03
  provisioning --url http://10.0.0.5:8080 --json hosts list`,
    );

  /** Runs an API command with its context, turning its failure into a message and an exit status. */
  const api =
    <A extends unknown[]>(action: (ctx: CommandContext, ...args: A) => Promise<number | void>) =>
    async (...args: unknown[]) => {
      const command = args[args.length - 1] as Command; // commander passes the arguments, the options, the command
      const globals = command.optsWithGlobals<GlobalOptions>();
      const out = createOutput({ json: globals.json === true, color: globals.color, env });
      try {
        const ctx: CommandContext = { api: clientOf(globals, env), out };
        done((await action(ctx, ...(args as A))) ?? exitCodes.ok);
      } catch (err) {
        done(report(err, out, globals.url ?? env.PROVISIONING_URL));
      }
    };

  const hosts = program.command('hosts').description('the host registry');
  hosts.command('list').alias('ls').description('list every host').action(api((ctx) => listHosts(ctx)));
  hosts.command('show').argument('<host>', 'id, hostname or MAC').description('a host with its current rebuild (its events) and past rebuilds').action(api((ctx, host: string) => showHost(ctx, host)));
  hosts
    .command('add')
    .argument('<hostname>', 'a DNS label, e.g. pve-ms-03')
    .argument('<mac>', 'aa:bb:cc:dd:ee:ff, AA-BB-…, aabb.ccdd.eeff or bare hex')
    .requiredOption('-t, --type <server-type>', 'its server type (GET /api/server-types lists them)')
    .option('--power <json>', 'its power method as JSON, e.g. \'{"method":"wol"}\' (default manual)')
    .description('register a host')
    .action(api((ctx, hostname: string, mac: string, options: AddOptions) => addHost(ctx, hostname, mac, options)));
  hosts.command('rm').alias('remove').argument('<host>', 'id, hostname or MAC').description('remove a host and its history (refused during a rebuild)').action(api((ctx, host: string) => removeHost(ctx, host)));

  program
    .command('rebuild')
    .argument('<host>', 'id, hostname or MAC')
    .option('-w, --watch', 'follow it: a line per stage; exit 0 when ready, 1 naming the reason when it fails')
    .option('--migrate-guests', 'a cluster member: move its guests away first')
    .option('--migrate-target <member>', 'where to move them (implies --migrate-guests; default the least loaded member)')
    .option('--allow-quorum-loss', 'a cluster member whose removal costs quorum: go on anyway (README "allow_quorum_loss")')
    .description('rebuild a host')
    .action(api((ctx, host: string, options: RebuildOptions) => rebuildHost(ctx, host, options)));
  program.command('cancel').argument('<host>', 'id, hostname or MAC').description('cancel the running rebuild of a host (its cleanup still runs)').action(api((ctx, host: string) => cancelRebuild(ctx, host)));
  program.command('explain').argument('<mac>', 'any MAC notation').description('what this MAC would get if it network-booted now, and why').action(api((ctx, mac: string) => explainMac(ctx, mac)));

  const images = program.command('images').description('boot images');
  images.command('list').alias('ls').description('the boot images and the preparations running').action(api((ctx) => listImages(ctx)));
  images
    .command('prepare')
    .argument('<source>', "the stock Proxmox VE ISO: its URL (the service downloads it) or a local file (uploaded); with --offline a file on this machine")
    .option('--name <name>', 'the image name (default from the ISO, e.g. pve-9.1-1)')
    .option('--sha256 <hex>', 'the ISO’s published SHA-256; it must match')
    .option('-w, --watch', 'follow the preparation; exit 0 when the image is ready, 1 when it failed')
    .option('--offline', 'prepare it here without the service (node dist/src/main.js images prepare; make image)')
    .option('--cert-fingerprint <fp>', 'with --offline: the certificate the installer pins')
    .option('--config <file>', 'with --offline: the service’s config file (default provisioning.yaml)')
    .description('prepare a boot image from a stock Proxmox VE ISO')
    .action(async (source: string, options: PrepareOptions & { offline?: boolean; certFingerprint?: string; config?: string }, command: Command) => {
      if (options.offline) {
        if (options.watch) return usage(command, '--watch does not apply to --offline (it prints its progress anyway)');
        const args = ['images', 'prepare', source];
        if (options.name !== undefined) args.push('--name', options.name);
        if (options.sha256 !== undefined) args.push('--sha256', options.sha256);
        if (options.certFingerprint !== undefined) args.push('--cert-fingerprint', options.certFingerprint);
        if (options.config !== undefined) args.push('--config', options.config);
        return done(await runService(args));
      }
      if (options.certFingerprint !== undefined || options.config !== undefined) {
        return usage(command, `--${options.config !== undefined ? 'config' : 'cert-fingerprint'} applies only with --offline (the service uses its own)`);
      }
      await api((ctx, s: string, o: PrepareOptions) => prepareImage(ctx, s, o))(source, options, command);
    });

  program
    .command('audit')
    .option('--host <host>', 'one host: id, hostname or MAC')
    .option('--mac <mac>', 'one MAC (also of hosts deleted since)')
    .option('--kind <kind>', 'one kind, or a prefix ending in a dot: power.')
    .option('--since <time>', 'ISO time, inclusive')
    .option('--until <time>', 'ISO time, exclusive')
    .option('--before <id>', 'the next page: entries older than this id')
    .option('--limit <n>', 'entries per page')
    .description('the audit trail, newest first: who did what, from where, with what result')
    .action(api((ctx, options: AuditOptions) => showAudit(ctx, options)));

  program.command('serve').alias('run').description('run the service: node dist/src/main.js [--config provisioning.yaml] [--role …] [--listen …]');
  program.command('backup').argument('<file>').description('write a consistent copy of the database: node dist/src/main.js backup <file> [--config …]');
  return program;

  function usage(command: Command, message: string): void {
    command.error(message, { exitCode: exitCodes.usage, code: 'provisioning.usage' });
  }
}

function clientOf(globals: GlobalOptions, env: NodeJS.ProcessEnv): ApiClient {
  const url = globals.url ?? (env.PROVISIONING_URL || defaultUrl);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CliError(`--url expects the service's base URL like ${defaultUrl}, got ${JSON.stringify(url)}`, exitCodes.usage);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new CliError(`--url must be http:// or https://, got ${JSON.stringify(url)}`, exitCodes.usage);
  return new ApiClient({ url, token: globals.token ?? env.PROVISIONING_API_TOKEN ?? '' });
}

/** Prints a failure on stderr (with --json the API's error body on stdout too) and returns its exit status. */
function report(err: unknown, out: Output, url: string | undefined): number {
  const c = out.err;
  if (err instanceof ApiError) {
    if (out.json && typeof err.body === 'object' && err.body !== null) out.printJson(err.body);
    const hint = err.status === 401 ? ' (set the token with --token or PROVISIONING_API_TOKEN)' : '';
    out.note(`provisioning: ${c.red(err.message)}${hint} ${c.dim(`[${err.code}, HTTP ${err.status}]`)}`);
    return exitCodes.failed;
  }
  if (err instanceof UnreachableError) {
    const where = url === undefined ? ` (the default; set --url or PROVISIONING_URL)` : '';
    out.note(`provisioning: ${c.red(`cannot reach ${err.url}${where}: ${err.reason}`)}`);
    return exitCodes.unreachable;
  }
  if (err instanceof CliError) {
    out.note(`provisioning: ${c.red(err.message)}`);
    return err.status;
  }
  out.note(`provisioning: ${c.red(`unexpected error: ${(err as Error)?.stack ?? String(err)}`)}`);
  return exitCodes.failed;
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

main(process.argv.slice(2), process.env).then(
  (status) => {
    process.exitCode = status;
  },
  (err: unknown) => {
    process.stderr.write(`provisioning: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = exitCodes.failed;
  },
);
