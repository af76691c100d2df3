import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { ServerTypeRegistry } from '../../config/server-types';
import { errorResponses } from '../schemas/common';
import { ServerTypeSchema } from '../schemas/hosts';
import { serverTypeBody } from '../api-bodies';

/** Lists the server types currently in force (server-types.yaml, hot-reloaded). */
export function serverTypeRoutes(deps: { serverTypes: Pick<ServerTypeRegistry, 'list'> }) {
  return async function routes(app: FastifyInstance): Promise<void> {
    app.get(
      '/api/server-types',
      { schema: { tags: ['server types'], summary: 'List server types', response: { 200: Type.Object({ server_types: Type.Array(ServerTypeSchema) }), ...errorResponses } } },
      async () => ({ server_types: deps.serverTypes.list().map(serverTypeBody) }),
    );
  };
}
