// A host's power settings from the API body (POST /api/hosts, PATCH /api/hosts/{id}), checked where they can be at
// configuration time (issue 17 item 5); every error names its field (power.address, power.broadcast, …).
import { InvalidInputError } from '../domain/errors';
import { hostnameProblem } from '../domain/hostname';
import { hostOrIpProblem, inSubnet, normalizeFingerprint, parseIpv4, redfishUrlProblem, subnetBroadcast, utf8Length } from '../domain/power-settings';
import type { PowerMethod } from '../power/types';
import type { PowerUpdate } from '../store/power-store';
import type { PowerBody } from './schemas/power';

/** What the settings are checked against: the service's configuration. */
export interface PowerInputContext {
  pxeSubnet: string; // pxe.subnet, '' when unset
  /** Config keys the proxmox method's reboot through the cluster API needs that are not set (empty: it can). */
  proxmoxMissing: readonly string[];
}

// The body's fields each method takes (besides `method`).
const fieldsOf: Record<PowerMethod, readonly (keyof PowerBody)[]> = {
  manual: [],
  wol: ['broadcast', 'port'],
  ipmi: ['address', 'port', 'username', 'password'],
  redfish: ['url', 'username', 'password', 'system_id', 'fingerprint', 'ca_file'],
  proxmox: ['node'],
};

const fail = (field: string, problem: string): never => {
  throw new InvalidInputError(`power.${field}`, `power.${field}: ${problem}`);
};

function required(body: PowerBody, field: 'address' | 'url' | 'username'): string {
  const value = body[field]?.trim();
  if (!value) fail(field, `required for method ${body.method}`);
  return value!;
}

function password(body: PowerBody, maxBytes: number, why = ''): string | undefined {
  if (body.password === undefined) return undefined;
  if (body.password === '') fail('password', 'must not be empty (leave it out to keep the stored one)');
  if (/[\0\n\r]/.test(body.password)) fail('password', 'must not contain NUL or line breaks');
  if (utf8Length(body.password) > maxBytes) fail('password', `at most ${maxBytes} bytes${why ? ` ${why}` : ''}`);
  return body.password;
}

/** Parses and checks `body` into the store's update; throws InvalidInputError naming the field. */
export function parsePowerInput(body: PowerBody, context: PowerInputContext): PowerUpdate {
  const allowed = fieldsOf[body.method];
  for (const key of Object.keys(body) as (keyof PowerBody)[]) {
    if (key !== 'method' && body[key] !== undefined && !allowed.includes(key)) {
      fail(key, `not a setting of method ${body.method} (${allowed.length ? `its settings: ${allowed.join(', ')}` : 'it has none'})`);
    }
  }
  switch (body.method) {
    case 'manual':
      return { method: 'manual' };
    case 'wol': {
      const broadcast = body.broadcast?.trim() || null;
      if (broadcast !== null) {
        if (parseIpv4(broadcast) === null) fail('broadcast', `expected an IPv4 broadcast address like 192.168.1.255, got ${JSON.stringify(broadcast)}`);
        if (context.pxeSubnet && !inSubnet(broadcast, context.pxeSubnet)) {
          fail('broadcast', `${broadcast} is outside pxe.subnet ${context.pxeSubnet}: the magic packet must reach the host's LAN (its broadcast address is ${subnetBroadcast(context.pxeSubnet)})`);
        }
      } else if (!subnetBroadcast(context.pxeSubnet)) {
        fail('broadcast', "required while pxe.subnet is not set: the broadcast address of the host's LAN, e.g. 192.168.1.255");
      }
      return { method: 'wol', broadcast, port: body.port ?? 9 };
    }
    case 'ipmi': {
      const address = required(body, 'address');
      const addressProblem = hostOrIpProblem(address);
      if (addressProblem) fail('address', addressProblem);
      const username = required(body, 'username');
      if (utf8Length(username) > 16) fail('username', 'at most 16 bytes (an IPMI user name)');
      const pw = password(body, 20, '(an IPMI 2.0 password; ipmitool refuses longer ones)');
      return { method: 'ipmi', address, port: body.port ?? 623, username, ...(pw !== undefined ? { password: pw } : {}) };
    }
    case 'redfish': {
      const url = required(body, 'url');
      const urlProblem = redfishUrlProblem(url);
      if (urlProblem) fail('url', urlProblem);
      const username = required(body, 'username');
      const pw = password(body, 256);
      const systemId = body.system_id?.trim() || null;
      if (systemId !== null && !/^[^/\s?#%]+$/.test(systemId)) fail('system_id', `expected the id of a ComputerSystem like 1 or System.Embedded.1 (no "/"), got ${JSON.stringify(systemId)}`);
      const fingerprintText = body.fingerprint?.trim() || null;
      const fingerprint = fingerprintText === null ? null : normalizeFingerprint(fingerprintText);
      if (fingerprintText !== null && fingerprint === null) {
        fail('fingerprint', `expected a SHA-256 certificate fingerprint like AB:CD:… (32 hex pairs, from \`openssl x509 -noout -fingerprint -sha256\` on the BMC certificate), got ${JSON.stringify(fingerprintText)}`);
      }
      const caFile = body.ca_file?.trim() || null;
      if (caFile !== null && !caFile.startsWith('/')) fail('ca_file', `expected an absolute path of a PEM file, got ${JSON.stringify(caFile)}`);
      if (fingerprint !== null && caFile !== null) fail('ca_file', 'set power.fingerprint or power.ca_file, not both');
      return { method: 'redfish', url, username, ...(pw !== undefined ? { password: pw } : {}), systemId, fingerprint, caFile };
    }
    case 'proxmox': {
      if (context.proxmoxMissing.length > 0) {
        fail('method', `proxmox reboots the host through the cluster API, which needs ${context.proxmoxMissing.join(', ')} (not set here)`);
      }
      const node = body.node?.trim() || null;
      const nodeProblem = node === null ? null : hostnameProblem(node);
      if (nodeProblem) fail('node', `${nodeProblem}, got ${JSON.stringify(node)}`);
      return { method: 'proxmox', node };
    }
  }
}
