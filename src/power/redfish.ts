// Redfish (DMTF DSP0266) over HTTPS (proxmox-cluster.md §4): the system's PowerState, a one-time boot override to
// Pxe by PATCH, and the ComputerSystem.Reset action, each value picked from the AllowableValues the BMC lists.
// The BMC's certificate is pinned by its SHA-256 fingerprint (checked on the TLS handshake before any header, and so
// the password, is sent: src/tls/pinned-https.ts, as for the Proxmox API) or verified against a CA file; never unchecked.
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import { pinnedRequest, type PinnedFailure, type PinnedPeer } from '../tls/pinned-https';
import { PowerError, type PowerAction, type PowerDriver, type PowerOutcome, type PowerState, type PowerTarget } from './types';

type RedfishTarget = Extract<PowerTarget, { method: 'redfish' }>;

export interface RedfishOptions {
  hostLabel: string; // the host the errors name: pve-ms-12
  timeoutMs?: number; // per request: 15 000
  settleMs?: number; // how long to wait for the power state a reset leads to before reporting it: 5 000
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown> | null;
}

/** A system as GET /redfish/v1/Systems/{id} answers it, with the ETag to send back in If-Match. */
interface System {
  path: string; // /redfish/v1/Systems/1
  id: string;
  body: Record<string, unknown>;
  etag: string | null;
}

// ResetType values in the order we prefer them (Redfish ResetType enum).
const resetChoices = {
  restart: ['ForceRestart', 'PowerCycle', 'GracefulRestart'],
  on: ['On', 'ForceOn', 'PushPowerButton'],
  off: ['ForceOff', 'GracefulShutdown', 'PushPowerButton'],
} as const;

const certificateErrors = /^(CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_TLS_CERT_ALTNAME_INVALID)/;

/** A host's BMC driven through its Redfish service. */
export class RedfishDriver implements PowerDriver {
  readonly method = 'redfish' as const;
  private readonly url: URL;
  private systemPath: string | null = null;
  private ca: Buffer | undefined;

  constructor(
    private readonly target: RedfishTarget,
    private readonly o: RedfishOptions,
  ) {
    try {
      this.url = new URL(target.url);
    } catch {
      throw new PowerError('invalid_settings', `${o.hostLabel}: Redfish URL ${JSON.stringify(target.url)} is not a URL like https://192.168.1.210`);
    }
  }

  private get where(): string {
    return `${this.o.hostLabel}: Redfish at ${this.url.origin}`;
  }

  async status(): Promise<PowerState> {
    return stateOf((await this.system()).body);
  }

  async intoInstaller(): Promise<PowerOutcome> {
    const system = await this.system();
    const boot = await this.pxeOnce(system);
    return this.powerUp(system, `Redfish: one-time PXE set${boot}`);
  }

  async act(action: PowerAction): Promise<PowerOutcome> {
    const system = await this.system();
    const state = stateOf(system.body);
    switch (action) {
      case 'on':
        if (state === 'on') return { did: 'Redfish: already on, nothing sent', state };
        return this.reset(system, 'on', 'Redfish:');
      case 'off':
        if (state === 'off') return { did: 'Redfish: already off, nothing sent', state };
        return this.reset(system, 'off', 'Redfish:');
      case 'cycle':
        return this.powerUp(system, 'Redfish:');
      case 'pxe-once': {
        const boot = await this.pxeOnce(system);
        return { did: `Redfish: one-time PXE set${boot}; the next boot takes it`, state };
      }
    }
  }

  async test(): Promise<PowerOutcome> {
    const system = await this.system();
    this.pxeAllowed(system);
    const state = stateOf(system.body);
    return { did: `Redfish: system ${system.id} answers, power ${String(system.body.PowerState ?? 'not reported')}, Pxe among its boot targets`, state };
  }

  async persistentOverride(): Promise<string | null> {
    const system = await this.system();
    const boot = (system.body.Boot ?? {}) as Record<string, unknown>;
    const target = String(boot.BootSourceOverrideTarget ?? 'None');
    if (boot.BootSourceOverrideEnabled !== 'Continuous' || target === 'None') return null;
    return `Redfish: boot override Continuous to ${target} left on system ${system.id} (BootSourceOverrideEnabled)`;
  }

  /** Power cycle when on, power on when off. */
  private powerUp(system: System, prefix: string): Promise<PowerOutcome> {
    return this.reset(system, stateOf(system.body) === 'off' ? 'on' : 'restart', prefix);
  }

