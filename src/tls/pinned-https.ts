// One HTTPS request over a TLS connection whose peer was checked before anything is sent: its certificate's SHA-256
// fingerprint against a pin (Proxmox members and BMCs are mostly self-signed: the pin replaces the CA), or its chain
// and name against a CA file, or both. The request (its headers, and so any token or password) goes out only after the
// check, and only over that socket. The caller names every failure in its own error type (ProxmoxApiError, PowerError).
// node:https rather than fetch: Node's fetch takes no TLS options without the undici package's Agent.
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import { connect, type TLSSocket } from 'node:tls';
import { normalizeFingerprint } from './certificate';

/** How the peer is checked: never neither (a pin of '' matches no certificate). */
export type PeerCheck =
  | { fingerprint: string; ca?: Buffer } // AB:CD:… (colons optional, any case); with ca, the chain is verified too
  | { fingerprint?: null; ca: Buffer }; // PEM CA certificates: the chain and the name are verified

/** Where to connect, how the peer is checked, and the time limit. */
export type PinnedPeer = PeerCheck & {
  host: string; // 192.168.1.10, bmc.lab.example; an IPv6 address may keep its URL brackets
  port: number; // 8006, 443
  servername?: string; // SNI and the name verified against the CA (a DNS name, not an IP address)
  timeoutMs: number; // for the TLS handshake, then for each wait for the answer (the socket's idle timeout)
};

/** The request to send over the checked connection. */
export interface PinnedRequest {
  method: string;
  path: string; // /api2/json/cluster/status
  headers: Record<string, string>;
  body?: string;
}

/** The answer, with the body as text. */
export interface PinnedAnswer {
  status: number;
  statusMessage: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** Why a request failed before an answer, for the caller to turn into its own error. */
export type PinnedFailure =
  | { kind: 'fingerprint_mismatch'; got: string; expected: string } // both AB:CD:…; nothing was sent
  | { kind: 'handshake_timeout' } // no TLS handshake within timeoutMs
  | { kind: 'connect_error'; error: NodeJS.ErrnoException } // TCP or TLS failed, a CA check among them (code CERT_…, UNABLE_TO_…)
  | { kind: 'foreign_socket' } // the request did not use the checked socket (guarded: rejectUnauthorized is off there)
  | { kind: 'request_timeout' } // no answer, or no more of it, within timeoutMs
  | { kind: 'request_error'; error: Error }; // the request or its answer failed after the check (a body cut off: ECONNRESET)

/** Returns a failure as the caller's error. */
export type FailureOf = (failure: PinnedFailure) => Error;

/**
 * Sends one request over a fresh TLS connection to `peer` once its certificate passed the check, and returns the
 * answer; rejects with `fail`'s error.
 */
export async function pinnedRequest(peer: PinnedPeer, req: PinnedRequest, fail: FailureOf): Promise<PinnedAnswer> {
  const own = new WeakSet<Error>();
  const failure = (f: PinnedFailure): Error => {
    const err = fail(f);
    own.add(err);
    return err;
  };
  const socket = await checkedSocket(peer, failure, own);
  // The request's timeout option only listens: a socket from createConnection has no timeout unless it is set here.
  socket.setTimeout(peer.timeoutMs);
  return new Promise((resolve, reject) => {
    let timedOut: Error | null = null;
    const r = request(
      {
        method: req.method,
        host: peer.host,
        port: peer.port,
        path: req.path,
        headers: req.headers,
        createConnection: () => socket, // the socket whose certificate was checked
        rejectUnauthorized: false,
        timeout: peer.timeoutMs,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          socket.destroy();
          resolve({ status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', headers: res.headers, body });
        });
        // A body cut off (the peer closed, or went quiet past the timeout) fails as the request would have.
        res.on('error', (err) => reject(timedOut ?? (own.has(err) ? err : failure({ kind: 'request_error', error: err }))));
      },
    );
    // Never another connection than the checked one (it would not be checked: rejectUnauthorized is off here).
    r.on('socket', (used) => {
      if (used !== socket) r.destroy(failure({ kind: 'foreign_socket' }));
    });
    r.on('timeout', () => {
      timedOut = failure({ kind: 'request_timeout' });
      r.destroy(timedOut);
    });
    r.on('error', (err) => reject(own.has(err) ? err : failure({ kind: 'request_error', error: err })));
    r.end(req.body);
  });
}

/** Connects to `peer` and resolves with the socket once Node's CA check (with a CA) and the pin (with one) passed. */
function checkedSocket(peer: PinnedPeer, failure: FailureOf, own: WeakSet<Error>): Promise<TLSSocket> {
  if (peer.fingerprint == null && peer.ca === undefined) {
    return Promise.reject(new Error(`pinnedRequest: neither a fingerprint nor a CA for ${peer.host}:${peer.port}; nothing is sent unchecked`));
  }
  const host = peer.host.replace(/^\[|\]$/g, '');
  const pin = peer.fingerprint == null ? null : normalizeFingerprint(peer.fingerprint);
  return new Promise((resolve, reject) => {
    const s = connect({ host, port: peer.port, servername: peer.servername, ca: peer.ca, rejectUnauthorized: peer.ca !== undefined, timeout: peer.timeoutMs }, () => {
      if (pin !== null) {
        const got = createHash('sha256').update(s.getPeerCertificate().raw).digest('hex').toUpperCase();
        if (got !== pin) {
          s.destroy();
          reject(failure({ kind: 'fingerprint_mismatch', got: colonHex(got), expected: colonHex(pin) }));
          return;
        }
      }
      s.setTimeout(0);
      s.off('timeout', onTimeout);
      resolve(s);
    });
    const onTimeout = () => s.destroy(failure({ kind: 'handshake_timeout' }));
    s.once('timeout', onTimeout);
    s.once('error', (err: NodeJS.ErrnoException) => reject(own.has(err) ? err : failure({ kind: 'connect_error', error: err })));
  });
}

/** AB:CD:… from ABCD…. */
function colonHex(hex: string): string {
  return hex.match(/../g)?.join(':') ?? hex;
}
