// GET /api/boot/explain?mac=… and GET /api/hosts/{id}/preview (issue 18 item 4): what a MAC would get if it booted
// now and why, and what a host's next rebuild would serve it. Registered in the operator API (src/gateway/app.ts).
import type { FastifyInstance } from 'fastify';
import type { BootDeps } from './boot';
import type { HostRoutesDeps } from './hosts';

/** What explain and preview read: the boot service's stores and settings, the hosts. */
export type ExplainDeps = BootDeps & HostRoutesDeps;

/** Registers the explain and preview endpoints (operator API). */
export function explainRoutes(_deps: ExplainDeps) {
  return async function routes(_app: FastifyInstance): Promise<void> {
    // (being built)
  };
}
