// What a first rebuild needs and its state: GET /api/setup (JSON) and the dashboard's Setup page (/setup).
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { SetupItem } from '../../config/setup-checks';
import { errorResponses } from '../schemas/common';

export interface SetupRoutesDeps {
  /** Every setup item, checked now (the cluster probe included). */
  setup: () => Promise<SetupItem[]>;
}

const ItemSchema = Type.Object({
  id: Type.String(),
  title: Type.String(),
  required: Type.Boolean(),
  ok: Type.Boolean(),
  detail: Type.String(),
  key: Type.Union([Type.String(), Type.Null()]),
  example: Type.Union([Type.String(), Type.Null()]),
  where: Type.String(),
});

/** `ready`: every required item is in place, so a rebuild can start. */
export function setupView(items: readonly SetupItem[]) {
  return {
    ready: items.every((i) => !i.required || i.ok),
    items: items.map(({ id, title, required, ok, detail, key, example, where }) => ({ id, title, required, ok, detail, key, example, where })),
  };
}

/** Registers GET /api/setup (operator API). */
export function setupRoutes(deps: SetupRoutesDeps) {
  return async function routes(app: FastifyInstance): Promise<void> {
    app.get(
      '/api/setup',
      { schema: { tags: ['setup'], summary: 'What a first rebuild needs: each item, its state, the key, an example and where to set it', response: { 200: Type.Object({ ready: Type.Boolean(), items: Type.Array(ItemSchema) }), ...errorResponses } } },
      async () => setupView(await deps.setup()),
    );
  };
}
