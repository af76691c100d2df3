// Value checks shared by the config readers. Each returns a problem text, or null when the value is fine.
import { isIP } from 'node:net';
import { isDuration } from '../domain/duration';
import { isInstallerEmail, isTimezone } from '../domain/installer-rules';

export function checkDuration(text: string): string | null {
  return isDuration(text) ? null : `expected a duration like 90s, 20m or 1h, got ${JSON.stringify(text)}`;
}

export function checkHttpUrl(text: string): string | null {
  try {
    const url = new URL(text);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme');
    if (url.search || url.hash) return `expected a base URL without query or fragment, got ${JSON.stringify(text)}`;
    return null;
  } catch {
    return `expected an http:// or https:// URL like http://192.168.1.100:8080, got ${JSON.stringify(text)}`;
  }
}

/** Accepts `host:port`, `:port` or `[v6]:port`. */
export function parseListen(text: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]*)):(\d{1,5})$/.exec(text);
  if (!m) return null;
  const port = Number(m[3]);
  if (port < 0 || port > 65535) return null;
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export function checkListen(text: string): string | null {
  return parseListen(text) === null ? `expected host:port like 0.0.0.0:8080, got ${JSON.stringify(text)}` : null;
}

export function checkIpv4Cidr(text: string): string | null {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(text);
  if (!m || isIP(m[1]!) !== 4 || Number(m[2]) > 32) {
    return `expected a CIDR like 192.168.1.0/24, got ${JSON.stringify(text)}`;
  }
  return null;
}

const hostLabel = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

export function checkHostOrIp(text: string): string | null {
  if (isIP(text) !== 0) return null;
  if (text.length <= 253 && text.split('.').every((l) => hostLabel.test(l))) return null;
  return `expected an IP address or DNS name like 192.168.1.10, got ${JSON.stringify(text)}`;
}

export function checkHostPort(text: string): string | null {
  const m = /^(.+):(\d{1,5})$/.exec(text);
  if (!m || Number(m[2]) > 65535 || checkHostOrIp(m[1]!.replace(/^\[|\]$/g, '')) !== null) {
    return `expected host:port like 127.0.0.1:7233, got ${JSON.stringify(text)}`;
  }
  return null;
}

export function checkInterfaceName(text: string): string | null {
  return /^[A-Za-z0-9_.-]{1,15}$/.test(text)
    ? null
    : `expected a network interface name like eth0 or enp2s0, got ${JSON.stringify(text)}`;
}

// pvecm add --fingerprint: ([A-Fa-f0-9]{2}:){31}[A-Fa-f0-9]{2} (proxmox.md §6.1)
export function checkFingerprint(text: string): string | null {
  return /^([A-Fa-f0-9]{2}:){31}[A-Fa-f0-9]{2}$/.test(text)
    ? null
    : `expected a SHA-256 certificate fingerprint like AB:CD:…(32 hex pairs) from \`pvenode cert info\` on the existing node, got ${JSON.stringify(text)}`;
}

// crypt(3) hashes: $6$ from `mkpasswd -m sha-512` / `openssl passwd -6`, $5$, $y$ (yescrypt), $2b$ (bcrypt)
export function checkPasswordHash(text: string): string | null {
  return /^\$(6|5|y|2[aby]|gy|7)\$\S+$/.test(text)
    ? null
    : `expected a crypt(3) hash like $6$… from \`mkpasswd -m sha-512\`, got a value that is not one`;
}

/** A DNS domain of at least one label, each 1-63 of [A-Za-z0-9-], not starting or ending with "-". */
export function checkDomain(text: string): string | null {
  const ok = text.length <= 200 && text.split('.').every((l) => hostLabel.test(l)) && !/^\d+$/.test(text.split('.').at(-1)!);
  return ok ? null : `expected a DNS domain like home.arpa or lab.example.com, got ${JSON.stringify(text)}`;
}

// The HTML e-mail regex the installer checks mailto against (proxmox.md §1.1).
export function checkEmail(text: string): string | null {
  return isInstallerEmail(text) ? null : `expected an e-mail address like ops@lab.example (not mail@example.invalid), got ${JSON.stringify(text)}`;
}

export function checkTimezone(text: string): string | null {
  return isTimezone(text) ? null : `expected UTC or a time zone like Europe/Vienna, got ${JSON.stringify(text)}`;
}
