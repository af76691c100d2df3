// The boot images API: list, prepare from a stock Proxmox ISO (a download URL or a streamed upload, run as a job),
// show one with its job, delete one no rebuild uses.
import { renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Type, type TSchema } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ServerTypeRegistry } from '../../config/server-types';
import type { BootImage, ImageLibrary } from '../../images/image-library';
import { staleImages, staleReasons, type AnswerSettings } from '../../images/image-staleness';
import { rebuildsUsingImage } from '../../images/image-usage';
import { ImageJobRefused, type ImageJob, type ImageJobs } from '../../images/preparation-jobs';
import type { HostStore } from '../../store/host-store';
import type { OperationStore } from '../../store/operation-store';
import { HttpError } from '../http-errors';
import { errorResponses } from '../schemas/common';

export interface ImageRoutesDeps {
  images: ImageLibrary;
  imageJobs: ImageJobs;
  hosts: HostStore;
  operations: OperationStore;
  serverTypes: Pick<ServerTypeRegistry, 'get'>;
  publicUrl: string;
}

const JobSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  source: Type.String(),
  state: Type.Union([Type.Literal('downloading'), Type.Literal('preparing'), Type.Literal('ready'), Type.Literal('failed')]),
  step: Type.String(),
  bytes_done: Type.Integer(),
  bytes_total: Type.Union([Type.Integer(), Type.Null()]),
  sha256: Type.Union([Type.String(), Type.Null()]),
  error: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]),
  notes: Type.Array(Type.String()),
  started_at: Type.String(),
  finished_at: Type.Union([Type.String(), Type.Null()]),
});

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

const ImageSchema = Type.Object({
  name: Type.String(),
  kernel_url: Type.String(),
  initrd_url: Type.String(),
  iso_url: Type.String(),
  sizes: Type.Object({ kernel: Type.Integer(), initrd: Type.Integer(), iso: Type.Integer() }),
  size: Type.Integer({ description: 'kernel + initrd + ISO, bytes' }),
  modified_at: Type.String(),
  prepared: Type.Boolean({ description: 'prepared by this service (it has image.json); false for a folder made by hand or by Proxmox’s assistant' }),
  product: Nullable(Type.String()),
  release: Nullable(Type.String()),
  isorelease: Nullable(Type.String()),
  source: Nullable(Type.Object({ file: Type.String(), size: Type.Integer(), sha256: Type.String() })),
  prepared_at: Nullable(Type.String()),
  answer_url: Nullable(Type.String()),
  cert_fingerprint: Nullable(Type.String()),
  answer_token: Type.Boolean({ description: 'the ISO carries an answer token the answer endpoint requires' }),
  stale: Nullable(Type.Boolean({ description: 'prepared for another answer URL or certificate than the one of now (null: not prepared here, unknown)' })),
  stale_reasons: Type.Array(Type.String()),
});

const PrepareBody = Type.Object(
  {
    url: Type.String({ description: 'Where to download the stock ISO, e.g. https://enterprise.proxmox.com/iso/proxmox-ve_9.1-1.iso' }),
    sha256: Type.Optional(Type.String({ description: 'The ISO’s SHA-256 (Proxmox publishes SHA256SUMS); the download must match it' })),
    name: Type.Optional(Type.String({ description: 'The image name; from the ISO’s file name when absent (proxmox-ve_9.1-1.iso → pve-9.1-1)' })),
  },
  { additionalProperties: false },
);

const UploadQuery = Type.Object(
  { name: Type.Optional(Type.String()), sha256: Type.Optional(Type.String()), filename: Type.Optional(Type.String()) },
  { additionalProperties: false },
);

const isoTypes = ['application/octet-stream', 'application/x-iso9660-image'];

export function jobView(j: ImageJob) {
  return {
    id: j.id,
    name: j.name,
    source: j.source,
    state: j.state,
    step: j.step,
    bytes_done: j.bytesDone,
    bytes_total: j.bytesTotal,
    sha256: j.sha256,
    error: j.error,
    notes: j.notes,
    started_at: j.startedAt,
    finished_at: j.finishedAt,
  };
}

