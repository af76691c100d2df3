// GET /api/boot/explain?mac=… and GET /api/hosts/{id}/preview (issue 18 item 4): what a MAC would get if it booted
// now and why, and what a host's next rebuild would serve it. Registered in the operator API (src/gateway/app.ts).
// Both only read: no event, no signal, no boot token, no rebuild.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { explainMac } from '../../boot/explain';
import { previewHost } from '../../boot/preview';
import { parseMac } from '../../domain/mac-address';
import type { ImageJobs } from '../../images/preparation-jobs';
import { errorResponses } from '../schemas/common';
import { ExplainQuery, ExplainSchema, PreviewSchema } from '../schemas/explain';
import { HostIdParams } from '../schemas/hosts';
import type { BootDeps } from './boot';
import type { HostRoutesDeps } from './hosts';

/** What explain and preview read: the boot service's stores and settings, the hosts, where answers are served now. */
export type ExplainDeps = BootDeps & HostRoutesDeps & { imageJobs: Pick<ImageJobs, 'answerSettings'> };

/** Registers the explain and preview endpoints (operator API). */
export function explainRoutes(deps: ExplainDeps) {
  const answerSettings = () => deps.imageJobs.answerSettings();

  return async function routes(app: FastifyInstance): Promise<void> {
    app.get('/api/boot/explain', { schema: { tags: ['boot'], summary: 'What a MAC would get if it PXE booted now (installer or local disk) and the chain of reasons; read-only', querystring: ExplainQuery, response: { 200: ExplainSchema, ...errorResponses } } }, explain);
    app.get('/api/hosts/:id/preview', { schema: { tags: ['rebuilds'], summary: "The iPXE script, answer file (secrets redacted) and first-boot script the host's next rebuild would serve, validated; read-only", params: HostIdParams, response: { 200: PreviewSchema, ...errorResponses } } }, preview);
  };

  async function explain(request: FastifyRequest<{ Querystring: ExplainQuery }>) {
    const e = explainMac({ ...deps, answerSettings }, parseMac(request.query.mac));
    const install = e.decision.action === 'install';
    return {
      mac: e.mac,
      action: e.decision.action,
      reason: e.reason,
      host: e.host ? { id: e.host.id, hostname: e.host.hostname, state: e.host.state, server_type: e.host.serverType } : null,
      rebuild: e.rebuild ? { operation_id: e.rebuild.operationId, workflow_id: e.rebuild.workflowId, stage: e.rebuild.stage } : null,
      image: install ? (e.image?.name ?? null) : null,
      chain: e.chain,
    };
  }

  async function preview(request: FastifyRequest<{ Params: HostIdParams }>) {
    const p = previewHost({ ...deps, answerSettings }, deps.hosts.get(request.params.id));
    return {
      host: { id: p.host.id, hostname: p.host.hostname, mac: p.host.mac, state: p.host.state, server_type: p.host.serverType },
      image: p.image?.name ?? null,
      ipxe: p.ipxe,
      answer: p.answer,
      first_boot: p.firstBoot,
      valid: p.problems.length === 0,
      problems: p.problems,
      redacted: p.redacted,
      notes: p.notes,
    };
  }
}
