// Real: TLS and HTTP on loopback, servers with certificates from our own generator. The failures come back as the
// structured PinnedFailure the callers (ProxmoxApi, RedfishDriver) turn into their errors; test/power and
// test/proxmox check those messages.
import { createServer, type Server } from 'node:https';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { certificateFingerprint } from '../../src/tls/certificate';
import { pinnedRequest, type PinnedFailure, type PinnedPeer } from '../../src/tls/pinned-https';
import { createSelfSignedCertificate, type KeyAndCertificate } from '../../src/tls/self-signed-certificate';
import { Resources } from '../helpers/release';
import { freePort } from '../setup/temporal-dev-server';

const resources = new Resources();
afterEach(() => resources.releaseAll());

interface Peer {
  port: number;
  cert: KeyAndCertificate;
  fingerprint: string;
  seen: Array<{ method: string; url: string; headers: Record<string, unknown>; body: string }>;
}

async function listening<T extends Server | TcpServer>(server: T): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  resources.add(server, (s) => new Promise<void>((resolve) => s.close(() => resolve())));
  return (server.address() as { port: number }).port;
}

type Answering = 'answers' | 'never' | 'stalls' | 'drops'; // the whole answer; none; half of it, then silence; half, then the connection closed

/** An HTTPS server on 127.0.0.1 that records each request and answers 201 with a JSON body (or less of it). */
async function peer(answering: Answering = 'answers'): Promise<Peer> {
  const cert = await createSelfSignedCertificate({ host: '127.0.0.1', validDays: 1 });
  const seen: Peer['seen'] = [];
  const server = createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      if (answering === 'never') return;
      res.writeHead(201, 'Made', { 'content-type': 'application/json', etag: 'W/"1"', 'content-length': '11' });
      if (answering === 'answers') return res.end('{"ok":true}');
      res.write('{"ok"');
      if (answering === 'drops') setTimeout(() => res.socket?.destroy(), 50);
    });
  });
  const port = await listening(server);
  resources.add(server, async (s) => s.closeAllConnections());
  return { port, cert, fingerprint: certificateFingerprint(cert.cert), seen };
}

/** The failure as a plain object, so a test compares it whole. */
class Failed extends Error {
  constructor(readonly failure: PinnedFailure) {
    super(failure.kind);
  }
}
const fail = (f: PinnedFailure): Error => new Failed(f);
async function failure(p: Promise<unknown>): Promise<PinnedFailure> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(Failed);
  return (err as Failed).failure;
}

const get = { method: 'GET', path: '/redfish/v1', headers: { authorization: 'Basic c2VjcmV0' } };
const at = (p: Peer, check: Partial<PinnedPeer>): PinnedPeer => ({ host: '127.0.0.1', port: p.port, timeoutMs: 2_000, ...check }) as PinnedPeer;

describe('pinnedRequest', () => {
  it('sends the request over a connection whose certificate has the pinned fingerprint, in any spelling', async () => {
    const p = await peer();
    const answer = await pinnedRequest(at(p, { fingerprint: p.fingerprint.replace(/:/g, '').toLowerCase() }), { method: 'POST', path: '/api2/json/nodes/pve2/status', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'command=reboot' }, fail);
    expect(answer).toMatchObject({ status: 201, statusMessage: 'Made', body: '{"ok":true}' });
    expect(answer.headers.etag).toBe('W/"1"');
    expect(p.seen).toMatchObject([{ method: 'POST', url: '/api2/json/nodes/pve2/status', body: 'command=reboot', headers: { host: `127.0.0.1:${p.port}` } }]);
  });

  it('sends nothing to a peer with another certificate, and names both fingerprints', async () => {
    const p = await peer();
    const other = 'ab'.repeat(32);
    expect(await failure(pinnedRequest(at(p, { fingerprint: other }), get, fail))).toEqual({ kind: 'fingerprint_mismatch', got: p.fingerprint, expected: 'AB:'.repeat(31) + 'AB' });
    expect(await failure(pinnedRequest(at(p, { fingerprint: '' }), get, fail))).toMatchObject({ kind: 'fingerprint_mismatch', got: p.fingerprint });
    expect(p.seen).toEqual([]); // the authorization header never left
  });

  it('verifies the chain and the name against a CA, and sends nothing to a certificate it does not trust', async () => {
    const p = await peer();
    await pinnedRequest(at(p, { ca: Buffer.from(p.cert.cert) }), get, fail);
    const stranger = await createSelfSignedCertificate({ host: '127.0.0.1', validDays: 1 });
    const refused = await failure(pinnedRequest(at(p, { ca: Buffer.from(stranger.cert) }), get, fail));
    expect(refused.kind).toBe('connect_error');
    expect((refused as Extract<PinnedFailure, { kind: 'connect_error' }>).error.code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    expect(p.seen).toHaveLength(1);
  });

  it('checks the pin too when a CA is given', async () => {
    const p = await peer();
    const f = await failure(pinnedRequest(at(p, { ca: Buffer.from(p.cert.cert), fingerprint: '00'.repeat(32) }), get, fail));
    expect(f.kind).toBe('fingerprint_mismatch');
    expect(p.seen).toEqual([]);
  });

  it('refuses a peer with neither a fingerprint nor a CA before connecting', async () => {
    const p = await peer();
    await expect(pinnedRequest(at(p, {}), get, fail)).rejects.toThrow(`pinnedRequest: neither a fingerprint nor a CA for 127.0.0.1:${p.port}; nothing is sent unchecked`);
    expect(p.seen).toEqual([]);
  });

  it('fails with handshake_timeout when the peer accepts TCP but never speaks TLS', async () => {
    const port = await listening(createTcpServer((socket) => resources.add(socket, async (s) => void s.destroy())));
    expect(await failure(pinnedRequest({ host: '127.0.0.1', port, fingerprint: '00'.repeat(32), timeoutMs: 300 }, get, fail))).toEqual({ kind: 'handshake_timeout' });
  });

  it('fails with request_timeout when the peer completes the handshake but never answers', async () => {
    const p = await peer('never');
    const started = Date.now();
    expect(await failure(pinnedRequest(at(p, { fingerprint: p.fingerprint, timeoutMs: 300 }), get, fail))).toEqual({ kind: 'request_timeout' });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(p.seen).toHaveLength(1);
  });

  it('fails with request_timeout when the answer stops half-way and the peer goes quiet', async () => {
    const p = await peer('stalls');
    expect(await failure(pinnedRequest(at(p, { fingerprint: p.fingerprint, timeoutMs: 300 }), get, fail))).toEqual({ kind: 'request_timeout' });
  });

  it('fails with request_error when the peer closes the connection in the middle of the answer', async () => {
    const p = await peer('drops');
    expect(await failure(pinnedRequest(at(p, { fingerprint: p.fingerprint }), get, fail))).toMatchObject({ kind: 'request_error', error: { code: 'ECONNRESET' } });
  });

  it('fails with connect_error when nothing listens', async () => {
    const port = await freePort();
    const f = await failure(pinnedRequest({ host: '127.0.0.1', port, fingerprint: '00'.repeat(32), timeoutMs: 2_000 }, get, fail));
    expect(f).toMatchObject({ kind: 'connect_error', error: { code: 'ECONNREFUSED' } });
  });
});
