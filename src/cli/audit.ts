// `provisioning audit`: the audit trail (GET /api/audit), its filters passed through as query parameters.
import { resolveHost, CliError, type CommandContext } from './context';
import { table } from './output';

export interface AuditOptions {
  host?: string; // id, hostname or MAC of a registered host (an id also for one deleted since)
  mac?: string;
  kind?: string;
  since?: string;
  until?: string;
  before?: string;
  limit?: string;
}

interface AuditEntryBody {
  id: number;
  at: string;
  kind: string;
  actor: string;
  address: string | null;
  host_id: number | null;
  hostname: string | null;
  mac: string | null;
  result: string;
  message: string;
}

export async function showAudit(ctx: CommandContext, options: AuditOptions): Promise<void> {
  let host = options.host;
  if (host !== undefined && !/^\d+$/.test(host)) {
    host = String(
      await resolveHost(ctx, host).then(
        (h) => h.id,
        (err: unknown) => {
          if (err instanceof CliError) throw new CliError(`${err.message}; for a host deleted since, give its id or --mac`);
          throw err;
        },
      ),
    );
  }
  const query = { host, mac: options.mac, kind: options.kind, since: options.since, until: options.until, before: options.before, limit: options.limit };
  const body = await ctx.api.request<{ entries: AuditEntryBody[]; next_before: number | null }>('GET', '/api/audit', { query });
  if (ctx.out.json) return ctx.out.printJson(body);
  const entries = body.entries;
  const c = ctx.out.out;
  if (entries.length === 0) {
    ctx.out.note('no audit entries match');
    return;
  }
  const resultText = (r: string) => (r === 'ok' ? r : r === 'refused' ? c.yellow(r) : c.red(r));
  const rows = entries.map((e) => [e.at, e.kind, `${e.actor}${e.address ? ` (${e.address})` : ''}`, resultText(e.result), e.hostname ?? e.mac ?? '-', e.message]);
  for (const l of table(['AT', 'KIND', 'WHO', 'RESULT', 'HOST', 'WHAT'], rows, c)) ctx.out.line(l);
  if (body.next_before != null) ctx.out.note(`older entries: the same with --before ${body.next_before}`);
}
