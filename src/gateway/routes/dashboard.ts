// The server-rendered dashboard: host grid, host page, the SSE stream and the static CSS/JS.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { dashboardCss, dashboardJs } from '../../dashboard/assets';
import type { EventHub } from '../../dashboard/event-hub';
import { hostDetailModel, tileModel } from '../../dashboard/view-models';
import { renderGridPage } from '../../dashboard/views/grid-page';
import { renderHostDetail, renderHostPage } from '../../dashboard/views/host-page';
import { layout } from '../../dashboard/views/layout';
import { html } from '../../dashboard/html';
import type { ServerTypeRegistry } from '../../config/server-types';
import { isHostState } from '../../domain/host-state-machine';
import type { HostStore } from '../../store/host-store';
import type { OperationStore } from '../../store/operation-store';

export interface DashboardDeps {
  hosts: HostStore;
  operations: OperationStore;
  serverTypes: Pick<ServerTypeRegistry, 'list' | 'get'>;
  hub: EventHub;
  temporalUi: { uiUrl: string; namespace: string };
}

const htmlType = 'text/html; charset=utf-8';

/** Registers the dashboard pages; `csrfToken(request)` gives the token to embed for logged-in sessions. */
export function dashboardRoutes(deps: DashboardDeps, csrfToken: (request: FastifyRequest) => string | undefined) {
  return async function routes(app: FastifyInstance): Promise<void> {
    app.get('/', { schema: { hide: true } }, gridPage);
    app.get('/hosts/:id', { schema: { hide: true } }, hostPage);
    app.get('/events', { schema: { hide: true } }, events);
    app.get('/static/dashboard.css', { schema: { hide: true } }, (_req, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'no-cache').send(dashboardCss));
    app.get('/static/dashboard.js', { schema: { hide: true } }, (_req, reply) => reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache').send(dashboardJs));
  };

  async function gridPage(request: FastifyRequest<{ Querystring: { state?: string; q?: string } }>, reply: FastifyReply) {
    const state = request.query.state && isHostState(request.query.state) ? request.query.state : '';
    const tiles = deps.hosts.list().map((h) => tileModel(h, deps.operations));
    return reply.type(htmlType).send(renderGridPage({ tiles, serverTypes: deps.serverTypes.list(), filter: { state, q: String(request.query.q ?? '').slice(0, 100) }, csrfToken: csrfToken(request) }));
  }

  async function hostPage(request: FastifyRequest<{ Params: { id: string }; Querystring: { fragment?: string } }>, reply: FastifyReply) {
    const id = Number(request.params.id);
    const host = Number.isInteger(id) ? deps.hosts.find(id) : undefined;
    if (!host) {
      return reply.status(404).type(htmlType).send(layout({ title: 'Not found', body: html`<h1>No host ${request.params.id}</h1><p><a href="/">← all hosts</a></p>` }));
    }
    const model = hostDetailModel(host, deps.serverTypes.get(host.serverType), deps.operations, deps.temporalUi, new Date());
    if (request.query.fragment) return reply.type(htmlType).send(renderHostDetail(model).value);
    return reply.type(htmlType).send(renderHostPage(model, csrfToken(request)));
  }

  async function events(request: FastifyRequest, reply: FastifyReply) {
    const header = request.headers['last-event-id'];
    const lastEventId = typeof header === 'string' && /^\d+$/.test(header) ? Number(header) : undefined;
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const disconnect = deps.hub.connect(
      {
        write: (chunk) => {
          // A client that stopped reading is dropped rather than buffered without bound.
          if (res.writableLength > 1024 * 1024) res.destroy();
          else res.write(chunk);
        },
        end: () => res.end(),
      },
      lastEventId,
    );
    request.raw.on('close', disconnect);
    res.on('close', disconnect);
  }
}
