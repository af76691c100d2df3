// `provisioning explain MAC`: what that MAC would get if it booted now, and why (GET /api/boot/explain?mac=).
import type { ExplainBody } from './api-types';
import type { CommandContext } from './context';

export async function explainMac(ctx: CommandContext, mac: string): Promise<void> {
  const body = await ctx.api.request<ExplainBody>('GET', '/api/boot/explain', { query: { mac } });
  if (ctx.out.json) return ctx.out.printJson(body);
  const c = ctx.out.out;
  const host = body.host ? ` (host ${body.host.hostname}, id ${body.host.id}${body.host.state ? `, ${body.host.state}` : ''})` : ' (no registered host)';
  ctx.out.line(`${c.bold(body.mac)}${host} would get: ${c.bold(body.action)}`);
  ctx.out.line(`  because ${body.reason}`);
  for (const step of body.chain ?? []) ctx.out.line(`  ${step.ok ? c.green('✓') : c.red('✗')} ${step.check}${step.detail ? `: ${step.detail}` : ''}`);
}
