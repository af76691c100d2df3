// A small Redfish BMC of our own (DSP0266 / the ComputerSystem schema) on real HTTPS at 127.0.0.1, with its own
// self-signed certificate, for what sushy-emulator does not model: BootSourceOverrideEnabled Once consumed by the
// next boot (and Continuous kept), ETags with If-Match (412 without the current one), a system without Pxe among its
// allowed boot targets, allowed ResetTypes, and Basic auth on everything but the service root.
//
// Models: /redfish/v1, /redfish/v1/Systems, GET/PATCH /redfish/v1/Systems/{id} (Boot only), POST
// …/Actions/ComputerSystem.Reset. A "boot" happens on On from Off and on any restart of a system that is on; it
// boots the override target while the override is enabled, else Hdd, and a Once override is then Disabled with
// target None (as BMCs do). Power changes are immediate. Does not model: sessions (X-Auth-Token), roles and
// privileges, @Redfish.Settings (settings applied on reset), task monitors, event subscriptions, chassis, managers.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { certificateFingerprint } from '../../src/tls/certificate';
import { createSelfSignedCertificate } from '../../src/tls/self-signed-certificate';

export interface StandInSystemOptions {
  id: string; // '1', 'System.Embedded.1'
  power?: 'On' | 'Off'; // On
  allowedTargets?: string[]; // None, Pxe, Hdd, Cd, UefiHttp, BiosSetup
  allowedModes?: string[] | null; // Legacy, UEFI; null: the BMC lists no modes and refuses BootSourceOverrideMode
  allowedResets?: string[]; // On, ForceOff, GracefulShutdown, GracefulRestart, ForceRestart, PowerCycle
  override?: { enabled: 'Disabled' | 'Once' | 'Continuous'; target: string }; // Disabled, None
  // header: an ETag on GET, If-Match required on PATCH; hidden: If-Match required, but no ETag given (always 412);
  // none: no ETag, no If-Match needed
  etag?: 'header' | 'hidden' | 'none';
  staleEtagOnce?: boolean; // the ETag changes once right after the first read (as when a BMC folds a sensor reading into it): false
}

export interface StandInSystem {
  id: string;
  power: 'On' | 'Off';
  allowedTargets: string[];
  allowedModes: string[] | null;
  allowedResets: string[];
  override: { enabled: 'Disabled' | 'Once' | 'Continuous'; target: string; mode: string };
  etag: 'header' | 'hidden' | 'none';
  staleEtagOnce: boolean;
  version: number; // the ETag is W/"<version>"
  boots: string[]; // the device of each boot, in order: Pxe, Hdd
}

export interface RedfishRequest {
  method: string;
  path: string;
  ifMatch: string | null;
  body: unknown;
  status: number;
}

export interface RedfishStandIn {
  url: string; // https://127.0.0.1:<port>
  port: number;
  fingerprint: string; // AB:CD:…
  certificate: string; // its PEM, to use as a CA file
  username: string;
  password: string;
  systems: Map<string, StandInSystem>;
  requests: RedfishRequest[];
  close(): Promise<void>;
}

export interface RedfishStandInOptions {
  systems?: StandInSystemOptions[]; // one system "1", on, Pxe allowed, ETags in headers
  username?: string; // admin
  password?: string; // "redfish-password"
  onBoot?: (system: StandInSystem, device: string) => void; // called at each boot with the device it boots (a simulated machine starts there)
}

const redfishError = (messageId: string, message: string) => ({
  error: { code: `Base.1.8.${messageId}`, message, '@Message.ExtendedInfo': [{ '@odata.type': '#Message.v1_1_1.Message', MessageId: `Base.1.8.${messageId}`, Message: message }] },
});

class Failure extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(String(status));
  }
}

