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
import { readCookie, sessionCookie, type DashboardSessions } from '../auth/dashboard-sessions';
import type { OperationStore } from '../../store/operation-store';
import type { PowerDeps } from './power';
import type { AuditStore } from '../../store/audit-store';
import { auditKinds, auditLogin } from '../audit';
import { openSseStream } from '../sse';
import { renderAuditPage, type AuditFilters } from '../../dashboard/views/audit-page';
import { tryParseMac } from '../../domain/mac-address';
import type { ImageLibrary } from '../../images/image-library';
import { staleReasons } from '../../images/image-staleness';
import type { ClusterSnapshot } from '../../proxmox/cluster-monitor';
import { rebuildsUsingImage } from '../../images/image-usage';
import type { ImageJob, ImageJobs } from '../../images/preparation-jobs';
import { renderImagesPage, renderJob } from '../../dashboard/views/images-page';
import { renderSetupList, renderSetupPage } from '../../dashboard/views/setup-page';
import type { SetupItem } from '../../config/setup-checks';
import { InvalidInputError } from '../../domain/errors';
import { ClusterUnreachableError, uncheckedPlanner, type RebuildChoice, type RebuildPlan, type RebuildPlanner } from '../../proxmox/rebuild-plan';
import { renderRebuildPlanPage, type RebuildPlanPageModel } from '../../dashboard/views/rebuild-plan-page';

export interface DashboardDeps {
  sessions: DashboardSessions;
  hosts: HostStore;
  operations: OperationStore;
  serverTypes: Pick<ServerTypeRegistry, 'list' | 'get'>;
  hub: EventHub;
  images: ImageLibrary;
  imageJobs: ImageJobs;
  setup: () => Promise<SetupItem[]>;
  temporalUi: { uiUrl: string; namespace: string };
  clusterSnapshot?: (() => ClusterSnapshot) | undefined; // with proxmox.api_token
  rebuildPlan?: RebuildPlanner | undefined; // with proxmox.api_token: the rebuild's pre-flight
  power: PowerDeps; // the host page's Power section, the tiles' last known power state
  audit?: Pick<AuditStore, 'record' | 'list'> | undefined; // logins and failed logins; the Audit page
  auditRetention?: string | undefined; // audit.retention, said on the Audit page
}

const htmlType = 'text/html; charset=utf-8';

