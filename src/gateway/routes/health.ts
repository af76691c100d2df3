import type { FastifyInstance } from 'fastify';

/** A readiness check: resolves to null when fine, or a short reason when not. */
export type ReadinessCheck = () => Promise<string | null>;

/** Something an operator should act on that does not make the service unready: null when there is nothing. */
export type ReadinessWarning = () => string | null | Promise<string | null>;

/**
 * /healthz (the process answers) and /readyz (every check passes: 200, else 503 naming what is not ready; `warnings`
 * lists what needs attention without making the service unready, e.g. stale boot images).
 */
export function healthRoutes(checks: Readonly<Record<string, ReadinessCheck>>, warnings: Readonly<Record<string, ReadinessWarning>> = {}) {
  return async function routes(app: FastifyInstance): Promise<void> {
    app.get('/healthz', { schema: { tags: ['health'], summary: 'The process is up' }, logLevel: 'warn' }, async () => ({ status: 'ok' }));
    app.get('/readyz', { schema: { tags: ['health'], summary: 'Database, Temporal, worker and dnsmasq (as this role runs them) are ready' }, logLevel: 'warn' }, async (_request, reply) => {
      const results = await Promise.all(
        Object.entries(checks).map(async ([name, check]) => {
          try {
            return [name, (await check()) ?? 'ok'] as const;
          } catch (err) {
            return [name, (err as Error).message] as const;
          }
        }),
      );
      const ready = results.every(([, r]) => r === 'ok');
      const noted = (
        await Promise.all(
          Object.entries(warnings).map(async ([name, warning]) => {
            const text = await Promise.resolve()
              .then(warning)
              .catch((err: Error) => err.message);
            return text === null ? [] : [[name, text] as const];
          }),
        )
      ).flat();
      return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks: Object.fromEntries(results), ...(noted.length > 0 ? { warnings: Object.fromEntries(noted) } : {}) });
    });
  };
}
