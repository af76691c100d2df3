// What the boot endpoints decide, without HTTP: which iPXE script a MAC gets, which answer file (or refusal) an
// installer gets, what the installer's webhook and the first boot's phone-home mean for the host and its rebuild.
// Default-deny: a machine that is not in an active rebuild gets the local-disk script, a refused answer, a refused
// webhook; nothing about it changes. The gateway's boot route parses requests and sends what this returns.
import { isIP } from 'node:net';
import type { InstallSettings } from '../config/load-config';
import type { ServerTypeRegistry } from '../config/server-types';
import { decideBoot } from '../domain/boot-decision';
import { InvalidInputError, NoActiveRebuildError } from '../domain/errors';
import type { Host } from '../domain/host';
import { tryParseMac } from '../domain/mac-address';
import type { BootEventSink, InstalledReport } from '../domain/rebuild';
import { rebuildKeyId, rebuildWorkflowId } from '../domain/rebuild-ids';
import type { ImageLibrary } from '../images/image-library';
import { imageTokenMatches } from '../images/image-token';
import { installerServedEvent, servedImage } from '../images/image-usage';
import type { Logger } from '../logging';
import type { HostStore } from '../store/host-store';
import type { Operation, OperationStore } from '../store/operation-store';
import type { PxeAllowList } from '../store/pxe-allow-list';
import type { AuditStore } from '../store/audit-store';
import type { RebuildKeyStore } from '../store/rebuild-key-store';
import { answerInputFor, buildAnswer, installerSupportsAuthToken, renderAnswerFile } from './answer-file';
import { validateAnswer } from './answer-validator';
import { renderFirstBootScript } from './first-boot-script';
import { renderInstallScript, renderLocalBootScript } from './ipxe-script';

/** Issues and checks per-rebuild boot tokens (the gateway's BootTokens). */
export interface BootTokenIssuer {
  tokenFor(runId: string): string;
  verify(token: string | undefined, runId: string): boolean;
}

/** What the boot service needs: the stores it reads and writes, the rebuilds it tells, and the install settings. */
export interface BootServiceDeps {
  hosts: HostStore;
  operations: OperationStore;
  pxeAllowList: PxeAllowList;
  keys: Pick<RebuildKeyStore, 'find'>;
  serverTypes: Pick<ServerTypeRegistry, 'get'>;
  images: ImageLibrary;
  tokens: BootTokenIssuer;
  rebuilds: BootEventSink;
  publicUrl: string; // http://192.168.1.100:8080
  // The boot API over HTTPS (server.tls), when it listens: the answer's webhook and first-boot URLs use it, pinned.
  https?: { publicUrl: string; certFingerprint: string } | null; // https://192.168.1.100:8443, AB:CD:…
  install: InstallSettings;
  rootPasswordHash: string;
  firstBootDeadlineSeconds: number;
  audit?: Pick<AuditStore, 'record' | 'list'> | undefined; // every decision in the audit trail (GET /api/audit, the boot.decision event)
}

/** The request a decision is made for: where to log, and who asked. */
export interface BootRequest {
  log: Pick<Logger, 'info' | 'warn' | 'error'>; // the request's logger
  remoteAddress: string; // 192.168.1.53
}

/** What the answer request says about the installer beyond its MACs (proxmox.md §2.2). */
export interface InstallerInfo {
  isoRelease?: string | undefined; // iso.release of the system-info body: 9.2
  bearerToken?: string | null | undefined; // of its Authorization: Bearer header: the image's token (9.2+ ISOs)
}

/** The iPXE script a MAC gets; `reason` says why it is the local disk. */
export type PxeScript = { kind: 'install'; script: string } | { kind: 'local-disk'; script: string; reason: string };

/** The answer file, or why there is none (404: no rebuild can use one; 403: not the image's token; 500: ours would be broken). */
export type AnswerReply = { kind: 'answer'; toml: string } | { kind: 'refused'; status: 403 | 404 | 500; text: string };

/** The boot token does not belong to the host's running rebuild (or is missing). */
export interface TokenRefused {
  kind: 'token-refused';
  message: string;
}

/** The parts of the installer's post-installation webhook (proxmox.md §3) that say something about the host. */
export interface InstallerWebhook {
  'machine-id'?: string;
  'ssh-public-host-keys'?: Record<string, string>;
  'network-interfaces'?: { address?: string; 'is-management'?: boolean }[];
  dmi?: { system?: { uuid?: string } };
}

