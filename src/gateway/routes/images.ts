import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ImageLibrary } from '../../images/image-library';
import { errorResponses } from '../schemas/common';

const ImageSchema = Type.Object({
  name: Type.String(),
  kernel_url: Type.String(),
  initrd_url: Type.String(),
  iso_url: Type.String(),
  sizes: Type.Object({ kernel: Type.Integer(), initrd: Type.Integer(), iso: Type.Integer() }),
  modified_at: Type.String(),
});

/** Lists the boot images under images.dir. */
export function imageRoutes(deps: { images: ImageLibrary; publicUrl: string }) {
  return async function routes(app: FastifyInstance): Promise<void> {
    app.get(
      '/api/images',
      { schema: { tags: ['images'], summary: 'List boot images (newest last)', response: { 200: Type.Object({ directory: Type.String(), images: Type.Array(ImageSchema) }), ...errorResponses } } },
      async () => ({
        directory: deps.images.dir,
        images: deps.images.list().map((i) => {
          const base = `${deps.publicUrl}/images/${encodeURIComponent(i.name)}`;
          return {
            name: i.name,
            kernel_url: `${base}/${i.kernel}`,
            initrd_url: `${base}/${i.initrd}`,
            iso_url: `${base}/${encodeURIComponent(i.iso)}`,
            sizes: i.sizes,
            modified_at: i.modifiedAt,
          };
        }),
      }),
    );
  };
}
