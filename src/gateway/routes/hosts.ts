import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HostBusyError, InvalidInputError, RebuildFinishingError, RebuildInProgressError } from '../../domain/errors';
import { parseHostname } from '../../domain/hostname';
import { isActive } from '../../domain/host-state-machine';
import { parseMac } from '../../domain/mac-address';
import { rebuildWorkflowId } from '../../domain/rebuild-ids';
import type { ServerTypeRegistry } from '../../config/server-types';
import type { Host } from '../../domain/host';
import type { HostStore } from '../../store/host-store';
import type { OperationStore } from '../../store/operation-store';
import type { RebuildClient } from '../../temporal/rebuild-client';
import { ClusterUnreachableError, memberRebuildOf, uncheckedPlanner, type RebuildChoice, type RebuildPlan, type RebuildPlanner } from '../../proxmox/rebuild-plan';
import { errorBody, HttpError } from '../http-errors';
import { errorResponses } from '../schemas/common';
import { RebuildBody, RebuildPlanQuery, RebuildPlanSchema, RebuildRefusedSchema } from '../schemas/rebuild-plan';
import {
  CreateHostBody,
  HostDetailSchema,
  HostIdParams,
  HostListSchema,
  HostSchema,
  RebuildStartedSchema,
} from '../schemas/hosts';
import { eventBody, hostBody, operationBody, rebuildPlanBody } from '../api-bodies';
import { parsePowerInput } from '../power-input';
import { UpdateHostBody } from '../schemas/power';
import type { PowerUpdate } from '../../store/power-store';
import { callerOf, powerRoutes, type PowerRoutesDeps } from './power';

/** What the host routes need (their power routes' too). */
export interface HostRoutesDeps extends PowerRoutesDeps {
  hosts: HostStore;
  operations: OperationStore;
  serverTypes: Pick<ServerTypeRegistry, 'list' | 'get'>;
  rebuilds: Pick<RebuildClient, 'start' | 'cancel'>;
  /** Config keys a rebuild needs that are not set (a rebuild is refused naming them). */
  rebuildBlockers: () => string[];
  /** The rebuild's pre-flight through the cluster API; absent: no proxmox.api_token, every rebuild a fresh host's. */
  rebuildPlan?: RebuildPlanner | undefined;
}

const manual = { method: 'manual' } as const;

/** Runs the plan; an unreadable cluster API is 503 cluster_unreachable (never silently a fresh-host rebuild). */
async function planOrFail(planner: RebuildPlanner | undefined, host: Host, choice: RebuildChoice): Promise<RebuildPlan> {
  try {
    return await (planner ?? uncheckedPlanner())(host, choice);
  } catch (err) {
    if (err instanceof ClusterUnreachableError) throw new HttpError(503, err.code, err.message);
    throw err;
  }
}