/** Registers /api/images (list, prepare, show, delete). */
export function imageRoutes(deps: ImageRoutesDeps) {
  const imageView = (i: BootImage) => {
    const base = `${deps.publicUrl}/images/${encodeURIComponent(i.name)}`;
    const m = i.metadata;
    const reasons = staleReasons(i, deps.imageJobs.answerSettings());
    return {
      name: i.name,
      kernel_url: `${base}/${i.kernel}`,
      initrd_url: `${base}/${i.initrd}`,
      iso_url: `${base}/${encodeURIComponent(i.iso)}`,
      sizes: i.sizes,
      size: i.sizes.kernel + i.sizes.initrd + i.sizes.iso,
      modified_at: i.modifiedAt,
      prepared: m !== null,
      product: m?.productLong ?? m?.product ?? null,
      release: m?.release ?? null,
      isorelease: m?.isorelease ?? null,
      source: m?.source ?? null,
      prepared_at: m?.preparedAt ?? null,
      answer_url: m?.answerUrl ?? null,
      cert_fingerprint: m?.certFingerprint ?? null,
      answer_token: m?.tokenSha256 != null,
      stale: reasons === null ? null : reasons.length > 0,
      stale_reasons: reasons ?? [],
    };
  };
  const refused = (err: unknown): never => {
    if (err instanceof ImageJobRefused) throw new HttpError(err.code === 'invalid_request' ? 400 : 409, err.code, err.message, err.field);
    throw err;
  };


  return async function routes(app: FastifyInstance): Promise<void> {
    // An uploaded ISO is the request stream itself: never buffered, no body limit.
    app.addContentTypeParser(isoTypes, (_request, payload, done) => done(null, payload));

    app.get(
      '/api/images',
      { schema: { tags: ['images'], summary: 'List boot images (newest last) and the preparations running or recently finished', response: { 200: Type.Object({ directory: Type.String(), images: Type.Array(ImageSchema), jobs: Type.Array(JobSchema) }), ...errorResponses } } },
      async () => ({ directory: deps.images.dir, images: deps.images.list().map(imageView), jobs: deps.imageJobs.list().map(jobView) }),
    );

    app.post(
      '/api/images',
      {
        schema: {
          tags: ['images'],
          summary: 'Prepare a boot image from a stock Proxmox ISO: JSON {url, sha256?, name?} downloads it; a body of type application/octet-stream uploads it (query name, sha256, filename)',
          querystring: UploadQuery,
          response: { 202: Type.Object({ job: JobSchema, status_url: Type.String() }), ...errorResponses },
        },
      },
      async (request: FastifyRequest<{ Querystring: { name?: string; sha256?: string; filename?: string } }>, reply) => {
        const type = String(request.headers['content-type'] ?? '').split(';')[0]!.trim();
        let job: ImageJob;
        if (isoTypes.includes(type)) {
          const size = Number(request.headers['content-length']);
          job = await deps.imageJobs
            .startUpload({ body: request.body as Readable, name: request.query.name, fileName: request.query.filename, sha256: request.query.sha256, size: Number.isFinite(size) && size > 0 ? size : undefined })
            .catch(refused);
        } else {
          const body = checkPrepareBody(request.body);
          try {
            job = deps.imageJobs.startDownload(body);
          } catch (err) {
            refused(err);
          }
        }
        return reply.status(202).send({ job: jobView(job!), status_url: `/api/images/${encodeURIComponent(job!.name)}` });
      },
    );

    app.get<{ Params: { name: string } }>(
      '/api/images/:name',
      { schema: { tags: ['images'], summary: 'One boot image, with its newest preparation job', response: { 200: Type.Object({ image: Type.Union([ImageSchema, Type.Null()]), job: Type.Union([JobSchema, Type.Null()]) }), ...errorResponses } } },
      async (request) => {
        const image = deps.images.choose(request.params.name) ?? null;
        const job = deps.imageJobs.forName(request.params.name) ?? null;
        if (!image && !job) throw new HttpError(404, 'image_not_found', `no image ${request.params.name} under ${deps.images.dir}`);
        return { image: image && imageView(image), job: job && jobView(job) };
      },
    );

    app.post<{ Params: { name: string } }>(
      '/api/images/:name/reprepare',
      { schema: { tags: ['images'], summary: 'Prepare an image again for the answer URL and certificate of now (a stale image), from its own ISO; keeps its answer token', response: { 202: Type.Object({ job: JobSchema, status_url: Type.String() }), ...errorResponses } } },
      async (request, reply) => {
        const { name } = request.params;
        const image = deps.images.choose(name);
        if (!image) throw new HttpError(404, 'image_not_found', `no image ${name} under ${deps.images.dir}`);
        if (!image.metadata) throw new HttpError(409, 'not_prepared_here', `image ${name} was not prepared by this service (it has no image.json): prepare it again from its ISO (POST /api/images)`);
        const users = rebuildsUsingImage(deps, name);
        if (users.length > 0) throw new HttpError(409, 'image_in_use', `image ${name} is booted by the running rebuild of ${users.join(', ')}; prepare it again once ${users.length === 1 ? 'that rebuild ends' : 'those rebuilds end'}`);
        let job: ImageJob;
        try {
          job = deps.imageJobs.startReprepare(name);
        } catch (err) {
          refused(err);
        }
        return reply.status(202).send({ job: jobView(job!), status_url: `/api/images/${encodeURIComponent(name)}` });
      },
    );

    app.delete<{ Params: { name: string } }>(
      '/api/images/:name',
      { schema: { tags: ['images'], summary: 'Delete a boot image no rebuild uses', response: { 204: Type.Null(), ...errorResponses } } },
      async (request, reply) => {
        const { name } = request.params;
        if (deps.imageJobs.running(name)) throw new HttpError(409, 'already_preparing', `image ${name} is being prepared; wait for the preparation to end`);
        const image = deps.images.choose(name);
        if (!image) throw new HttpError(404, 'image_not_found', `no image ${name} under ${deps.images.dir}`);
        const users = rebuildsUsingImage(deps, name);
        if (users.length > 0) throw new HttpError(409, 'image_in_use', `image ${name} is booted by the running rebuild of ${users.join(', ')}; delete it once ${users.length === 1 ? 'that rebuild ends' : 'those rebuilds end'}`);
        // Out of sight first (one rename, so a booting host never sees half an image), then removed.
        const gone = join(deps.images.dir, `.deleting-${name}-${Date.now()}`);
        renameSync(join(deps.images.dir, name), gone);
        rmSync(gone, { recursive: true, force: true });
        deps.images.invalidate();
        request.log.info({ image: name }, 'boot image deleted');
        return reply.status(204).send();
      },
    );
  };
}

