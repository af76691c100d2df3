// The endpoints PXE-booting and freshly installed hosts call. Default-deny: a machine that is not in an active
// rebuild gets the local-disk script, a 404 for its answer, a 401 for a webhook; nothing about it changes.
import { isIP } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { buildAnswer, renderAnswerFile } from '../../boot/answer-file';
import { validateAnswer } from '../../boot/answer-validator';
import { renderFirstBootScript } from '../../boot/first-boot-script';
import { renderInstallScript, renderLocalBootScript } from '../../boot/ipxe-script';
import type { InstallSettings } from '../../config/load-config';
import type { ServerTypeRegistry } from '../../config/server-types';
import { decideBoot } from '../../domain/boot-decision';
import { NoActiveRebuildError } from '../../domain/errors';
import type { Host } from '../../domain/host';
import { tryParseMac } from '../../domain/mac-address';
import type { ImageLibrary } from '../../images/image-library';
import type { HostStore } from '../../store/host-store';
import type { Operation, OperationStore } from '../../store/operation-store';
import type { PxeAllowList } from '../../store/pxe-allow-list';
import type { RebuildKeyStore } from '../../store/rebuild-key-store';
import { rebuildKeyId, rebuildWorkflowId } from '../../domain/rebuild-ids';
import type { RebuildClient } from '../../temporal/rebuild-client';
import type { BootTokens } from '../boot-tokens';
import { HttpError } from '../http-errors';
import { AnswerRequestBody, BootTokenQuery, InstalledBody, PhoneHomeBody } from '../schemas/boot';
import { HostIdParams } from '../schemas/hosts';

/** What the boot endpoints need. */
export interface BootDeps {
  hosts: HostStore;
  operations: OperationStore;
  pxeAllowList: PxeAllowList;
  keys: Pick<RebuildKeyStore, 'find'>;
  serverTypes: Pick<ServerTypeRegistry, 'get'>;
  images: ImageLibrary;
  tokens: BootTokens;
  rebuilds: Pick<RebuildClient, 'deliver'>;
  publicUrl: string; // http://192.168.1.100:8080
  install: InstallSettings;
  rootPasswordHash: string;
  firstBootDeadlineSeconds: number;
}

const text = (reply: FastifyReply, status: number, body: string, type = 'text/plain; charset=utf-8') =>
  reply.status(status).header('content-type', type).header('cache-control', 'no-store').send(body);

