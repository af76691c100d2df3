// The rules a host's power settings are checked against when an operator sets them (issue 17 item 5): addresses,
// the Wake-on-LAN broadcast inside the PXE subnet, Redfish over HTTPS only, certificate fingerprints. Pure: each
// returns why a value is wrong (or the normalized value), and the gateway names the field.

/** The 32-bit value of a dotted IPv4 address, or null when `text` is not one (no leading zeros, each part ≤ 255). */
export function parseIpv4(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255)) return null;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

const dotted = (n: number) => [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');

/** The network and prefix length of an IPv4 CIDR (192.168.1.0/24), or null when it is not one. */
function parseCidr(cidr: string): { network: number; size: number } | null {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(cidr);
  const address = m ? parseIpv4(m[1]!) : null;
  if (!m || address === null || Number(m[2]) > 32) return null;
  const size = 2 ** (32 - Number(m[2]));
  return { network: address - (address % size), size };
}

/** The broadcast address of an IPv4 CIDR (192.168.1.0/24 → 192.168.1.255), or null when `cidr` is not one. */
export function subnetBroadcast(cidr: string): string | null {
  const net = parseCidr(cidr);
  return net ? dotted(net.network + net.size - 1) : null;
}

/** True when the IPv4 address `ip` lies inside the CIDR `cidr`. */
export function inSubnet(ip: string, cidr: string): boolean {
  const address = parseIpv4(ip);
  const net = parseCidr(cidr);
  return address !== null && net !== null && address >= net.network && address < net.network + net.size;
}

const dnsLabel = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** Why `text` is not an IPv4 address or DNS name (a BMC's address), or null. */
export function hostOrIpProblem(text: string): string | null {
  if (parseIpv4(text) !== null) return null;
  if (text.length <= 253 && !/^[\d.]+$/.test(text) && text.split('.').every((l) => dnsLabel.test(l))) return null;
  return `expected an IPv4 address or DNS name like 192.168.1.210, got ${JSON.stringify(text)}`;
}

/** Why `text` is not an https:// URL of a Redfish service (no credentials, query or fragment in it), or null. */
export function redfishUrlProblem(text: string): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `expected an https:// URL like https://192.168.1.210, got ${JSON.stringify(text)}`;
  }
  if (url.protocol !== 'https:') return `must be https:// (the BMC password goes over it), got ${JSON.stringify(text)}`;
  if (url.username || url.password) return 'must not carry a user or password: set power.username and power.password';
  if (url.search || url.hash) return `must not have a query or fragment, got ${JSON.stringify(text)}`;
  return null;
}

/**
 * A SHA-256 certificate fingerprint in the upper-case colon form (AB:CD:…, 32 pairs), from that form in any case or
 * 64 bare hex digits (`openssl x509 -fingerprint -sha256` prints the first); null when it is neither.
 */
export function normalizeFingerprint(text: string): string | null {
  const t = text.trim();
  if (/^([A-Fa-f0-9]{2}:){31}[A-Fa-f0-9]{2}$/.test(t)) return t.toUpperCase();
  if (/^[A-Fa-f0-9]{64}$/.test(t)) return t.toUpperCase().replace(/(..)(?!$)/g, '$1:');
  return null;
}

/** Bytes of `text` in UTF-8 (IPMI limits user names to 16 and passwords to 20 bytes). */
export function utf8Length(text: string): number {
  return new TextEncoder().encode(text).length;
}
