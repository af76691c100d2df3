// The endpoints PXE-booting and freshly installed hosts call: parse the request, ask the boot service
// (src/boot/boot-service.ts, where the default-deny decisions live), send what it answers.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BootService, type BootRequest, type BootServiceDeps, type TokenRefused } from '../../boot/boot-service';
import { bearerToken } from '../../images/image-token';
import { HttpError } from '../http-errors';
import { AnswerRequestBody, BootTokenQuery, InstalledBody, PhoneHomeBody } from '../schemas/boot';
import { HostIdParams } from '../schemas/hosts';

/** What the boot endpoints need. */
export type BootDeps = BootServiceDeps;

const text = (reply: FastifyReply, status: number, body: string, type = 'text/plain; charset=utf-8') =>
  reply.status(status).header('content-type', type).header('cache-control', 'no-store').send(body);

const bootRequest = (request: FastifyRequest): BootRequest => ({ log: request.log, remoteAddress: request.ip });

/** A refused boot token, as the API's error body: 401 invalid_boot_token on the `token` field. */
const tokenRefused = (refusal: TokenRefused) => new HttpError(401, 'invalid_boot_token', refusal.message, 'token');

/** Registers the boot endpoints. */
export function bootRoutes(deps: BootDeps) {
  const boot = new BootService(deps);

  return async function routes(app: FastifyInstance): Promise<void> {
    app.get('/ipxe/:mac', { schema: { tags: ['boot'], summary: 'iPXE script: the installer for a host whose rebuild awaits PXE, local disk for anything else' } }, ipxeScript);
    app.post('/api/boot/answer', { bodyLimit: 4 * 1024 * 1024, schema: { tags: ['boot'], summary: 'Proxmox answer file (TOML) for the installer', body: AnswerRequestBody } }, answerFile);
    app.post('/api/hosts/:id/installed', { bodyLimit: 8 * 1024 * 1024, schema: { tags: ['boot'], summary: 'Post-installation webhook of the Proxmox installer', params: HostIdParams, querystring: BootTokenQuery, body: InstalledBody } }, installed);
    app.get('/api/hosts/:id/first-boot-script', { schema: { tags: ['boot'], summary: 'First-boot script (sh) that phones home', params: HostIdParams, querystring: BootTokenQuery } }, firstBootScript);
    app.post('/api/hosts/:id/phone-home', { schema: { tags: ['boot'], summary: 'First boot reports its IP and hardware id', params: HostIdParams, querystring: BootTokenQuery, body: PhoneHomeBody } }, phoneHome);
  };

  async function ipxeScript(request: FastifyRequest<{ Params: { mac: string } }>, reply: FastifyReply) {
    const { script } = await boot.pxeScript(request.params.mac, bootRequest(request));
    return text(reply, 200, script);
  }

  async function answerFile(request: FastifyRequest<{ Body: AnswerRequestBody }>, reply: FastifyReply) {
    const result = await boot.answer(request.body.network_interfaces.map((n) => n.mac), bootRequest(request), {
      isoRelease: (request.body as { iso?: { release?: string } }).iso?.release,
      bearerToken: bearerToken(request.headers.authorization),
    });
    if (result.kind === 'refused') return text(reply, result.status, result.text);
    return text(reply, 200, result.toml, 'application/toml; charset=utf-8');
  }

  async function installed(request: FastifyRequest<{ Params: HostIdParams; Querystring: BootTokenQuery; Body: InstalledBody }>, reply: FastifyReply) {
    const token = request.query.token ?? (request.body as { token?: string }).token;
    const result = await boot.installed(request.params.id, token, request.body, bootRequest(request));
    if (result.kind === 'token-refused') throw tokenRefused(result);
    return reply.status(200).send({ ok: true });
  }

  async function firstBootScript(request: FastifyRequest<{ Params: HostIdParams; Querystring: BootTokenQuery }>, reply: FastifyReply) {
    const result = boot.firstBootScript(request.params.id, request.query.token);
    if (result.kind === 'token-refused') throw tokenRefused(result);
    return text(reply, 200, result.script, 'text/x-shellscript; charset=utf-8');
  }

  async function phoneHome(request: FastifyRequest<{ Params: HostIdParams; Querystring: BootTokenQuery; Body: PhoneHomeBody }>, reply: FastifyReply) {
    const result = await boot.phoneHome(request.params.id, request.query.token, request.body, bootRequest(request));
    if (result.kind === 'token-refused') throw tokenRefused(result);
    return reply.status(200).send({ ok: true });
  }
}
