// `provisioning explain MAC`: what that MAC would get if it booted now, and why (GET /api/boot/explain?mac=).
import type { ExplainBody } from './api-types';
import type { CommandContext } from './context';

export async function explainMac(ctx: CommandContext, mac: string): Promise<void> {
  const body = await ctx.api.request<ExplainBody>('GET', '/api/boot/explain', { query: { mac } });
  if (ctx.out.json) return ctx.out.printJson(body);
  const c = ctx.out.out;
  const host = body.host ? ` (${body.host.hostname}, id ${body.host.id}, ${body.host.state})` : ' (not registered)';
  const action = body.action === 'install' ? c.yellow(`install${body.image ? ` from image ${body.image}` : ''}`) : 'local disk';
  ctx.out.line(`${c.bold(body.mac)}${host} would boot: ${action}`);
  ctx.out.line(`because ${body.reason}`);
  if (body.rebuild) ctx.out.line(`rebuild: operation ${body.rebuild.operation_id} (${body.rebuild.workflow_id})${body.rebuild.stage ? `, at ${body.rebuild.stage}` : ''}`);
  for (const step of body.chain) ctx.out.line(`  ${step.ok ? c.green('✓') : c.red('✗')} ${step.check.padEnd(12)}${step.detail}`);
}
