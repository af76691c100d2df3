// The audit trail's gateway side (issue 18 item 2): every operator action through the API or the dashboard is one
// entry (who, from where, what, the result), written by one onResponse hook from the route that answered; logins
// and failed logins by the login form; a request the operator auth refused (a wrong or missing token). Nothing from
// a request body goes in but the few fields named below: never a token, password or key.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Host } from '../domain/host';
import type { AuditStore, NewAuditEntry } from '../store/audit-store';
import type { HostStore } from '../store/host-store';
import { callerOf } from './routes/power';

/** The operator actions: method and route pattern → the entry's kind. */
const actions: Readonly<Record<string, string>> = {
  'POST /api/hosts': 'host.register',
  'PATCH /api/hosts/:id': 'host.update',
  'DELETE /api/hosts/:id': 'host.delete',
  'POST /api/hosts/:id/rebuild': 'rebuild.start',
  'POST /api/hosts/:id/rebuild/cancel': 'rebuild.cancel',
  'POST /api/hosts/:id/power': 'power', // power.on, power.off, power.cycle, power.pxe-once
  'POST /api/hosts/:id/power/test': 'power.test',
  'POST /api/images': 'image.prepare',
  'POST /api/images/:name/reprepare': 'image.reprepare',
  'DELETE /api/images/:name': 'image.delete',
};

/** The kinds an entry can have (GET /api/audit?kind=…; README "Audit trail"). */
export const auditKinds = [...new Set(Object.values(actions).map((k) => (k === 'power' ? 'power.on|off|cycle|pxe-once' : k))), 'login', 'login.failed', 'auth.refused', 'boot.decision'];

interface AuditState {
  host?: Host | undefined; // looked up before the handler ran (a delete removes it)
  error?: string | undefined; // the API's error message, when it answered with one
}
const stateOf = new WeakMap<FastifyRequest, AuditState>();

/** Who, in words: never the token or the session's cookie. */
const actorWords = { token: 'the API token', session: 'a dashboard session', open: 'an operator (open API)' } as const;

const resultOf = (status: number): NewAuditEntry['result'] => (status < 400 ? 'ok' : status < 500 ? 'refused' : 'failed');

/** Hooks for the operator API's scope: the host before the handler, the error body, then one entry per action. */
export function auditHooks(deps: { audit: AuditStore; hosts: HostStore; apiToken: string }) {
  const kindOf = (request: FastifyRequest): string | null => {
    const key = `${request.method} ${request.routeOptions.url ?? ''}`;
    const kind = actions[key];
    if (!kind) return null;
    if (kind !== 'power') return kind;
    const action = (request.body as { action?: unknown } | undefined)?.action;
    return `power.${typeof action === 'string' && /^[a-z-]{1,20}$/.test(action) ? action : 'unknown'}`;
  };

  return {
    async preHandler(request: FastifyRequest): Promise<void> {
      if (!kindOf(request)) return;
      const id = Number((request.params as { id?: string } | undefined)?.id);
      stateOf.set(request, { host: Number.isInteger(id) ? deps.hosts.find(id) : undefined });
    },
    async onSend(request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
      if (reply.statusCode >= 400 && typeof payload === 'string' && kindOf(request)) {
        try {
          const message = (JSON.parse(payload) as { error?: { message?: unknown } }).error?.message;
          if (typeof message === 'string') stateOf.set(request, { ...stateOf.get(request), error: message });
        } catch {
          // not JSON: no message to keep
        }
      }
      // The new host's id and MAC come back in the register's body.
      if (reply.statusCode === 201 && request.method === 'POST' && request.routeOptions.url === '/api/hosts' && typeof payload === 'string') {
        try {
          const body = JSON.parse(payload) as { id?: number };
          if (typeof body.id === 'number') stateOf.set(request, { ...stateOf.get(request), host: deps.hosts.find(body.id) });
        } catch {
          // leave it without a host
        }
      }
      return payload;
    },
    async onResponse(request: FastifyRequest, reply: FastifyReply): Promise<void> {
      const status = reply.statusCode;
      const caller = callerOf(request, deps.apiToken);
      if (status === 401 && request.url.startsWith('/api/')) {
        deps.audit.record({ kind: 'auth.refused', actor: 'nobody (no valid token)', address: request.ip, host_id: null, mac: null, hostname: null, result: 'refused', message: `${request.method} ${request.url.split('?')[0]} refused: ${request.headers.authorization ? 'invalid API token' : 'no token'}`, details: { status } });
        return;
      }
      const kind = kindOf(request);
      if (!kind) return;
      const state = stateOf.get(request) ?? {};
      const host = state.host;
      const target = host ? `${host.hostname} (${host.mac})` : request.url.split('?')[0];
      const imageName = (request.params as { name?: string } | undefined)?.name;
      deps.audit.record({
        kind,
        actor: actorWords[caller.kind],
        address: caller.address,
        host_id: host?.id ?? null,
        mac: host?.mac ?? null,
        hostname: host?.hostname ?? null,
        result: resultOf(status),
        message: `${kind} ${imageName ?? target}: ${status < 400 ? 'done' : (state.error ?? `HTTP ${status}`)}`,
        details: { status, method: request.method, route: request.routeOptions.url, ...(imageName ? { image: imageName } : {}) },
      });
    },
  };
}

/** A dashboard login or a failed one (the form's token is never kept). */
export function auditLogin(audit: Pick<AuditStore, 'record'>, request: FastifyRequest, ok: boolean): void {
  audit.record({
    kind: ok ? 'login' : 'login.failed',
    actor: ok ? 'a dashboard session' : 'nobody (wrong token)',
    address: request.ip,
    host_id: null,
    mac: null,
    hostname: null,
    result: ok ? 'ok' : 'refused',
    message: ok ? `dashboard login from ${request.ip}` : `dashboard login from ${request.ip} with a wrong token`,
    details: null,
  });
}