/** The JSON body of a download, checked by hand: the route accepts an ISO stream too, so no body schema. */
function checkPrepareBody(body: unknown): { url: string; sha256?: string; name?: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(400, 'invalid_request', 'send JSON {"url": "https://…/proxmox-ve_9.1-1.iso"} or the ISO itself as application/octet-stream');
  }
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b)) {
    if (!(key in PrepareBody.properties)) throw new HttpError(400, 'invalid_request', `unknown field ${key}; expected url, sha256, name`, key);
  }
  for (const key of ['url', 'sha256', 'name'] as const) {
    if (b[key] !== undefined && typeof b[key] !== 'string') throw new HttpError(400, 'invalid_request', `${key} must be a string`, key);
  }
  if (b.url === undefined) throw new HttpError(400, 'invalid_request', 'url is required: where to download the stock Proxmox VE ISO', 'url');
  return b as { url: string; sha256?: string; name?: string };
}

/** What /readyz says about stale images: null when none is. */
export function staleImagesWarning(images: readonly BootImage[], now: AnswerSettings): string | null {
  const stale = staleImages(images, now);
  if (stale.length === 0) return null;
  return `${stale.length === 1 ? `boot image ${stale[0]} was` : `boot images ${stale.join(', ')} were`} prepared for another answer URL or certificate than the boot API's now: prepare ${stale.length === 1 ? 'it' : 'them'} again (the Images page, or POST /api/images/{name}/reprepare)`;
}
