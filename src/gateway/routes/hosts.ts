import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HostBusyError, InvalidInputError, RebuildInProgressError } from '../../domain/errors';
import { parseHostname } from '../../domain/hostname';
import { isActive } from '../../domain/host-state-machine';
import { parseMac } from '../../domain/mac-address';
import { rebuildWorkflowId } from '../../domain/rebuild-ids';
import type { ServerTypeRegistry } from '../../config/server-types';
import type { HostStore } from '../../store/host-store';
import type { OperationStore } from '../../store/operation-store';
import type { RebuildClient } from '../../temporal/rebuild-client';
import { HttpError } from '../http-errors';
import { errorResponses } from '../schemas/common';
import {
  CreateHostBody,
  HostDetailSchema,
  HostIdParams,
  HostListSchema,
  HostSchema,
  RebuildStartedSchema,
} from '../schemas/hosts';
import { eventBody, hostBody, operationBody } from '../api-bodies';

/** What the host routes need. */
export interface HostRoutesDeps {
  hosts: HostStore;
  operations: OperationStore;
  serverTypes: Pick<ServerTypeRegistry, 'list' | 'get'>;
  rebuilds: Pick<RebuildClient, 'start' | 'cancel'>;
  /** Config keys a rebuild needs that are not set (a rebuild is refused naming them). */
  rebuildBlockers: () => string[];
}

/** Operator routes for the host registry and its rebuilds. */
export function hostRoutes(deps: HostRoutesDeps) {
  return async function routes(app: FastifyInstance): Promise<void> {
    app.get('/api/hosts', { schema: { tags: ['hosts'], summary: 'List all hosts', response: { 200: HostListSchema, ...errorResponses } } }, listHosts);
    app.get('/api/hosts/:id', { schema: { tags: ['hosts'], summary: 'Host details with its current and past operations', params: HostIdParams, response: { 200: HostDetailSchema, ...errorResponses } } }, getHost);
    app.post('/api/hosts', { schema: { tags: ['hosts'], summary: 'Register a host', body: CreateHostBody, response: { 201: HostSchema, ...errorResponses } } }, createHost);
    app.delete('/api/hosts/:id', { schema: { tags: ['hosts'], summary: 'Remove a host and its history', params: HostIdParams, response: { 204: { type: 'null' }, ...errorResponses } } }, deleteHost);
    app.post('/api/hosts/:id/rebuild', { schema: { tags: ['rebuilds'], summary: 'Start a rebuild', params: HostIdParams, response: { 202: RebuildStartedSchema, ...errorResponses } } }, startRebuild);
    app.post('/api/hosts/:id/rebuild/cancel', { schema: { tags: ['rebuilds'], summary: 'Cancel the running rebuild (cleanup still runs)', params: HostIdParams, response: { 202: { type: 'object', properties: { workflow_id: { type: 'string' } } }, ...errorResponses } } }, cancelRebuild);
  };

  async function listHosts() {
    return { hosts: deps.hosts.list().map(hostBody) };
  }

  async function getHost(request: FastifyRequest<{ Params: HostIdParams }>) {
    const host = deps.hosts.get(request.params.id);
    const operations = deps.operations.listForHost(host.id);
    const current = operations.find((o) => o.status === 'running') ?? null;
    return {
      ...hostBody(host),
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
    const host = deps.hosts.create(parsed);
    request.log.info({ hostId: host.id, hostname: host.hostname, mac: host.mac }, 'host registered');
    return reply.status(201).send(hostBody(host));
  }

  async function deleteHost(request: FastifyRequest<{ Params: HostIdParams }>, reply: FastifyReply) {
    const host = deps.hosts.get(request.params.id);
    if (isActive(host.state) || deps.operations.running(host.id)) throw new HostBusyError(host.id);
    deps.hosts.delete(host.id);
    request.log.info({ hostId: host.id, hostname: host.hostname }, 'host removed');
    return reply.status(204).send();
  }

  async function startRebuild(request: FastifyRequest<{ Params: HostIdParams }>, reply: FastifyReply) {
    const host = deps.hosts.get(request.params.id);
    if (isActive(host.state) && !deps.operations.running(host.id)) {
      // Left mid-rebuild by a rebuild that ended without its cleanup (terminated): the janitor resets it.
      throw new HostBusyError(host.id, `host ${host.id} is still ${host.state} from a rebuild that ended without cleanup; the janitor resets it within a minute`);
    }
    const missing = deps.rebuildBlockers();
    if (missing.length > 0) {
      throw new HttpError(409, 'not_configured', `a rebuild needs what is missing here: ${missing.join(', ')} (the Setup page, /setup, says how to set each)`);
    }
    try {
      const { workflowId, runId } = await deps.rebuilds.start(host);
      const operation = deps.operations.ensure(host.id, workflowId, runId);
      request.log.info({ hostId: host.id, workflowId, runId, operationId: operation.id }, 'rebuild started');
      return reply.status(202).send({ operation_id: operation.id, workflow_id: workflowId, run_id: runId });
    } catch (err) {
      if (err instanceof RebuildInProgressError) {
        throw new RebuildInProgressError(host.id, err.workflowId, deps.operations.running(host.id)?.id);
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