/** Registers the boot endpoints. */
export function bootRoutes(deps: BootDeps) {
  return async function routes(app: FastifyInstance): Promise<void> {
    app.get('/ipxe/:mac', { schema: { tags: ['boot'], summary: 'iPXE script: the installer for a host whose rebuild awaits PXE, local disk for anything else' } }, ipxeScript);
    app.post('/api/boot/answer', { bodyLimit: 4 * 1024 * 1024, schema: { tags: ['boot'], summary: 'Proxmox answer file (TOML) for the installer', body: AnswerRequestBody } }, answerFile);
    app.post('/api/hosts/:id/installed', { bodyLimit: 8 * 1024 * 1024, schema: { tags: ['boot'], summary: 'Post-installation webhook of the Proxmox installer', params: HostIdParams, querystring: BootTokenQuery, body: InstalledBody } }, installed);
    app.get('/api/hosts/:id/first-boot-script', { schema: { tags: ['boot'], summary: 'First-boot script (sh) that phones home', params: HostIdParams, querystring: BootTokenQuery } }, firstBootScript);
    app.post('/api/hosts/:id/phone-home', { schema: { tags: ['boot'], summary: 'First boot reports its IP and hardware id', params: HostIdParams, querystring: BootTokenQuery, body: PhoneHomeBody } }, phoneHome);
  };

  function installImageFor(host: Host) {
    return deps.images.choose(deps.serverTypes.get(host.serverType)?.image ?? null);
  }

  async function ipxeScript(request: FastifyRequest<{ Params: { mac: string } }>, reply: FastifyReply) {
    // iPXE may send ${mac} with its colons percent-encoded, or ${mac:hexhyp}; Fastify has decoded the path.
    const mac = tryParseMac(request.params.mac);
    const host = mac ? deps.hosts.findByMac(mac) : undefined;
    const decision = mac ? decideBoot(host, deps.pxeAllowList.find(mac)) : { action: 'local-disk' as const, reason: `not a MAC address: ${JSON.stringify(request.params.mac)}` };
    const image = decision.action === 'install' && host ? installImageFor(host) : undefined;
    if (decision.action === 'install' && host && image) {
      const base = `${deps.publicUrl}/images/${encodeURIComponent(image.name)}`;
      const script = renderInstallScript({
        hostname: host.hostname,
        mac: host.mac,
        imageName: image.name,
        kernelUrl: `${base}/${image.kernel}`,
        initrdUrl: `${base}/${image.initrd}`,
        isoUrl: `${base}/${encodeURIComponent(image.iso)}`,
      });
      request.log.info({ hostId: host.id, mac: host.mac, image: image.name }, 'serving the installer to a rebuilding host');
      // Firmware retries and repeated boots send the same event again; once the rebuild has recorded it, skip it.
      try {
        if (host.state === 'pxe_ready') await deps.rebuilds.deliver(host.id, 'pxeBooted', { at: new Date().toISOString(), remoteAddress: request.ip });
      } catch (err) {
        // The rebuild cannot hear about this boot (gone, or Temporal unreachable): in doubt, boot the disk.
        request.log.error({ err, hostId: host.id }, 'could not deliver pxeBooted; answering with local boot');
        return text(reply, 200, renderLocalBootScript());
      }
      return text(reply, 200, script);
    }
    const reason = decision.action === 'local-disk' ? decision.reason : `no boot image${deps.serverTypes.get(host!.serverType)?.image ? ` named ${deps.serverTypes.get(host!.serverType)!.image}` : ''} in ${deps.images.dir}`;
    request.log.info({ mac: mac ?? request.params.mac, hostId: host?.id, reason }, 'PXE request answered with local boot');
    if (host) {
      deps.operations.append({
        hostId: host.id,
        operationId: deps.operations.running(host.id)?.id ?? null,
        kind: 'boot_local',
        message: `PXE request from ${host.mac} answered with "boot from local disk": ${reason}`,
      });
    }
    return text(reply, 200, renderLocalBootScript());
  }

  async function answerFile(request: FastifyRequest<{ Body: AnswerRequestBody }>, reply: FastifyReply) {
    const macs = [...new Set(request.body.network_interfaces.map((n) => tryParseMac(n.mac)).filter((m) => m !== null))];
    const candidates = macs.map((m) => deps.hosts.findByMac(m)).filter((h): h is Host => h !== undefined);
    const host = candidates.find((h) => decideBoot(h, deps.pxeAllowList.find(h.mac)).action === 'install');
    if (!host) {
      const why = candidates.length === 0 ? 'no registered host has any of these MACs' : `${candidates.map((h) => `${h.hostname} is ${h.state}`).join(', ')}; none awaits an answer file`;
      request.log.warn({ macs, why }, 'answer file refused');
      return text(reply, 404, `provisioning: no rebuild is waiting for an answer file for ${macs.join(', ') || 'these MACs'}: ${why}\n`);
    }
    const operation = deps.operations.running(host.id);
    const key = operation ? deps.keys.find(rebuildKeyId(operation.runId)) : undefined;
    const serverType = deps.serverTypes.get(host.serverType);
    if (!operation || !key || !serverType) {
      const why = !operation ? 'its rebuild has no operation record' : !key ? 'its rebuild key is missing' : `server type ${host.serverType} is no longer defined`;
      request.log.error({ hostId: host.id, why }, 'cannot build an answer file');
      return text(reply, 404, `provisioning: cannot build an answer file for ${host.hostname}: ${why}\n`);
    }
    const token = deps.tokens.tokenFor(operation.runId);
    const hostUrl = `${deps.publicUrl}/api/hosts/${host.id}`;
    const input = {
      fqdn: `${host.hostname}.${deps.install.domain}`,
      country: deps.install.country,
      keyboard: deps.install.keyboard,
      timezone: deps.install.timezone,
      mailto: deps.install.mailto,
      rootPasswordHash: deps.rootPasswordHash,
      rebuildPublicKey: key.publicKey,
      filesystem: serverType.filesystem,
      raid: serverType.raid,
      disks: serverType.bootDisks,
      webhookUrl: `${hostUrl}/installed?token=${token}`,
      firstBootUrl: `${hostUrl}/first-boot-script?token=${token}`,
    };
    const problems = validateAnswer(buildAnswer(input));
    if (problems.length > 0) {
      // Serving it would leave the machine at the installer's console; refuse and say why.
      deps.operations.append({ hostId: host.id, operationId: operation.id, kind: 'answer_invalid', message: `answer file for ${host.hostname} failed validation: ${problems.join('; ')}` });
      request.log.error({ hostId: host.id, problems }, 'refusing to serve an invalid answer file');
      return text(reply, 500, `provisioning: the answer file for ${host.hostname} is invalid: ${problems.join('; ')}\n`);
    }
    await deps.rebuilds.deliver(host.id, 'answerServed', { at: new Date().toISOString(), remoteAddress: request.ip });
    request.log.info({ hostId: host.id, mac: host.mac }, 'answer file served');
    return text(reply, 200, renderAnswerFile(input), 'application/toml; charset=utf-8');
  }

  /** The host's running operation when `token` is its boot token; otherwise a 401/409 and nothing changes. */
  function authorize(hostId: number, token: string | undefined): { host: Host; operation: Operation } {
    const host = deps.hosts.get(hostId);
    if (!token) throw new HttpError(401, 'invalid_boot_token', 'missing boot token (the ?token= of the answer file URLs)', 'token');
    const operation = deps.operations.running(host.id);
    if (!operation) throw new NoActiveRebuildError(host.id);
    if (!deps.tokens.verify(token, operation.runId)) throw new HttpError(401, 'invalid_boot_token', `boot token is not the one of ${host.hostname}'s running rebuild`, 'token');
    return { host, operation };
  }

  async function installed(request: FastifyRequest<{ Params: HostIdParams; Querystring: BootTokenQuery; Body: InstalledBody }>, reply: FastifyReply) {
    const { host } = authorize(request.params.id, request.query.token ?? (request.body as { token?: string }).token);
    // The host reboots next: stop serving it the installer now, without waiting for the worker to process the event.
    if (deps.pxeAllowList.find(host.mac)?.workflowId === rebuildWorkflowId(host.id)) deps.pxeAllowList.revoke(host.mac);
    const body = request.body;
    const management = body['network-interfaces']?.find((n) => n['is-management']) ?? body['network-interfaces']?.find((n) => n.address);
    const sshHostKeys = Object.fromEntries(Object.entries(body['ssh-public-host-keys'] ?? {}).filter(([, v]) => /^(ssh|ecdsa)-\S+ [A-Za-z0-9+/=]+/.test(v)));
    const managementAddress = management?.address ?? null;
    const machineId = body['machine-id'] ?? null;
    deps.hosts.recordFacts(host.id, {
      ipAddress: managementAddress?.split('/')[0],
      machineId: machineId ?? undefined,
      hardwareId: body.dmi?.system?.uuid,
      sshHostKeys,
    });
    await deps.rebuilds.deliver(host.id, 'installed', { at: new Date().toISOString(), remoteAddress: request.ip, managementAddress, sshHostKeys, machineId });
    request.log.info({ hostId: host.id, managementAddress, hostKeys: Object.keys(sshHostKeys) }, 'installer reported success');
    return reply.status(200).send({ ok: true });
  }

  async function firstBootScript(request: FastifyRequest<{ Params: HostIdParams; Querystring: BootTokenQuery }>, reply: FastifyReply) {
    const { host, operation } = authorize(request.params.id, request.query.token);
    const script = renderFirstBootScript({
      hostname: host.hostname,
      phoneHomeUrl: `${deps.publicUrl}/api/hosts/${host.id}/phone-home?token=${deps.tokens.tokenFor(operation.runId)}`,
      serverHost: new URL(deps.publicUrl).hostname.replace(/^\[|\]$/g, ''),
      deadlineSeconds: deps.firstBootDeadlineSeconds,
    });
    return text(reply, 200, script, 'text/x-shellscript; charset=utf-8');
  }

  async function phoneHome(request: FastifyRequest<{ Params: HostIdParams; Querystring: BootTokenQuery; Body: PhoneHomeBody }>, reply: FastifyReply) {
    const { host } = authorize(request.params.id, request.query.token);
    const ip = request.body.ip.trim();
    if (isIP(ip) === 0) throw new HttpError(400, 'invalid_request', `ip: expected an IP address, got ${JSON.stringify(ip)}`, 'ip');
    const hardwareId = request.body.hardware_id?.trim() || null;
    deps.hosts.recordFacts(host.id, { ipAddress: ip, hardwareId: hardwareId ?? undefined });
    await deps.rebuilds.deliver(host.id, 'phonedHome', { at: new Date().toISOString(), remoteAddress: request.ip, ip, hardwareId });
    request.log.info({ hostId: host.id, ip }, 'first boot phoned home');
    return reply.status(200).send({ ok: true });
  }

}
