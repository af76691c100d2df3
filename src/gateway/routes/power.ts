// Power control of a host by an operator (issue 17 item 4): its state from the BMC, on/off/cycle/PXE once, and a
// read-only test of its settings. Every action and test is an event in the host's history: who, what, the result.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Host } from '../../domain/host';
import { PowerError, type PowerAction, type PowerDriver, type PowerErrorCode, type PowerOutcome, type PowerSettings } from '../../power/types';
import type { HostStore } from '../../store/host-store';
import type { OperationStore } from '../../store/operation-store';
import { powerEventKind, type PowerStore } from '../../store/power-store';
import { HttpError } from '../http-errors';
import type { PowerInputContext } from '../power-input';
import { errorResponses } from '../schemas/common';
import { HostIdParams } from '../schemas/hosts';
import { PowerActionBody, PowerOutcomeSchema, PowerStatusSchema } from '../schemas/power';

/** A host's power: its stored settings, a driver for one host, and what new settings are checked against. */
export interface PowerDeps {
  store: Pick<PowerStore, 'settings' | 'settingsByHost' | 'set' | 'lastState'>;
  /** The driver of `host`'s method, its target (password included) read from the store for this call. */
  driver(host: Host): PowerDriver;
  input: PowerInputContext;
}

/** What the power routes need. */
export interface PowerRoutesDeps {
  hosts: HostStore;
  operations: OperationStore;
  power: PowerDeps;
  apiToken: string; // empty: the operator API is open, and the caller is "an operator" from an address
}

/** Who made a request, in words for the history (never the token or the cookie): the auth hook has let it in. */
export interface Caller {
  kind: 'token' | 'session' | 'open';
  address: string;
  words: string; // "the API token from 192.168.1.5"
}

export function callerOf(request: FastifyRequest, apiToken: string): Caller {
  const address = request.ip;
  if (apiToken === '') return { kind: 'open', address, words: `an operator at ${address} (open API: no server.api_token)` };
  // The hook prefers a Bearer header over a session cookie, so the header decides.
  if (/^Bearer\s/i.test(request.headers.authorization ?? '')) return { kind: 'token', address, words: `the API token from ${address}` };
  return { kind: 'session', address, words: `a dashboard session from ${address}` };
}

// A BMC that cannot be reached or refuses is the upstream's failure (502); settings or a method that cannot do it, 409.
const statusOf: Record<PowerErrorCode, number> = {
  not_configured: 409,
  invalid_settings: 409,
  unsupported: 409,
  unreachable: 502,
  auth_failed: 502,
  refused: 502,
};

const powerErrorResponses = { ...errorResponses, 502: { $ref: 'Error#' } } as const;

const what: Record<PowerAction | 'test', string> = { on: 'power on', off: 'power off', cycle: 'power cycle', 'pxe-once': 'one-time network boot', test: 'power test' };

