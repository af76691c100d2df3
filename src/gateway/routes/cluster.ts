// GET /api/cluster: the Proxmox cluster as the gateway last saw it (proxmox.api_token), for operators and scripts.
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ClusterSnapshot } from '../../proxmox/cluster-monitor';
import { errorResponses } from '../schemas/common';

export interface ClusterRoutesDeps {
  clusterSnapshot?: (() => ClusterSnapshot) | undefined; // absent: no proxmox.api_token, the cluster is not checked
}

/** The snapshot as the API shows it (snake_case). */
export function clusterView(s: ClusterSnapshot) {
  return {
    configured: true,
    member: s.member,
    checked_at: s.checkedAt,
    problem: s.problem,
    cluster: s.cluster && {
      name: s.cluster.name,
      quorate: s.cluster.quorate,
      votes: s.cluster.votes,
      members: s.cluster.members,
    },
  };
}

/** Registers GET /api/cluster (operator API). */
export function clusterRoutes(deps: ClusterRoutesDeps) {
  return async function routes(app: FastifyInstance): Promise<void> {
    app.get(
      '/api/cluster',
      { schema: { tags: ['cluster'], summary: 'The Proxmox cluster as last checked through proxmox.existing_node: name, members, online, votes, quorate, and what is wrong', response: { 200: Type.Unknown(), ...errorResponses } } },
      async () =>
        deps.clusterSnapshot
          ? clusterView(deps.clusterSnapshot())
          : { configured: false, message: 'the cluster is not checked: set proxmox.api_token (a PVEAuditor API token on proxmox.existing_node) and restart' },
    );
  };
}
