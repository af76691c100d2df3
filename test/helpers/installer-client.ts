// An HTTPS client that behaves like the Proxmox installer's (proxmox-fetch-answer, proxmox-post-hook; proxmox-cluster.md
// §3, proxmox.md §2.2): with a fingerprint it trusts only a leaf certificate whose SHA-256 over the DER bytes equals it
// (hex, colons optional, either case), ignoring hostname and chain, and ends the handshake before sending anything
// otherwise. Written apart from src/tls so the test does not check our code with our code.
import { createHash } from 'node:crypto';
import { request } from 'node:https';
import { connect, type TLSSocket } from 'node:tls';

export interface InstallerResponse {
  status: number;
  contentType: string;
  body: string;
  peerFingerprint: string; // AB:CD:… of the certificate the server presented
}

/** Thrown when the server's certificate is not the pinned one (the installer's "certificate fingerprint mismatch"). */
export class FingerprintMismatchError extends Error {}

const hex = (fp: string) => fp.replace(/:/g, '').toLowerCase();

/** One request, no retry, 60 s timeout, as the installer does. */
export async function installerRequest(
  url: string,
  o: { fingerprint: string; method?: 'GET' | 'POST'; body?: unknown; headers?: Record<string, string> },
): Promise<InstallerResponse> {
  const u = new URL(url);
  const socket = await new Promise<TLSSocket>((resolve, reject) => {
    // No CA check (rejectUnauthorized: false): the pin replaces it, as in the installer's rustls verifier.
    const s = connect({ host: u.hostname, port: Number(u.port), rejectUnauthorized: false, timeout: 60_000 }, () => {
      const raw = s.getPeerCertificate().raw;
      const got = createHash('sha256').update(raw).digest('hex');
      if (got !== hex(o.fingerprint)) {
        s.destroy();
        reject(new FingerprintMismatchError(`certificate fingerprint mismatch: expected ${o.fingerprint}, got ${got}`));
      } else {
        resolve(s);
      }
    });
    s.once('error', reject);
  });
  const peerFingerprint = createHash('sha256').update(socket.getPeerCertificate().raw).digest('hex').toUpperCase().match(/../g)!.join(':');
  const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        method: o.method ?? 'POST',
        host: u.hostname,
        port: u.port,
        path: `${u.pathname}${u.search}`,
        headers: { ...(payload === undefined ? {} : { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(payload) }), ...o.headers },
        createConnection: () => socket,
        timeout: 60_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          socket.destroy();
          resolve({ status: res.statusCode!, contentType: String(res.headers['content-type'] ?? ''), body, peerFingerprint });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** The answer fetch of a 9.2 installer: one POST with its headers and the image's Bearer token. */
export function fetchAnswer(url: string, systemInfo: unknown, o: { fingerprint: string; imageToken: string }): Promise<InstallerResponse> {
  return installerRequest(url, {
    fingerprint: o.fingerprint,
    body: systemInfo,
    headers: { 'content-type': 'application/json; charset=utf-8', accept: 'application/json, application/toml;q=0.5', authorization: `Bearer ${o.imageToken}` },
  });
}