/** Operator routes for the host registry and its rebuilds. */
export function hostRoutes(deps: HostRoutesDeps) {
  return async function routes(app: FastifyInstance): Promise<void> {
    app.get('/api/hosts', { schema: { tags: ['hosts'], summary: 'List all hosts', response: { 200: HostListSchema, ...errorResponses } } }, listHosts);
    app.get('/api/hosts/:id', { schema: { tags: ['hosts'], summary: 'Host details with its current and past operations', params: HostIdParams, response: { 200: HostDetailSchema, ...errorResponses } } }, getHost);
    app.post('/api/hosts', { schema: { tags: ['hosts'], summary: 'Register a host', body: CreateHostBody, response: { 201: HostSchema, ...errorResponses } } }, createHost);
    app.patch('/api/hosts/:id', { schema: { tags: ['hosts'], summary: "Change a host's settings: its power method (credentials write-only)", params: HostIdParams, body: UpdateHostBody, response: { 200: HostSchema, ...errorResponses } } }, updateHost);
    app.delete('/api/hosts/:id', { schema: { tags: ['hosts'], summary: 'Remove a host and its history', params: HostIdParams, response: { 204: { type: 'null' }, ...errorResponses } } }, deleteHost);
    app.get('/api/hosts/:id/rebuild-plan', { schema: { tags: ['rebuilds'], summary: 'What a rebuild would do and whether it may: for a cluster member its guests, HA, QDevice, replication, quorum without it, steps and refusals (read-only)', params: HostIdParams, querystring: RebuildPlanQuery, response: { 200: RebuildPlanSchema, ...errorResponses, 503: { $ref: 'Error#' } } } }, getRebuildPlan);
    app.post<{ Params: HostIdParams; Body: RebuildBody }>('/api/hosts/:id/rebuild', { schema: { tags: ['rebuilds'], summary: 'Start a rebuild (a cluster member: after its plan, refused with 409 and the plan when something stops it)', params: HostIdParams, body: RebuildBody, response: { 202: RebuildStartedSchema, ...errorResponses, 409: RebuildRefusedSchema, 503: { $ref: 'Error#' } } }, preValidation: noBodyIsEmpty }, startRebuild);
    app.post('/api/hosts/:id/rebuild/cancel', { schema: { tags: ['rebuilds'], summary: 'Cancel the running rebuild (cleanup still runs)', params: HostIdParams, response: { 202: { type: 'object', properties: { workflow_id: { type: 'string' } } }, ...errorResponses } } }, cancelRebuild);
    await app.register(powerRoutes(deps)); // /api/hosts/{id}/power…
  };

  /** Words for the history: what a settings change set (never the password, only whether it changed). */
  function powerChange(update: PowerUpdate): string {
    const pw = 'password' in update && update.password !== undefined ? ', password changed' : '';
    switch (update.method) {
      case 'manual':
        return 'manual';
      case 'wol':
        return `wol (broadcast ${update.broadcast ?? 'of pxe.subnet'}, port ${update.port})`;
      case 'ipmi':
        return `ipmi (${update.username}@${update.address}:${update.port}${pw})`;
      case 'redfish':
        return `redfish (${update.username}@${update.url}${update.systemId ? `, system ${update.systemId}` : ''}${pw})`;
      case 'proxmox':
        return `proxmox (node ${update.node ?? 'the hostname'})`;
    }
  }

  /** Stores new power settings and records who set what in the host's history. */
  function setPower(request: FastifyRequest, host: Host, update: PowerUpdate): void {
    deps.power.store.set(host.id, update);
    const caller = callerOf(request, deps.apiToken);
    deps.operations.append({ hostId: host.id, kind: 'power_settings', message: `power method of ${host.hostname} set to ${powerChange(update)} by ${caller.words}`, details: { method: update.method, by: { kind: caller.kind, address: caller.address } } });
    request.log.info({ hostId: host.id, method: update.method, by: caller.kind }, 'power settings changed');
  }

  /** A POST without a body (today's rebuild button, scripts) is an empty choice, not a validation error. */
  async function noBodyIsEmpty(request: FastifyRequest) {
    request.body ??= {};
  }

  async function listHosts() {
    const power = deps.power.store.settingsByHost();
    return { hosts: deps.hosts.list().map((h) => hostBody(h, power.get(h.id) ?? manual)) };
  }

  async function getHost(request: FastifyRequest<{ Params: HostIdParams }>) {
    const host = deps.hosts.get(request.params.id);
    const operations = deps.operations.listForHost(host.id);
    const current = operations.find((o) => o.status === 'running') ?? null;
    return {
      ...hostBody(host, deps.power.store.settings(host.id)),
      current_operation: current && { ...operationBody(current), events: deps.operations.events(current.id).map(eventBody) },
      operations: operations.map(operationBody),
    };
  }

  async function createHost(request: FastifyRequest<{ Body: CreateHostBody }>, reply: FastifyReply) {
    const { hostname, mac, server_type: serverType } = request.body;
    const parsed = { hostname: parseHostname(hostname), mac: parseMac(mac), serverType };
    if (!deps.serverTypes.get(serverType)) {
      const known = deps.serverTypes.list().map((t) => t.key);
      throw new InvalidInputError(
        'server_type',
        `server_type: unknown server type ${JSON.stringify(serverType)}; known: ${known.length ? known.join(', ') : 'none (server-types.yaml is empty)'}`,
      );
    }
    // Checked before the host exists: a refused power setting registers nothing.
    const power = request.body.power ? parsePowerInput(request.body.power, deps.power.input) : null;
    if (power && (power.method === 'ipmi' || power.method === 'redfish') && power.password === undefined) {
      throw new InvalidInputError('power.password', `power.password: required for method ${power.method}`);
    }
    const host = deps.hosts.create(parsed);
    request.log.info({ hostId: host.id, hostname: host.hostname, mac: host.mac }, 'host registered');
    if (power && power.method !== 'manual') setPower(request, host, power);
    return reply.status(201).send(hostBody(host, deps.power.store.settings(host.id)));
  }

  async function updateHost(request: FastifyRequest<{ Params: HostIdParams; Body: UpdateHostBody }>) {
    const host = deps.hosts.get(request.params.id);
    if (request.body.power) setPower(request, host, parsePowerInput(request.body.power, deps.power.input));
    return hostBody(deps.hosts.get(host.id), deps.power.store.settings(host.id));
  }

  async function deleteHost(request: FastifyRequest<{ Params: HostIdParams }>, reply: FastifyReply) {
    const host = deps.hosts.get(request.params.id);
    if (isActive(host.state) || deps.operations.running(host.id)) throw new HostBusyError(host.id);
    deps.hosts.delete(host.id);
    request.log.info({ hostId: host.id, hostname: host.hostname }, 'host removed');
    return reply.status(204).send();
  }

  async function getRebuildPlan(request: FastifyRequest<{ Params: HostIdParams; Querystring: RebuildPlanQuery }>) {
    const host = deps.hosts.get(request.params.id);
    const q = request.query;
    return rebuildPlanBody(await planOrFail(deps.rebuildPlan, host, { migrate: q.migrate ?? false, migrateTarget: q.migrate_target ?? null, allowQuorumLoss: q.allow_quorum_loss ?? false }));
  }

  async function startRebuild(request: FastifyRequest<{ Params: HostIdParams; Body: RebuildBody }>, reply: FastifyReply) {
    const host = deps.hosts.get(request.params.id);
    const running = deps.operations.running(host.id);
    if (isActive(host.state) && !running) {
      // Left mid-rebuild by a rebuild that ended without its cleanup (terminated): the janitor resets it.
      throw new HostBusyError(host.id, `host ${host.id} is still ${host.state} from a rebuild that ended without cleanup; the janitor resets it within a minute`);
    }
    // Before the plan: a node in the middle of its rebuild is offline or gone from the cluster, which the plan would refuse.
    if (isActive(host.state) && running) throw new RebuildInProgressError(host.id, rebuildWorkflowId(host.id), running.id);
    const missing = deps.rebuildBlockers();
    if (missing.length > 0) {
      throw new HttpError(409, 'not_configured', `a rebuild needs what is missing here: ${missing.join(', ')} (the Setup page, /setup, says how to set each)`);
    }
    const body = request.body;
    const plan = await planOrFail(deps.rebuildPlan, host, { migrate: body.migrate_guests ?? false, migrateTarget: body.migrate_target ?? null, allowQuorumLoss: body.allow_quorum_loss ?? false });
    if (plan.refusals.length > 0) {
      request.log.info({ hostId: host.id, refusals: plan.refusals.map((r) => r.code) }, 'rebuild refused by its plan');
      return reply.status(409).send({ ...errorBody(plan.refusals[0]!.code, plan.refusals.map((r) => r.message).join(' ')), plan: rebuildPlanBody(plan) });
    }
    const member = memberRebuildOf(plan);
    // The method as set now: the rebuild powers the machine into the installer with it (manual: a person does).
    const power = deps.power.store.settings(host.id).method;
    try {
      const { workflowId, runId } = await (member ? deps.rebuilds.start(host, { member, power }) : power !== 'manual' ? deps.rebuilds.start(host, { power }) : deps.rebuilds.start(host));
      const operation = deps.operations.ensure(host.id, workflowId, runId);
      if (member) {
        // The plan it started with, in the host's history: the dashboard shows these steps as they happen.
        const moves = member.migrateTo ? `move ${plan.guests.length} guest${plan.guests.length === 1 ? '' : 's'} to ${member.migrateTo}, ` : '';
        deps.operations.append({
          hostId: host.id,
          operationId: operation.id,
          kind: 'rebuild_plan',
          message: `rebuilding cluster member ${member.node} of cluster ${member.cluster} through ${member.via.name}: ${moves}reboot, remove, install, join, check${member.allowQuorumLoss ? ' (the operator accepted the loss of quorum)' : ''}`,
          details: { member: true, steps: plan.steps.map((s) => s.name), via: member.via.name, migrateTo: member.migrateTo, allowQuorumLoss: member.allowQuorumLoss },
        });
      }
      request.log.info({ hostId: host.id, workflowId, runId, operationId: operation.id, power, ...(member ? { member: member.node, via: member.via.name, migrateTo: member.migrateTo, allowQuorumLoss: member.allowQuorumLoss } : {}) }, 'rebuild started');
      return reply.status(202).send({ operation_id: operation.id, workflow_id: workflowId, run_id: runId });
    } catch (err) {
      if (err instanceof RebuildInProgressError) {
        const running = deps.operations.running(host.id);
        const last = deps.operations.listForHost(host.id)[0];
        // The workflow is open, but its operation has ended: it is sending its notifications.
        if (!running && last) throw new RebuildFinishingError(host.id, err.workflowId, last.status === 'succeeded' ? 'ready' : `failed: ${last.failureReason ?? 'unknown'}`);
        throw new RebuildInProgressError(host.id, err.workflowId, running?.id);
      }
      throw err;
    }
  }

  async function cancelRebuild(request: FastifyRequest<{ Params: HostIdParams }>, reply: FastifyReply) {
    const host = deps.hosts.get(request.params.id);
    await deps.rebuilds.cancel(host.id);
    request.log.info({ hostId: host.id }, 'rebuild cancellation requested');
    return reply.status(202).send({ workflow_id: rebuildWorkflowId(host.id) });
  }
}