  /** Posts the system's Reset action with the first allowed ResetType of `kind`. */
  private async reset(system: System, kind: keyof typeof resetChoices, prefix: string): Promise<PowerOutcome> {
    const action = ((system.body.Actions ?? {}) as Record<string, Record<string, unknown> | undefined>)['#ComputerSystem.Reset'];
    if (typeof action?.target !== 'string') throw new PowerError('unsupported', `${this.where}: system ${system.id} has no ComputerSystem.Reset action`);
    const allowed = action['ResetType@Redfish.AllowableValues'];
    // Without a list, the BMC takes any ResetType of the standard (Redfish leaves the list optional)
    const type = Array.isArray(allowed) ? resetChoices[kind].find((t) => allowed.includes(t)) : resetChoices[kind][0];
    if (!type) throw new PowerError('unsupported', `${this.where}: system ${system.id} allows the resets ${(allowed as unknown[]).join(', ')}, none of ${resetChoices[kind].join(', ')}`);
    const answer = await this.request('POST', action.target, { ResetType: type });
    if (answer.status < 200 || answer.status > 299) throw this.failure('POST', action.target, answer);
    const sep = prefix.endsWith(':') ? ' ' : ', ';
    return { did: `${prefix}${sep}${type} sent`, state: await this.settle(kind === 'off' ? 'off' : 'on') };
  }

  /** Fails with unsupported unless Pxe is among the system's allowed boot targets (when it lists them). */
  private pxeAllowed(system: System): void {
    const boot = (system.body.Boot ?? {}) as Record<string, unknown>;
    const targets = boot['BootSourceOverrideTarget@Redfish.AllowableValues'];
    if (Array.isArray(targets) && !targets.includes('Pxe')) {
      throw new PowerError('unsupported', `${this.where}: system ${system.id} cannot network-boot: its allowed boot targets are ${targets.join(', ')}, without Pxe`);
    }
    const enabled = boot['BootSourceOverrideEnabled@Redfish.AllowableValues'];
    if (Array.isArray(enabled) && !enabled.includes('Once')) {
      throw new PowerError('unsupported', `${this.where}: system ${system.id} has no one-time boot override: BootSourceOverrideEnabled allows ${enabled.join(', ')}`);
    }
  }

  /** PATCHes the one-time boot override to Pxe (UEFI where the BMC lists it); returns how, for the outcome. */
  private async pxeOnce(system: System): Promise<string> {
    this.pxeAllowed(system);
    const boot = (system.body.Boot ?? {}) as Record<string, unknown>;
    const modes = boot['BootSourceOverrideMode@Redfish.AllowableValues'];
    const uefi = Array.isArray(modes) && modes.includes('UEFI');
    const patch = { Boot: { BootSourceOverrideEnabled: 'Once', BootSourceOverrideTarget: 'Pxe', ...(uefi ? { BootSourceOverrideMode: 'UEFI' } : {}) } };
    let etag = system.etag;
    let answer = await this.request('PATCH', system.path, patch, etag);
    if (answer.status === 412) {
      // The ETag changed since the read (a power change does that on some BMCs): read it again, once.
      etag = (await this.system()).etag;
      if (etag !== null) answer = await this.request('PATCH', system.path, patch, etag);
    }
    if (answer.status === 412) {
      const sent = etag === null ? 'without If-Match (the BMC gave no ETag for the system)' : `with If-Match ${etag}`;
      throw new PowerError('refused', `${this.where}: PATCH ${system.path} ${sent} answered 412 Precondition Failed: ${redfishMessage(answer)}`);
    }
    if (answer.status < 200 || answer.status > 299) throw this.failure('PATCH', system.path, answer);
    return uefi ? ' (UEFI)' : '';
  }

