// `provisioning hosts list|show|add|rm`: the host registry (GET/POST /api/hosts, GET/DELETE /api/hosts/{id}).
import type { HostBody, HostDetailBody, OperationBody } from './api-types';
import { CliError, exitCodes, resolveHost, type CommandContext } from './context';
import { clockText, stateText, table } from './output';

export async function listHosts(ctx: CommandContext): Promise<void> {
  const body = await ctx.api.request<{ hosts: HostBody[] }>('GET', '/api/hosts');
  if (ctx.out.json) return ctx.out.printJson(body);
  if (body.hosts.length === 0) {
    ctx.out.note('no hosts registered yet: provisioning hosts add HOSTNAME MAC --type SERVER_TYPE');
    return;
  }
  const c = ctx.out.out;
  const rows = body.hosts.map((h) => [String(h.id), h.hostname, h.mac, h.server_type, stateText(h.state, c), h.ip_address ?? '-', h.power.method]);
  for (const l of table(['ID', 'HOSTNAME', 'MAC', 'SERVER TYPE', 'STATE', 'IP', 'POWER'], rows, c)) ctx.out.line(l);
}

export async function showHost(ctx: CommandContext, host: string): Promise<void> {
  const { id } = await resolveHost(ctx, host);
  const h = await ctx.api.request<HostDetailBody>('GET', `/api/hosts/${id}`);
  if (ctx.out.json) return ctx.out.printJson(h);
  const c = ctx.out.out;
  const facts: Array<[string, string]> = [
    ['id', String(h.id)],
    ['hostname', h.hostname],
    ['mac', h.mac],
    ['server type', h.server_type],
    ['state', stateText(h.state, c)],
    ['ip address', h.ip_address ?? '-'],
    ['hardware id', h.hardware_id ?? '-'],
    ['machine id', h.machine_id ?? '-'],
    ['power', powerText(h.power)],
    ['registered', h.created_at],
  ];
  for (const [key, value] of facts) ctx.out.line(`${c.dim(`${key}:`.padEnd(13))}${value}`);
  const current = h.current_operation;
  if (current) {
    ctx.out.line();
    ctx.out.line(c.bold(`rebuild #${current.id} running since ${current.started_at} (${current.workflow_id})`));
    for (const e of current.events) ctx.out.line(`  ${c.dim(clockText(e.at))}  ${(e.state ?? e.kind).padEnd(11)} ${e.message}`);
  }
  const past = h.operations.filter((o) => o.status !== 'running');
  if (past.length > 0) {
    ctx.out.line();
    ctx.out.line(c.bold('past rebuilds'));
    for (const o of past) ctx.out.line(`  #${o.id}  ${o.started_at}  ${operationText(o, c)}`);
  }
}

export interface AddOptions {
  type: string;
  power?: string; // JSON of the power object
}

export async function addHost(ctx: CommandContext, hostname: string, mac: string, options: AddOptions): Promise<void> {
  const body: Record<string, unknown> = { hostname, mac, server_type: options.type };
  if (options.power !== undefined) {
    try {
      body.power = JSON.parse(options.power) as unknown;
    } catch (err) {
      throw new CliError(`--power expects the power object as JSON, e.g. '{"method":"wol"}': ${(err as Error).message}`, exitCodes.usage);
    }
  }
  const h = await ctx.api.request<HostBody>('POST', '/api/hosts', { json: body });
  if (ctx.out.json) return ctx.out.printJson(h);
  ctx.out.line(`registered ${ctx.out.out.bold(h.hostname)} (id ${h.id}, ${h.mac}, ${h.server_type})`);
}

export async function removeHost(ctx: CommandContext, host: string): Promise<void> {
  const h = await resolveHost(ctx, host);
  await ctx.api.request('DELETE', `/api/hosts/${h.id}`);
  if (ctx.out.json) return; // 204: the API answers no body
  ctx.out.line(`removed ${h.hostname} (id ${h.id}, ${h.mac}) and its history`);
}

function powerText(power: HostBody['power']): string {
  const settings = Object.entries(power)
    .filter(([key, value]) => key !== 'method' && value !== null && value !== undefined)
    .map(([key, value]) => (key === 'password_set' ? `password: ${value ? 'set' : 'not set'}` : `${key} ${String(value)}`));
  return settings.length ? `${power.method} (${settings.join(', ')})` : power.method;
}

function operationText(o: OperationBody, c: CommandContext['out']['out']): string {
  if (o.status === 'succeeded') return c.green('ready');
  return c.red(`failed at ${o.stage ?? '?'}: ${o.failure_reason ?? 'unknown'}${o.failure_message ? ` (${o.failure_message})` : ''}`);
}