/** Registers GET/POST /api/hosts/{id}/power and POST /api/hosts/{id}/power/test. */
export function powerRoutes(deps: PowerRoutesDeps) {
  return async function routes(app: FastifyInstance): Promise<void> {
    app.get('/api/hosts/:id/power', { schema: { tags: ['power'], summary: "The host's power state, read from its BMC where it has one ('unknown' otherwise); changes nothing", params: HostIdParams, response: { 200: PowerStatusSchema, ...powerErrorResponses } } }, getPower);
    app.post('/api/hosts/:id/power', { schema: { tags: ['power'], summary: 'Power the host on, off, cycle it, or set a one-time network boot (recorded in its history)', params: HostIdParams, body: PowerActionBody, response: { 200: PowerOutcomeSchema, ...powerErrorResponses } } }, powerAction);
    app.post('/api/hosts/:id/power/test', { schema: { tags: ['power'], summary: 'Test the power settings without changing anything: reachable, credentials accepted, network boot possible (recorded in its history)', params: HostIdParams, response: { 200: PowerOutcomeSchema, ...powerErrorResponses } } }, powerTest);
  };

  /** The host and its settings; a host without power control is 409 not_configured. */
  function controlled(id: number): { host: Host; settings: Exclude<PowerSettings, { method: 'manual' }> } {
    const host = deps.hosts.get(id);
    const settings = deps.power.store.settings(host.id);
    if (settings.method === 'manual') {
      throw new HttpError(409, 'not_configured', `${host.hostname} has no power control (method manual): power it on or reboot it into network boot by hand, or set a power method (PATCH /api/hosts/${host.id} with power)`);
    }
    return { host, settings };
  }

  async function getPower(request: FastifyRequest<{ Params: HostIdParams }>) {
    const host = deps.hosts.get(request.params.id);
    const settings = deps.power.store.settings(host.id);
    if (settings.method === 'manual') return { method: settings.method, state: 'unknown', checked_at: null };
    try {
      const state = await deps.power.driver(host).status();
      return { method: settings.method, state, checked_at: new Date().toISOString() };
    } catch (err) {
      throw asHttpError(err);
    }
  }

  async function powerAction(request: FastifyRequest<{ Params: HostIdParams; Body: PowerActionBody }>, reply: FastifyReply) {
    const { host, settings } = controlled(request.params.id);
    const action = request.body.action;
    return reply.send(await run(request, host, settings, action, (driver) => driver.act(action)));
  }

  async function powerTest(request: FastifyRequest<{ Params: HostIdParams }>, reply: FastifyReply) {
    const { host, settings } = controlled(request.params.id);
    return reply.send(await run(request, host, settings, 'test', (driver) => driver.test()));
  }

  /**
   * Calls the driver and records the call in the host's history, whatever the outcome. Off and cycle are allowed
   * during a rebuild (an operator may have to cycle a stuck installer): the event then belongs to that rebuild.
   */
  async function run(request: FastifyRequest, host: Host, settings: PowerSettings, action: PowerAction | 'test', call: (driver: PowerDriver) => Promise<PowerOutcome>) {
    const caller = callerOf(request, deps.apiToken);
    const running = deps.operations.running(host.id);
    const head = `${what[action]} of ${host.hostname} (${settings.method}) by ${caller.words}${running ? ` during rebuild #${running.id}` : ''}`;
    const details = { action, method: settings.method, by: { kind: caller.kind, address: caller.address } };
    const log = { hostId: host.id, hostname: host.hostname, method: settings.method, action, by: caller.kind, operationId: running?.id ?? null };
    let outcome: PowerOutcome;
    try {
      outcome = await call(deps.power.driver(host));
    } catch (err) {
      const code = err instanceof PowerError ? err.code : 'internal';
      const message = err instanceof PowerError ? err.message : 'internal error (the server log has it)';
      deps.operations.append({ hostId: host.id, operationId: running?.id ?? null, kind: powerEventKind, message: `${head} failed: ${message}`, details: { ...details, result: 'failed', code } });
      if (err instanceof PowerError) request.log.warn({ ...log, code }, 'power call failed');
      throw asHttpError(err);
    }
    const state = outcome.state === 'unknown' ? '' : ` (power ${outcome.state})`;
    const event = deps.operations.append({ hostId: host.id, operationId: running?.id ?? null, kind: powerEventKind, message: `${head}: ${outcome.did}${state}`, details: { ...details, result: 'ok', did: outcome.did, powerState: outcome.state } });
    request.log.info({ ...log, state: outcome.state }, 'power call done');
    return { action, method: settings.method, did: outcome.did, state: outcome.state, event_id: event?.id ?? null };
  }
}

/** A PowerError as the HTTP error of its code; anything else unchanged (the error handler logs and masks it). */
function asHttpError(err: unknown): unknown {
  return err instanceof PowerError ? new HttpError(statusOf[err.code], err.code, err.message) : err;
}
