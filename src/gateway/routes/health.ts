import type { FastifyInstance } from 'fastify';

/** A readiness check: resolves to null when fine, or a short reason when not. */
export type ReadinessCheck = () => Promise<string | null>;

/** /healthz (the process answers) and /readyz (every check passes: 200, else 503 naming what is not ready). */
export function healthRoutes(checks: Readonly<Record<string, ReadinessCheck>>) {
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
      return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks: Object.fromEntries(results) });
    });
  };
}
