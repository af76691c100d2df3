// The operator tools' endpoints (issue 18): GET /api/events (the event stream for scripts), GET /api/audit (the
// audit trail) in the operator API, and GET /metrics (Prometheus) with its own token or the operator's auth.
import { createHash, timingSafeEqual } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { tryParseMac } from '../../domain/mac-address';
import type { OperatorTools } from '../../observability/operator-tools';
import { streamEventNames } from '../../store/stream-store';
import { requireOperatorToken } from '../auth/operator-auth';
import type { DashboardSessions } from '../auth/dashboard-sessions';
import { HttpError } from '../http-errors';
import { openSseStream } from '../sse';
import { errorResponses } from '../schemas/common';

const EventsQuery = Type.Object({ host: Type.Optional(Type.Integer({ minimum: 1, description: "Only this host's events" })) }, { additionalProperties: false });

const AuditQuery = Type.Object(
  {
    host: Type.Optional(Type.Integer({ minimum: 1, description: 'Host id' })),
    mac: Type.Optional(Type.String({ description: 'MAC address, any usual spelling' })),
    kind: Type.Optional(Type.String({ pattern: '^[a-z][a-z.-]{0,40}$', description: "Exact kind (rebuild.start), or a prefix ending in a dot (power.)" })),
    since: Type.Optional(Type.String({ format: 'date-time', description: 'From this time (inclusive)' })),
    until: Type.Optional(Type.String({ format: 'date-time', description: 'Up to this time (exclusive)' })),
    before: Type.Optional(Type.Integer({ minimum: 1, description: "Paging: the previous page's next_before" })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
  },
  { additionalProperties: false },
);
type AuditQuery = Static<typeof AuditQuery>;

const AuditEntrySchema = Type.Object({
  id: Type.Integer(),
  at: Type.String(),
  kind: Type.String(),
  actor: Type.String(),
  address: Type.Union([Type.String(), Type.Null()]),
  host_id: Type.Union([Type.Integer(), Type.Null()]),
  mac: Type.Union([Type.String(), Type.Null()]),
  hostname: Type.Union([Type.String(), Type.Null()]),
  result: Type.Union([Type.Literal('ok'), Type.Literal('refused'), Type.Literal('failed')]),
  message: Type.String(),
  details: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
});

const toIso = (text: string | undefined) => (text === undefined ? undefined : new Date(text).toISOString());

/** GET /api/events and GET /api/audit (operator API: registered in its scope). */
export function operatorToolRoutes(deps: { tools: OperatorTools }) {
  return async function routes(app: FastifyInstance): Promise<void> {
    app.get<{ Querystring: Static<typeof EventsQuery> }>(
      '/api/events',
      {
        schema: {
          tags: ['events'],
          summary: `Server-Sent Events for scripts: JSON events named ${streamEventNames.join(', ')}; resume with the Last-Event-ID header`,
          querystring: EventsQuery,
          produces: ['text/event-stream'],
          response: { 200: Type.String({ description: 'text/event-stream: id, event (the name), data (the JSON event)' }), ...errorResponses },
        },
      },
      events,
    );
    app.get<{ Querystring: AuditQuery }>(
      '/api/audit',
      { schema: { tags: ['audit'], summary: 'The audit trail, newest first: operator actions, logins and boot decisions, filtered and paged', querystring: AuditQuery, response: { 200: Type.Object({ entries: Type.Array(AuditEntrySchema), next_before: Type.Union([Type.Integer(), Type.Null()]) }), ...errorResponses } } },
      async (request) => {
        const q = request.query;
        let mac: string | undefined;
        if (q.mac !== undefined) {
          const parsed = tryParseMac(q.mac);
          if (!parsed) throw new HttpError(400, 'invalid_input', `mac: not a MAC address: ${JSON.stringify(q.mac)}`, 'mac');
          mac = parsed;
        }
        const page = deps.tools.audit.list({ hostId: q.host, mac, kind: q.kind, since: toIso(q.since), until: toIso(q.until), before: q.before, limit: q.limit ?? 50 });
        return { entries: page.entries, next_before: page.nextBefore };
      },
    );
  };

  async function events(request: FastifyRequest<{ Querystring: Static<typeof EventsQuery> }>, reply: FastifyReply) {
    const header = request.headers['last-event-id'];
    let lastEventId: number | undefined;
    if (header !== undefined) {
      if (typeof header !== 'string' || !/^\d{1,15}$/.test(header)) throw new HttpError(400, 'invalid_input', `Last-Event-ID: expected the id of an event (a number), got ${JSON.stringify(header)}`, 'Last-Event-ID');
      lastEventId = Number(header);
    }
    const stream = openSseStream(request, reply, 4 * 1024 * 1024);
    if (!stream) return;
    stream.onClose(deps.tools.streamHub.connect(stream, { hostId: request.query.host, lastEventId }));
  }
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/** GET /metrics: Bearer server.metrics_token when set (only for this), else the operator API's auth. */
export function metricsRoute(deps: { tools: OperatorTools; apiToken: string; sessions: DashboardSessions }) {
  const operatorAuth = requireOperatorToken(deps.apiToken, deps.sessions);
  const metricsDigest = digest(deps.tools.metricsToken);
  return async function routes(app: FastifyInstance): Promise<void> {
    app.get(
      '/metrics',
      {
        schema: { tags: ['metrics'], summary: 'Prometheus metrics (text exposition format); Bearer server.metrics_token, or the operator API token', produces: ['text/plain'], response: { 200: Type.String(), ...errorResponses } },
        onRequest: async (request, reply) => {
          const bearer = /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '')?.[1]?.trim();
          if (deps.tools.metricsToken !== '' && bearer !== undefined && timingSafeEqual(digest(bearer), metricsDigest)) return;
          await operatorAuth(request, reply);
        },
      },
      async (_request, reply) => reply.type(deps.tools.metrics.contentType).header('cache-control', 'no-store').send(await deps.tools.metrics.scrape()),
    );
  };
}
