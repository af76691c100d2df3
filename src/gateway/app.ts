import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { ServerTypeRegistry } from '../config/server-types';
import type { Logger } from '../logging';
import type { RebuildClient } from '../temporal/rebuild-client';
import { errorBody, handleError } from './http-errors';
import { requireOperatorToken } from './auth/operator-auth';
import { bootRoutes, type BootDeps } from './routes/boot';
import { dashboardRoutes, type DashboardDeps } from './routes/dashboard';
import { healthRoutes, type ReadinessCheck } from './routes/health';
import { staleImagesWarning } from './routes/images';
import { hostRoutes, type HostRoutesDeps } from './routes/hosts';
import { imageFileRoutes } from './routes/image-files';
import { imageRoutes, type ImageRoutesDeps } from './routes/images';
import { serverTypeRoutes } from './routes/server-types';
import { setupRoutes, type SetupRoutesDeps } from './routes/setup';
import { clusterRoutes } from './routes/cluster';
import { explainRoutes } from './routes/explain';
import { metricsRoute, operatorToolRoutes } from './routes/operator-tools';
import type { OperatorTools } from '../observability/operator-tools';
import { traceRequests } from '../observability/tracing';
import { auditHooks } from './audit';
import type { ClusterSnapshot } from '../proxmox/cluster-monitor';
import { ErrorSchema } from './schemas/common';

/** What the gateway needs: what each of its routes declares, and more. The gateway role builds it; tests pass real stores on temp files. */
export interface GatewayDeps extends BootDeps, DashboardDeps, HostRoutesDeps, ImageRoutesDeps, SetupRoutesDeps {
  serverTypes: Pick<ServerTypeRegistry, 'list' | 'get'>;
  rebuilds: Pick<RebuildClient, 'start' | 'cancel' | 'deliver'>;
  apiToken: string;
  logger: Logger;
  readiness?: Readonly<Record<string, ReadinessCheck>>; // /readyz checks; none → always ready
  clusterSnapshot?: () => ClusterSnapshot; // with proxmox.api_token: the cluster as last checked (a /readyz warning when wrong)
  version?: string;
  tools: OperatorTools; // the event stream, the audit trail, the metrics
  tracing?: boolean; // telemetry.otlp_endpoint: a span per request (startTracing() has set the tracer provider)
}

/** The SSE routes: open for as long as the client stays. */
const liveStreams = new Set(['/events', '/images/events', '/api/events']);

/** Builds the Fastify app (plugins, routes, error handlers); never listens. */
export async function buildApp(deps: GatewayDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: 1024 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
  });
  if (deps.tracing) traceRequests(app);
  app.addSchema(ErrorSchema);
  // Every answered request, by route pattern (the URL would put ids and MACs in labels).
  app.addHook('onResponse', async (request, reply) => {
    // A live stream is no request that ends: provisioning_sse_clients counts those.
    if (liveStreams.has(request.routeOptions.url ?? '')) return;
    deps.tools.metrics.observeRequest(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
  });
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send(errorBody('not_found', `no route for ${request.method} ${request.url.split('?')[0]}`)),
  );

  await app.register(healthRoutes(deps.readiness ?? {}, { images: () => staleImagesWarning(deps.images.list(), deps.imageJobs.answerSettings()), ...(deps.clusterSnapshot ? { cluster: () => deps.clusterSnapshot!().problem } : {}) }));

  await app.register(swagger, {
    openapi: {
      info: { title: 'Provisioning API', version: deps.version ?? '0.1.0', description: 'Bare metal to Proxmox VE cluster member' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: deps.apiToken ? [{ bearer: [] }] : [],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  // Operator API: everything under /api except the boot endpoints (which carry per-rebuild tokens).
  await app.register(async (operator) => {
    const audit = auditHooks({ audit: deps.tools.audit, hosts: deps.hosts, apiToken: deps.apiToken });
    operator.addHook('onRequest', requireOperatorToken(deps.apiToken, deps.sessions));
    operator.addHook('preHandler', audit.preHandler);
    operator.addHook('onSend', audit.onSend);
    operator.addHook('onResponse', audit.onResponse);
    operator.removeContentTypeParser('text/plain'); // the operator API speaks JSON only: anything else is 415
    await operator.register(hostRoutes(deps));
    await operator.register(serverTypeRoutes(deps));
    await operator.register(imageRoutes(deps));
    await operator.register(setupRoutes(deps));
    await operator.register(clusterRoutes(deps));
    await operator.register(explainRoutes(deps));
    await operator.register(operatorToolRoutes(deps));
  });

  // The dashboard: pages, SSE, static assets. Streams end before the server closes, or close() would wait on them.
  app.addHook('preClose', async () => {
    deps.hub.closeAll();
    deps.tools.streamHub.closeAll();
  });
  await app.register(metricsRoute(deps));
  await app.register(dashboardRoutes({ ...deps, audit: deps.tools.audit, auditRetention: deps.tools.auditRetention }));

  // What booting and freshly installed hosts call, and the boot images they download (Range, streamed).
  await app.register(async (boot) => {
    boot.removeContentTypeParser('text/plain');
    await boot.register(bootRoutes({ ...deps, audit: deps.tools.audit }));
  });
  await app.register(imageFileRoutes(deps.images));

  return app;
}

/** The HTTP server of a worker-only process: /healthz and /readyz, nothing else. */
export async function buildHealthApp(logger: Logger, readiness: Readonly<Record<string, ReadinessCheck>>): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: logger as FastifyBaseLogger });
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) => reply.status(404).send(errorBody('not_found', `no route for ${request.method} ${request.url.split('?')[0]} (this process runs --role worker)`)));
  await app.register(healthRoutes(readiness));
  return app;
}