  /** Polls the power state until it is `expected` or settleMs passed; returns the last one read. */
  private async settle(expected: PowerState): Promise<PowerState> {
    const until = Date.now() + (this.o.settleMs ?? 5_000);
    for (;;) {
      const state = await this.status();
      if (state === expected || Date.now() >= until) return state;
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** GET of the host's system: the configured id, else the only member of /redfish/v1/Systems. */
  private async system(): Promise<System> {
    const path = await this.resolveSystem();
    const answer = await this.request('GET', path);
    if (answer.status !== 200 || answer.body === null) throw this.failure('GET', path, answer);
    const header = answer.headers.etag;
    const etag = typeof header === 'string' ? header : typeof answer.body['@odata.etag'] === 'string' ? answer.body['@odata.etag'] : null;
    return { path, id: lastSegment(path), body: answer.body, etag };
  }

  private async resolveSystem(): Promise<string> {
    if (this.systemPath) return this.systemPath;
    if (this.target.systemId) {
      this.systemPath = `/redfish/v1/Systems/${encodeURIComponent(this.target.systemId)}`;
      return this.systemPath;
    }
    const answer = await this.request('GET', '/redfish/v1/Systems');
    if (answer.status !== 200 || answer.body === null) throw this.failure('GET', '/redfish/v1/Systems', answer);
    const members = (Array.isArray(answer.body.Members) ? answer.body.Members : []) as Array<Record<string, unknown>>;
    const paths = members.map((m) => m['@odata.id']).filter((p): p is string => typeof p === 'string');
    if (paths.length === 0) throw new PowerError('invalid_settings', `${this.where}: /redfish/v1/Systems lists no system`);
    if (paths.length > 1) {
      throw new PowerError('invalid_settings', `${this.where}: /redfish/v1/Systems lists ${paths.length} systems (${paths.map(lastSegment).join(', ')}): set the system id of this host`);
    }
    this.systemPath = paths[0]!;
    return this.systemPath;
  }

  private failure(method: string, path: string, answer: Answer): PowerError {
    const what = `${method} ${path} answered ${answer.status}: ${redfishMessage(answer)}`;
    if (answer.status === 401) return new PowerError('auth_failed', `${this.where}: user ${this.target.username} not accepted (wrong user or password): ${what}`);
    if (answer.status === 403) return new PowerError('auth_failed', `${this.where}: user ${this.target.username} may not do this (the BMC role needs ConfigureComponents): ${what}`);
    if (answer.status === 404 && method === 'GET') return new PowerError('invalid_settings', `${this.where}: no such resource, check the system id (GET /redfish/v1/Systems lists them): ${what}`);
    if (answer.status === 502 || answer.status === 503 || answer.status === 504) return new PowerError('unreachable', `${this.where}: ${what}`);
    return new PowerError('refused', `${this.where}: ${what}`);
  }

  /** One request over a fresh TLS connection whose certificate was checked (pin or CA) before anything was sent. */
  private async request(method: 'GET' | 'PATCH' | 'POST', path: string, json?: unknown, ifMatch?: string | null): Promise<Answer> {
    const timeout = this.o.timeoutMs ?? 15_000;
    const peer = this.peer(timeout);
    const payload = json === undefined ? undefined : JSON.stringify(json);
    const headers: Record<string, string> = {
      accept: 'application/json',
      'odata-version': '4.0',
      authorization: `Basic ${Buffer.from(`${this.target.username}:${this.target.password}`).toString('base64')}`,
      ...(ifMatch ? { 'if-match': ifMatch } : {}),
      ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) }),
    };
    const fail = (f: PinnedFailure): PowerError => {
      switch (f.kind) {
        case 'fingerprint_mismatch':
          return new PowerError('invalid_settings', `${this.where}: the BMC presents certificate ${f.got}, not the configured ${f.expected} (nothing was sent)`);
        case 'handshake_timeout':
          return new PowerError('unreachable', `${this.where}: no TLS handshake within ${timeout / 1000} s`);
        case 'connect_error':
          if (f.error.code && certificateErrors.test(f.error.code)) return new PowerError('invalid_settings', `${this.where}: the BMC's certificate is not trusted by the CA file ${this.target.caFile}: ${f.error.message}`);
          return new PowerError('unreachable', `${this.where}: ${f.error.message}`);
        case 'foreign_socket':
          return new PowerError('unreachable', `${this.where}: ${method} ${path}: the request did not use the checked TLS connection`);
        case 'request_timeout':
          return new PowerError('unreachable', `${this.where}: no answer to ${method} ${path} within ${timeout / 1000} s`);
        case 'request_error':
          return new PowerError('unreachable', `${this.where}: ${method} ${path}: ${f.error.message}`);
      }
    };
    const answer = await pinnedRequest(peer, { method, path, headers, body: payload }, fail);
    let body: Record<string, unknown> | null = null;
    try {
      const parsed: unknown = JSON.parse(answer.body);
      if (parsed !== null && typeof parsed === 'object') body = parsed as Record<string, unknown>;
    } catch {
      // an empty 204, or not JSON: the status says it
    }
    return { status: answer.status, headers: answer.headers, body };
  }

  /** Where the BMC is and how its certificate is checked: with a CA file, the chain and the name; with a fingerprint (BMCs are mostly self-signed), the pin. */
  private peer(timeoutMs: number): PinnedPeer {
    const { fingerprint, caFile } = this.target;
    if (caFile && this.ca === undefined) {
      try {
        this.ca = readFileSync(caFile);
      } catch (err) {
        throw new PowerError('invalid_settings', `${this.where}: cannot read the CA file ${caFile}: ${(err as Error).message}`);
      }
    }
    const place = { host: this.url.hostname, port: Number(this.url.port || 443), servername: isIP(this.url.hostname.replace(/^\[|\]$/g, '')) === 0 ? this.url.hostname : undefined, timeoutMs };
    if (fingerprint) return { ...place, fingerprint, ca: this.ca };
    if (this.ca) return { ...place, ca: this.ca };
    throw new PowerError('invalid_settings', `${this.where}: set the BMC certificate's SHA-256 fingerprint or a CA file; the password is not sent to a BMC that cannot be authenticated`);
  }
}

/** PowerState as on/off: PoweringOn counts as on (it is booting), PoweringOff as off. */
function stateOf(system: Record<string, unknown>): PowerState {
  const state = system.PowerState;
  if (state === 'On' || state === 'PoweringOn') return 'on';
  if (state === 'Off' || state === 'PoweringOff') return 'off';
  return 'unknown';
}

function lastSegment(path: string): string {
  return decodeURIComponent(path.replace(/\/+$/, '').split('/').pop() ?? path);
}

/** The reason a Redfish service gave: the first extended message, else error.message, else the status. */
function redfishMessage(answer: Answer): string {
  const error = (answer.body?.error ?? {}) as Record<string, unknown>;
  const info = error['@Message.ExtendedInfo'];
  const first = Array.isArray(info) ? (info[0] as Record<string, unknown> | undefined) : undefined;
  const message = typeof first?.Message === 'string' ? first.Message : typeof error.message === 'string' ? error.message : null;
  return message ?? `HTTP ${answer.status}`;
}