/** Starts the stand-in BMC on HTTPS and returns where it listens and the systems it serves. */
export async function startRedfishStandIn(options: RedfishStandInOptions = {}): Promise<RedfishStandIn> {
  const username = options.username ?? 'admin';
  const password = options.password ?? 'redfish-password';
  const systems = new Map<string, StandInSystem>();
  for (const s of options.systems ?? [{ id: '1' }]) {
    systems.set(s.id, {
      id: s.id,
      power: s.power ?? 'On',
      allowedTargets: s.allowedTargets ?? ['None', 'Pxe', 'Hdd', 'Cd', 'UefiHttp', 'BiosSetup'],
      allowedModes: s.allowedModes === undefined ? ['Legacy', 'UEFI'] : s.allowedModes,
      allowedResets: s.allowedResets ?? ['On', 'ForceOff', 'GracefulShutdown', 'GracefulRestart', 'ForceRestart', 'PowerCycle'],
      override: { enabled: s.override?.enabled ?? 'Disabled', target: s.override?.target ?? 'None', mode: 'UEFI' },
      etag: s.etag ?? 'header',
      staleEtagOnce: s.staleEtagOnce ?? false,
      version: 1,
      boots: [],
    });
  }
  const requests: RedfishRequest[] = [];
  const { key, cert } = await createSelfSignedCertificate({ host: '127.0.0.1', validDays: 2 });

  const etagOf = (s: StandInSystem) => `W/"${s.version}"`;
  const systemPath = (s: StandInSystem) => `/redfish/v1/Systems/${encodeURIComponent(s.id)}`;
  const boot = (s: StandInSystem) => {
    const device = s.override.enabled !== 'Disabled' && s.override.target !== 'None' ? s.override.target : 'Hdd';
    s.boots.push(device);
    // A one-time override is used up by the boot that takes it
    if (s.override.enabled === 'Once') s.override = { ...s.override, enabled: 'Disabled', target: 'None' };
    options.onBoot?.(s, device);
  };
  const systemBody = (s: StandInSystem) => ({
    '@odata.id': systemPath(s),
    '@odata.type': '#ComputerSystem.v1_20_0.ComputerSystem',
    Id: s.id,
    Name: 'Stand-in system',
    PowerState: s.power,
    Boot: {
      BootSourceOverrideEnabled: s.override.enabled,
      'BootSourceOverrideEnabled@Redfish.AllowableValues': ['Disabled', 'Once', 'Continuous'],
      BootSourceOverrideTarget: s.override.target,
      'BootSourceOverrideTarget@Redfish.AllowableValues': s.allowedTargets,
      ...(s.allowedModes === null ? {} : { BootSourceOverrideMode: s.override.mode, 'BootSourceOverrideMode@Redfish.AllowableValues': s.allowedModes }),
    },
    Actions: { '#ComputerSystem.Reset': { target: `${systemPath(s)}/Actions/ComputerSystem.Reset`, 'ResetType@Redfish.AllowableValues': s.allowedResets } },
  });

  const patchSystem = (s: StandInSystem, ifMatch: string | null, body: unknown) => {
    if (s.etag !== 'none' && ifMatch !== etagOf(s)) {
      throw new Failure(412, redfishError('PreconditionFailed', ifMatch === null ? 'The request requires an If-Match header with the ETag of the resource.' : `The ETag ${ifMatch} does not match the current ETag of the resource.`));
    }
    const b = (body as { Boot?: Record<string, unknown> } | null)?.Boot;
    if (!b) throw new Failure(400, redfishError('PropertyMissing', 'The property Boot is a required property and must be included in the request.'));
    const check = (name: string, value: unknown, allowed: readonly string[] | null) => {
      if (value === undefined) return;
      if (allowed === null) throw new Failure(400, redfishError('PropertyNotWritable', `The property ${name} is a read only property and cannot be assigned a value.`));
      if (typeof value !== 'string' || !allowed.includes(value)) throw new Failure(400, redfishError('PropertyValueNotInList', `The value ${JSON.stringify(value)} for the property ${name} is not in the list of acceptable values.`));
    };
    check('BootSourceOverrideEnabled', b.BootSourceOverrideEnabled, ['Disabled', 'Once', 'Continuous']);
    check('BootSourceOverrideTarget', b.BootSourceOverrideTarget, s.allowedTargets);
    check('BootSourceOverrideMode', b.BootSourceOverrideMode, s.allowedModes);
    s.override = {
      enabled: (b.BootSourceOverrideEnabled as StandInSystem['override']['enabled'] | undefined) ?? s.override.enabled,
      target: (b.BootSourceOverrideTarget as string | undefined) ?? s.override.target,
      mode: (b.BootSourceOverrideMode as string | undefined) ?? s.override.mode,
    };
    s.version++;
  };

  const resetSystem = (s: StandInSystem, body: unknown) => {
    const type = (body as { ResetType?: unknown } | null)?.ResetType;
    if (typeof type !== 'string' || !s.allowedResets.includes(type)) {
      throw new Failure(400, redfishError('ActionParameterNotSupported', `The parameter ResetType for the action ComputerSystem.Reset is not supported on the target resource: ${JSON.stringify(type)}.`));
    }
    if (type === 'On' || type === 'ForceOn') {
      if (s.power === 'Off') {
        s.power = 'On';
        boot(s);
      }
    } else if (type === 'ForceOff' || type === 'GracefulShutdown') {
      s.power = 'Off';
    } else {
      if (s.power === 'Off') throw new Failure(409, redfishError('ResourceInStandby', 'The request could not be performed because the resource is in standby (powered off).'));
      boot(s);
    }
    s.version++;
  };

  const handle = (req: IncomingMessage, raw: string): { status: number; body?: unknown; headers?: Record<string, string> } => {
    const path = (req.url ?? '/').split('?')[0]!.replace(/\/+$/, '') || '/';
    if (path === '/redfish/v1' && req.method === 'GET') {
      return { status: 200, body: { '@odata.id': '/redfish/v1', Id: 'RootService', RedfishVersion: '1.15.0', Systems: { '@odata.id': '/redfish/v1/Systems' } } };
    }
    const auth = req.headers.authorization ?? '';
    const [user, ...rest] = Buffer.from(auth.replace(/^Basic /, ''), 'base64').toString().split(':');
    if (!auth.startsWith('Basic ') || user !== username || rest.join(':') !== password) {
      return { status: 401, body: redfishError('InsufficientPrivilege', 'There are insufficient privileges for the account or credentials associated with the current session to perform the requested operation.'), headers: { 'www-authenticate': 'Basic realm="Redfish"' } };
    }
    let body: unknown = null;
    if (raw) {
      try {
        body = JSON.parse(raw);
      } catch {
        return { status: 400, body: redfishError('MalformedJSON', 'The request body submitted was malformed JSON and could not be parsed by the receiving service.') };
      }
    }
    if (path === '/redfish/v1/Systems' && req.method === 'GET') {
      const members = [...systems.values()].map((s) => ({ '@odata.id': systemPath(s) }));
      return { status: 200, body: { '@odata.id': '/redfish/v1/Systems', Name: 'Computer System Collection', 'Members@odata.count': members.length, Members: members } };
    }
    const m = /^\/redfish\/v1\/Systems\/([^/]+)(\/Actions\/ComputerSystem\.Reset)?$/.exec(path);
    const system = m ? systems.get(decodeURIComponent(m[1]!)) : undefined;
    if (!m || !system) return { status: 404, body: redfishError('ResourceMissingAtURI', `The resource at the URI ${path} was not found.`) };
    const ifMatch = typeof req.headers['if-match'] === 'string' ? req.headers['if-match'] : null;
    if (m[2] && req.method === 'POST') {
      resetSystem(system, body);
      return { status: 204 };
    }
    if (!m[2] && req.method === 'GET') {
      const answer = { status: 200, body: systemBody(system) as unknown, headers: system.etag === 'header' ? { etag: etagOf(system) } : ({} as Record<string, string>) };
      if (system.staleEtagOnce) {
        system.staleEtagOnce = false;
        system.version++;
      }
      return answer;
    }
    if (!m[2] && req.method === 'PATCH') {
      patchSystem(system, ifMatch, body);
      return { status: 204 };
    }
    return { status: 405, body: redfishError('OperationNotAllowed', `The operation ${req.method} is not allowed on ${path}.`) };
  };

  const server: Server = createServer({ key, cert }, (req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      let answer: { status: number; body?: unknown; headers?: Record<string, string> };
      try {
        answer = handle(req, raw);
      } catch (err) {
        if (!(err instanceof Failure)) throw err;
        answer = { status: err.status, body: err.body };
      }
      let parsed: unknown = null;
      try {
        parsed = raw ? JSON.parse(raw) : null;
      } catch {
        parsed = raw;
      }
      const ifMatch = typeof req.headers['if-match'] === 'string' ? req.headers['if-match'] : null;
      requests.push({ method: req.method ?? '', path: req.url ?? '', ifMatch, body: parsed, status: answer.status });
      const text = answer.body === undefined ? '' : JSON.stringify(answer.body);
      res.writeHead(answer.status, { ...(text ? { 'content-type': 'application/json' } : {}), 'odata-version': '4.0', ...answer.headers });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    fingerprint: certificateFingerprint(cert),
    certificate: cert,
    username,
    password,
    systems,
    requests,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