/** Registers the dashboard pages, its login (when server.api_token is set), the SSE stream and the assets. */
export function dashboardRoutes(deps: DashboardDeps) {
  const session = (request: FastifyRequest) => readCookie(request.headers.cookie, sessionCookie);
  const csrfToken = (request: FastifyRequest) => (deps.sessions.enabled ? deps.sessions.csrfFor(session(request) ?? '') : undefined);
  // With an API token, pages need a session; the stream answers 401 instead of a redirect.
  const loggedIn = (request: FastifyRequest) => !deps.sessions.enabled || deps.sessions.verify(session(request));
  const requireLogin = async (request: FastifyRequest, reply: FastifyReply) => {
    if (loggedIn(request)) return;
    if (request.url.startsWith('/events') || request.url.startsWith('/images/events')) return reply.status(401).send({ error: { code: 'unauthorized', message: 'log in at /login first' } });
    return reply.redirect(`/login?next=${encodeURIComponent(request.url)}`, 303);
  };

  return async function routes(app: FastifyInstance): Promise<void> {
    app.get<{ Querystring: { state?: string; q?: string } }>('/', { schema: { hide: true }, onRequest: requireLogin }, gridPage);
    app.get<{ Params: { id: string }; Querystring: { fragment?: string } }>('/hosts/:id', { schema: { hide: true }, onRequest: requireLogin }, hostPage);
    app.get<{ Params: { id: string }; Querystring: Record<string, string | undefined> }>('/hosts/:id/rebuild', { schema: { hide: true }, onRequest: requireLogin }, rebuildPlanPage);
    app.get('/events', { schema: { hide: true }, onRequest: requireLogin }, events);
    app.get('/images', { schema: { hide: true }, onRequest: requireLogin }, imagesPage);
    app.get<{ Querystring: { fragment?: string } }>('/setup', { schema: { hide: true }, onRequest: requireLogin }, setupPage);
    app.get('/images/events', { schema: { hide: true }, onRequest: requireLogin }, imageEvents);
    app.get<{ Querystring: Record<string, string | undefined> }>('/audit', { schema: { hide: true }, onRequest: requireLogin }, auditPage);
    app.get<{ Querystring: { next?: string } }>('/login', { schema: { hide: true } }, loginPage);
    await app.register(async (forms) => {
      forms.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_req, body, done) =>
        done(null, Object.fromEntries(new URLSearchParams(body as string))),
      );
      forms.post<{ Body: { token?: string; next?: string } }>('/login', { schema: { hide: true } }, login);
      forms.post('/logout', { schema: { hide: true } }, logout);
    });
    app.get('/static/dashboard.css', { schema: { hide: true } }, (_req, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'no-cache').send(dashboardCss));
    app.get('/static/dashboard.js', { schema: { hide: true } }, (_req, reply) => reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache').send(dashboardJs));
  };

  function loginForm(next: string, error?: string): string {
    return layout({
      title: 'Log in',
      body: html`<section class="register"><h1>Log in</h1>
<p>This Provisioning server has an API token (<code>server.api_token</code>). Enter it to use the dashboard.</p>
<form method="post" action="/login"><input type="hidden" name="next" value="${next}">
<label>API token <input type="password" name="token" autocomplete="current-password" required autofocus></label>
<button type="submit">Log in</button>${error ? html`<span class="form-error" role="alert">${error}</span>` : ''}</form></section>`,
    });
  }

  /** Only same-site paths: never redirect to another origin after login. */
  function safeNext(next: unknown): string {
    // Browsers read "/\\host" and "/<tab>/host" as "//host": refuse backslashes and control characters outright.
    return typeof next === 'string' && next.startsWith('/') && !next.startsWith('//') && !/[\\\x00-\x1f\x7f]/.test(next) ? next : '/';
  }

  async function loginPage(request: FastifyRequest<{ Querystring: { next?: string } }>, reply: FastifyReply) {
    if (!deps.sessions.enabled) return reply.redirect('/', 303);
    return reply.type(htmlType).send(loginForm(safeNext(request.query.next)));
  }

  async function login(request: FastifyRequest<{ Body: { token?: string; next?: string } }>, reply: FastifyReply) {
    const next = safeNext(request.body?.next);
    if (!deps.sessions.enabled) return reply.redirect(next, 303);
    if (!deps.sessions.checkToken(String(request.body?.token ?? ''))) {
      request.log.warn('dashboard login with a wrong token');
      if (deps.audit) auditLogin(deps.audit, request, false);
      return reply.status(401).type(htmlType).send(loginForm(next, 'That is not the API token.'));
    }
    if (deps.audit) auditLogin(deps.audit, request, true);
    const secure = request.protocol === 'https' ? '; Secure' : '';
    reply.header('set-cookie', `${sessionCookie}=${deps.sessions.issue()}; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200${secure}`);
    return reply.redirect(next, 303);
  }

  async function logout(_request: FastifyRequest, reply: FastifyReply) {
    reply.header('set-cookie', `${sessionCookie}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`);
    return reply.redirect('/login', 303);
  }

  async function gridPage(request: FastifyRequest<{ Querystring: { state?: string; q?: string } }>, reply: FastifyReply) {
    const state = request.query.state && isHostState(request.query.state) ? request.query.state : '';
    const tiles = deps.hosts.list().map((h) => tileModel(h, deps.operations, deps.power.store));
    return reply.type(htmlType).send(renderGridPage({ tiles, serverTypes: deps.serverTypes.list(), filter: { state, q: String(request.query.q ?? '').slice(0, 100) }, cluster: deps.clusterSnapshot?.() ?? null, csrfToken: csrfToken(request) }));
  }

  async function hostPage(request: FastifyRequest<{ Params: { id: string }; Querystring: { fragment?: string } }>, reply: FastifyReply) {
    const id = Number(request.params.id);
    const host = Number.isInteger(id) ? deps.hosts.find(id) : undefined;
    if (!host) {
      return reply.status(404).type(htmlType).send(layout({ title: 'Not found', body: html`<h1>No host ${request.params.id}</h1><p><a href="/">← all hosts</a></p>` }));
    }
    const model = hostDetailModel(host, deps.serverTypes.get(host.serverType), deps.operations, deps.temporalUi, new Date(), deps.power.store);
    if (request.query.fragment) return reply.type(htmlType).send(renderHostDetail(model).value);
    return reply.type(htmlType).send(renderHostPage(model, csrfToken(request)));
  }

  /** The plan of the host's rebuild with the options of the query (a GET form: it works without JavaScript). */
  async function rebuildPlanPage(request: FastifyRequest<{ Params: { id: string }; Querystring: Record<string, string | undefined> }>, reply: FastifyReply) {
    const id = Number(request.params.id);
    const host = Number.isInteger(id) ? deps.hosts.find(id) : undefined;
    if (!host) {
      return reply.status(404).type(htmlType).send(layout({ title: 'Not found', body: html`<h1>No host ${request.params.id}</h1><p><a href="/">← all hosts</a></p>` }));
    }
    const flag = (v: string | undefined) => v === 'true' || v === '1' || v === 'on';
    const target = String(request.query.migrate_target ?? '').trim().slice(0, 63);
    const choice: RebuildChoice = { migrate: flag(request.query.migrate), migrateTarget: target || null, allowQuorumLoss: flag(request.query.allow_quorum_loss) };
    const planner = deps.rebuildPlan ?? uncheckedPlanner();
    let status = 200;
    let plan: RebuildPlan | null = null;
    let error: RebuildPlanPageModel['error'] = null;
    try {
      plan = await planner(host, choice);
    } catch (err) {
      if (err instanceof InvalidInputError) {
        // Show the plan without the target the cluster refused, and say why next to the select.
        status = 400;
        error = { code: err.code, message: err.message, field: err.field ?? 'migrate_target' };
        try {
          plan = await planner(host, { ...choice, migrateTarget: null });
        } catch (again) {
          if (!(again instanceof ClusterUnreachableError)) throw again;
          error = { code: again.code, message: again.message };
        }
      } else if (err instanceof ClusterUnreachableError) {
        status = 503;
        error = { code: err.code, message: err.message };
      } else throw err;
    }
    const model = { host, plan, choice: error?.field === 'migrate_target' ? { ...choice, migrateTarget: null } : choice, error };
    return reply.status(status).type(htmlType).send(renderRebuildPlanPage(model, csrfToken(request)));
  }

  async function setupPage(request: FastifyRequest<{ Querystring: { fragment?: string } }>, reply: FastifyReply) {
    const items = await deps.setup();
    if (request.query.fragment) return reply.type(htmlType).send(renderSetupList(items).value);
    return reply.type(htmlType).send(renderSetupPage(items, csrfToken(request)));
  }

  async function auditPage(request: FastifyRequest<{ Querystring: Record<string, string | undefined> }>, reply: FastifyReply) {
    const q = request.query;
    const filters: AuditFilters = { host: q.host || undefined, mac: q.mac || undefined, kind: q.kind || undefined, since: q.since || undefined, until: q.until || undefined };
    const problems: string[] = [];
    const hostId = filters.host === undefined ? undefined : /^\d{1,9}$/.test(filters.host) ? Number(filters.host) : (problems.push('Host id: a number'), undefined);
    const mac = filters.mac === undefined ? undefined : (tryParseMac(filters.mac) ?? (problems.push('MAC: not a MAC address'), undefined));
    const time = (label: string, text: string | undefined) => {
      if (text === undefined) return undefined;
      const t = new Date(/Z|[+-]\d\d:\d\d$/.test(text) ? text : `${text}Z`);
      if (Number.isNaN(t.getTime())) return void problems.push(`${label}: not a time`);
      return t.toISOString();
    };
    const since = time('Since', filters.since);
    const until = time('Until', filters.until);
    const before = q.before && /^\d{1,15}$/.test(q.before) ? Number(q.before) : undefined;
    const kind = filters.kind && /^[a-z][a-z.-]{0,40}$/.test(filters.kind) ? filters.kind : undefined;
    const page = deps.audit && problems.length === 0 ? deps.audit.list({ hostId, mac, kind, since, until, before, limit: 100 }) : { entries: [], nextBefore: null };
    const kinds = [...auditKinds.flatMap((k) => (k.startsWith('power.on|') ? ['power.', 'power.on', 'power.off', 'power.cycle', 'power.pxe-once'] : [k]))];
    return reply.type(htmlType).send(renderAuditPage({ ...page, filters, kinds, error: problems.join('; ') || undefined, retention: deps.auditRetention ?? '30d', csrfToken: csrfToken(request) }));
  }

  async function imagesPage(request: FastifyRequest, reply: FastifyReply) {
    return reply.type(htmlType).send(
      renderImagesPage({ images: deps.images.list(), jobs: deps.imageJobs.list(), inUse: (name) => rebuildsUsingImage(deps, name), stale: (image) => staleReasons(image, deps.imageJobs.answerSettings()), directory: deps.images.dir, csrfToken: csrfToken(request) }),
    );
  }

  /** The Images page's stream: every preparation's change (progress at most four times a second) as its rendered row. */
  async function imageEvents(request: FastifyRequest, reply: FastifyReply) {
    const stream = openSseStream(request, reply);
    if (!stream) return;
    stream.write('retry: 2000\n\n');
    const heartbeat = setInterval(() => stream.write(': keep-alive\n\n'), 15_000);
    const unsubscribe = deps.imageJobs.onChange((job: ImageJob) =>
      stream.write(`event: job\ndata: ${JSON.stringify({ name: job.name, state: job.state, bytes_done: job.bytesDone, bytes_total: job.bytesTotal, row: renderJob(job).value })}\n\n`),
    );
    stream.onClose(() => {
      clearInterval(heartbeat);
      unsubscribe();
    });
  }

  async function events(request: FastifyRequest, reply: FastifyReply) {
    const header = request.headers['last-event-id'];
    const lastEventId = typeof header === 'string' && /^\d+$/.test(header) ? Number(header) : undefined;
    const stream = openSseStream(request, reply);
    if (!stream) return; // the client left before the stream began
    stream.onClose(deps.hub.connect(stream, lastEventId));
  }
}