/** What the webhook tells about the installed host: the rebuild's report plus the DMI system UUID. */
export interface InstalledFacts extends InstalledReport {
  hardwareId: string | undefined;
}

/** Returns what the installer's webhook says about the host: management address, valid SSH host keys, ids. */
export function installedFacts(webhook: InstallerWebhook): InstalledFacts {
  const nics = webhook['network-interfaces'];
  const management = nics?.find((n) => n['is-management']) ?? nics?.find((n) => n.address);
  const sshHostKeys = Object.fromEntries(Object.entries(webhook['ssh-public-host-keys'] ?? {}).filter(([, v]) => /^(ssh|ecdsa)-\S+ [A-Za-z0-9+/=]+/.test(v)));
  return { managementAddress: management?.address ?? null, sshHostKeys, machineId: webhook['machine-id'] ?? null, hardwareId: webhook.dmi?.system?.uuid };
}

/** The boot decisions over the stores; every method logs and records as the endpoint always has. */
export class BootService {
  constructor(
    private readonly deps: BootServiceDeps,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Returns the iPXE script for the MAC in `rawMac`; tells the rebuild about the boot the first time. */
  async pxeScript(rawMac: string, req: BootRequest): Promise<PxeScript> {
    // iPXE may send ${mac} with its colons percent-encoded, or ${mac:hexhyp}; the caller has decoded the path.
    const mac = tryParseMac(rawMac);
    if (!mac) return this.bootLocal(req, rawMac.slice(0, 64), undefined, `not a MAC address: ${JSON.stringify(rawMac.slice(0, 64))}${rawMac.length > 64 ? ' (cut)' : ''}`);
    const host = this.deps.hosts.findByMac(mac);
    const allowance = this.deps.pxeAllowList.find(mac);
    const decision = decideBoot(host, allowance);
    if (decision.action === 'local-disk') return this.bootLocal(req, mac, host, decision.reason, localBootCode(host, allowance));
    const rebuilding = host!; // decideBoot installs only a host it was given
    const wanted = this.deps.serverTypes.get(rebuilding.serverType)?.image ?? null;
    const image = this.deps.images.choose(wanted);
    if (!image) return this.bootLocal(req, mac, rebuilding, `no boot image${wanted ? ` named ${wanted}` : ''} in ${this.deps.images.dir}`, 'no_image');
    const base = `${this.deps.publicUrl}/images/${encodeURIComponent(image.name)}`;
    const script = renderInstallScript({
      hostname: rebuilding.hostname,
      mac: rebuilding.mac,
      imageName: image.name,
      kernelUrl: `${base}/${image.kernel}`,
      initrdUrl: `${base}/${image.initrd}`,
      isoUrl: `${base}/${encodeURIComponent(image.iso)}`,
    });
    req.log.info({ hostId: rebuilding.id, mac: rebuilding.mac, image: image.name }, 'serving the installer to a rebuilding host');
    // The answer endpoint asks this host for the token of the image it was served; a later boot may get another.
    const operation = this.deps.operations.running(rebuilding.id);
    if (operation && servedImage(this.deps.operations, operation.id) !== image.name) {
      this.deps.operations.append({ hostId: rebuilding.id, operationId: operation.id, kind: installerServedEvent, message: `served the installer of image ${image.name}`, details: { image: image.name } });
    }
    // Firmware retries and repeated boots send the same event again; once the rebuild has recorded it, skip it.
    try {
      if (rebuilding.state === 'pxe_ready') await this.deps.rebuilds.deliver(rebuilding.id, 'pxeBooted', { at: this.now().toISOString(), remoteAddress: req.remoteAddress });
    } catch (err) {
      // The rebuild cannot hear about this boot (gone, or Temporal unreachable): in doubt, boot the disk.
      req.log.error({ err, hostId: rebuilding.id }, 'could not deliver pxeBooted; answering with local boot');
      const reason = `could not deliver pxeBooted: ${(err as Error).message}`;
      this.recordDecision(req, 'ipxe', mac, rebuilding, 'local-disk', 'rebuild_unreachable', reason);
      return { kind: 'local-disk', script: renderLocalBootScript(), reason };
    }
    this.recordDecision(req, 'ipxe', mac, rebuilding, 'install', 'rebuilding', `the installer of image ${image.name}: ${rebuilding.hostname}'s rebuild allows PXE`);
    return { kind: 'install', script };
  }

  /**
   * Why the answer request of `host` is refused for its image's token, or null: a prepared 9.2+ image carries a token
   * the installer sends as a Bearer header, and the host must send the one of the image it was served. A host served
   * before that was recorded is held to the image it would be served now.
   */
  private imageTokenRefusal(host: Host, operationId: number, bearer: string | null): string | null {
    const recorded = servedImage(this.deps.operations, operationId);
    const name = recorded ?? this.deps.serverTypes.get(host.serverType)?.image ?? null;
    const image = this.deps.images.choose(name);
    if (!image) return recorded ? `image ${recorded}, which it was served, is gone` : 'no boot image to check its token against';
    const sha256 = image.metadata?.tokenSha256 ?? null;
    if (sha256 === null) return null; // made by hand, or older than 9.2: the installer sends no token
    if (bearer === null) return `image ${image.name} carries an answer token, but the request sent no Authorization: Bearer header`;
    if (!imageTokenMatches(sha256, bearer)) return `the Bearer token is not the one of image ${image.name}`;
    return null;
  }

  /** One decision in the audit trail (and so the boot.decision event); never fails the boot request. */
  private recordDecision(req: BootRequest, endpoint: 'ipxe' | 'answer', mac: string | null, host: Host | undefined, action: 'install' | 'local-disk' | 'answer' | 'refused', code: string, reason: string): void {
    const said = { install: 'the installer', 'local-disk': 'boot from local disk', answer: 'the answer file', refused: 'no answer file' }[action];
    try {
      this.deps.audit?.record({
        kind: 'boot.decision',
        actor: host ? `machine ${host.mac}` : `machine ${mac ?? 'unknown'}`,
        address: req.remoteAddress,
        host_id: host?.id ?? null,
        mac: host?.mac ?? mac,
        hostname: host?.hostname ?? null,
        result: action === 'refused' ? 'refused' : 'ok',
        message: `${endpoint === 'ipxe' ? 'PXE request' : 'answer request'} from ${host?.mac ?? mac ?? 'an unknown MAC'}: ${said} (${reason})`,
        details: { endpoint, action, code, reason },
      });
    } catch (err) {
      req.log.error({ err }, 'could not record the boot decision in the audit trail');
    }
  }

  private bootLocal(req: BootRequest, mac: string, host: Host | undefined, reason: string, code = 'bad_mac'): PxeScript {
    req.log.info({ mac, hostId: host?.id, reason }, 'PXE request answered with local boot');
    this.recordDecision(req, 'ipxe', tryParseMac(mac), host, 'local-disk', code, reason);
    if (host) {
      this.deps.operations.append({
        hostId: host.id,
        operationId: this.deps.operations.running(host.id)?.id ?? null,
        kind: 'boot_local',
        message: `PXE request from ${host.mac} answered with "boot from local disk": ${reason}`,
      });
    }
    return { kind: 'local-disk', script: renderLocalBootScript(), reason };
  }

  /** Returns the answer file for the installer whose NICs have `rawMacs` (as sent), or why it gets none. */
  async answer(rawMacs: readonly string[], req: BootRequest, installer: InstallerInfo = {}): Promise<AnswerReply> {
    const macs = [...new Set(rawMacs.map((m) => tryParseMac(m)).filter((m) => m !== null))];
    const candidates = macs.map((m) => this.deps.hosts.findByMac(m)).filter((h): h is Host => h !== undefined);
    const host = candidates.find((h) => decideBoot(h, this.deps.pxeAllowList.find(h.mac)).action === 'install');
    if (!host) {
      const why = candidates.length === 0 ? 'no registered host has any of these MACs' : `${candidates.map((h) => `${h.hostname} is ${h.state}`).join(', ')}; none awaits an answer file`;
      req.log.warn({ macs, why }, 'answer file refused');
      this.recordDecision(req, 'answer', macs[0] ?? null, candidates[0], 'refused', candidates.length === 0 ? 'unknown_mac' : 'not_awaiting_answer', why);
      return { kind: 'refused', status: 404, text: `provisioning: no rebuild is waiting for an answer file for ${macs.join(', ') || 'these MACs'}: ${why}\n` };
    }
    const operation = this.deps.operations.running(host.id);
    const key = operation ? this.deps.keys.find(rebuildKeyId(operation.runId)) : undefined;
    const serverType = this.deps.serverTypes.get(host.serverType);
    if (!operation || !key || !serverType) {
      const why = !operation ? 'its rebuild has no operation record' : !key ? 'its rebuild key is missing' : `server type ${host.serverType} is no longer defined`;
      req.log.error({ hostId: host.id, why }, 'cannot build an answer file');
      this.recordDecision(req, 'answer', host.mac, host, 'refused', 'cannot_build', why);
      return { kind: 'refused', status: 404, text: `provisioning: cannot build an answer file for ${host.hostname}: ${why}\n` };
    }
    const imageRefusal = this.imageTokenRefusal(host, operation.id, installer.bearerToken ?? null);
    if (imageRefusal) {
      // The installer prints the whole body on the console: it says no more than "refused"; the host's history says why.
      this.deps.operations.append({ hostId: host.id, operationId: operation.id, kind: 'answer_refused', message: `answer request for ${host.hostname} refused: ${imageRefusal}` });
      req.log.warn({ hostId: host.id, why: imageRefusal }, 'answer file refused');
      this.recordDecision(req, 'answer', host.mac, host, 'refused', 'image_token', imageRefusal);
      return { kind: 'refused', status: 403, text: 'refused\n' };
    }
    const token = this.deps.tokens.tokenFor(operation.runId);
    // Over HTTPS the installer pins our certificate for the webhook and the first-boot script (a script it installs to
    // run as root); the phone-home in that script stays on HTTP: curl and wget there cannot pin a fingerprint.
    const https = this.deps.https ?? null;
    const hostUrl = `${https?.publicUrl ?? this.deps.publicUrl}/api/hosts/${host.id}`;
    // A 9.2+ installer sends the token in the webhook's body (auth-token); older ones refuse that key, so they get
    // it in the URL. Only over HTTPS, so an answer over plain HTTP stays as it always was.
    const bodyToken = https !== null && installerSupportsAuthToken({ macs: rawMacs, isoRelease: installer.isoRelease });
    const input = answerInputFor({ hostname: host.hostname, install: this.deps.install, rootPasswordHash: this.deps.rootPasswordHash, rebuildPublicKey: key.publicKey, serverType, hostUrl, token, bodyToken, certFingerprint: https?.certFingerprint });
    const problems = validateAnswer(buildAnswer(input));
    if (problems.length > 0) {
      // Serving it would leave the machine at the installer's console; refuse and say why.
      this.deps.operations.append({ hostId: host.id, operationId: operation.id, kind: 'answer_invalid', message: `answer file for ${host.hostname} failed validation: ${problems.join('; ')}` });
      req.log.error({ hostId: host.id, problems }, 'refusing to serve an invalid answer file');
      this.recordDecision(req, 'answer', host.mac, host, 'refused', 'answer_invalid', problems.join('; '));
      return { kind: 'refused', status: 500, text: `provisioning: the answer file for ${host.hostname} is invalid: ${problems.join('; ')}\n` };
    }
    await this.deps.rebuilds.deliver(host.id, 'answerServed', { at: this.now().toISOString(), remoteAddress: req.remoteAddress });
    // Each serving counts: the join sends the cluster password only when the answer went to one installer.
    this.deps.operations.append({ hostId: host.id, operationId: operation.id, kind: 'answer_served', message: `answer file served to ${req.remoteAddress}`, details: { remoteAddress: req.remoteAddress } });
    req.log.info({ hostId: host.id, mac: host.mac, https: https !== null, webhookToken: bodyToken ? 'auth-token' : 'query' }, 'answer file served');
    this.recordDecision(req, 'answer', host.mac, host, 'answer', 'rebuilding', `${host.hostname}'s rebuild awaits its answer file`);
    return { kind: 'answer', toml: renderAnswerFile(input) };
  }

  /** Records the installer's success report: stops PXE for the host, keeps its facts, tells the rebuild. */
  async installed(hostId: number, token: string | undefined, webhook: InstallerWebhook, req: BootRequest): Promise<{ kind: 'recorded' } | TokenRefused> {
    const auth = this.authorize(hostId, token);
    if (auth.kind === 'token-refused') return auth;
    const { host } = auth;
    // The host reboots next: stop serving it the installer now, without waiting for the worker to process the event.
    if (this.deps.pxeAllowList.find(host.mac)?.workflowId === rebuildWorkflowId(host.id)) this.deps.pxeAllowList.revoke(host.mac);
    const { managementAddress, sshHostKeys, machineId, hardwareId } = installedFacts(webhook);
    this.deps.hosts.recordFacts(host.id, {
      ipAddress: managementAddress?.split('/')[0],
      machineId: machineId ?? undefined,
      hardwareId,
      sshHostKeys,
    });
    await this.deps.rebuilds.deliver(host.id, 'installed', { at: this.now().toISOString(), remoteAddress: req.remoteAddress, managementAddress, sshHostKeys, machineId });
    req.log.info({ hostId: host.id, managementAddress, hostKeys: Object.keys(sshHostKeys) }, 'installer reported success');
    return { kind: 'recorded' };
  }

  /** Returns the first-boot script of the host's running rebuild, with its phone-home URL. */
  firstBootScript(hostId: number, token: string | undefined): { kind: 'script'; script: string } | TokenRefused {
    const auth = this.authorize(hostId, token);
    if (auth.kind === 'token-refused') return auth;
    const { host, operation } = auth;
    const script = renderFirstBootScript({
      hostname: host.hostname,
      phoneHomeUrl: `${this.deps.publicUrl}/api/hosts/${host.id}/phone-home?token=${this.deps.tokens.tokenFor(operation.runId)}`,
      serverHost: new URL(this.deps.publicUrl).hostname.replace(/^\[|\]$/g, ''),
      deadlineSeconds: this.deps.firstBootDeadlineSeconds,
    });
    return { kind: 'script', script };
  }

  /** Records the first boot's phone-home and tells the rebuild; throws InvalidInputError when `ip` is not an IP. */
  async phoneHome(hostId: number, token: string | undefined, report: { ip: string; hardware_id?: string }, req: BootRequest): Promise<{ kind: 'recorded' } | TokenRefused> {
    const auth = this.authorize(hostId, token);
    if (auth.kind === 'token-refused') return auth;
    const { host } = auth;
    const ip = report.ip.trim();
    if (isIP(ip) === 0) throw new InvalidInputError('ip', `ip: expected an IP address, got ${JSON.stringify(ip)}`);
    const hardwareId = report.hardware_id?.trim() || null;
    this.deps.hosts.recordFacts(host.id, { ipAddress: ip, hardwareId: hardwareId ?? undefined });
    await this.deps.rebuilds.deliver(host.id, 'phonedHome', { at: this.now().toISOString(), remoteAddress: req.remoteAddress, ip, hardwareId });
    req.log.info({ hostId: host.id, ip }, 'first boot phoned home');
    return { kind: 'recorded' };
  }

  /**
   * The host's running operation when `token` is its boot token. Throws HostNotFoundError for an unknown host and
   * NoActiveRebuildError when it has no rebuild running; a missing or foreign token is refused. Nothing changes.
   */
  private authorize(hostId: number, token: string | undefined): { kind: 'authorized'; host: Host; operation: Operation } | TokenRefused {
    const host = this.deps.hosts.get(hostId);
    if (!token) return { kind: 'token-refused', message: 'missing boot token (the ?token= of the answer file URLs)' };
    const operation = this.deps.operations.running(host.id);
    if (!operation) throw new NoActiveRebuildError(host.id);
    if (!this.deps.tokens.verify(token, operation.runId)) return { kind: 'token-refused', message: `boot token is not the one of ${host.hostname}'s running rebuild` };
    return { kind: 'authorized', host, operation };
  }
}

/** Why a MAC was told to boot its disk, as a stable code (the metrics' reason label, the boot.decision event). */
function localBootCode(host: Host | undefined, allowance: { workflowId: string } | undefined): string {
  if (!host) return 'unknown_mac';
  if (!allowance) return 'not_rebuilding';
  if (allowance.workflowId !== rebuildWorkflowId(host.id)) return 'other_rebuild';
  return 'past_install';
}
