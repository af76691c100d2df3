// The boot API over HTTPS (server.tls): its key and certificate, either the files the config names or a self-signed
// pair generated on first start into <data_dir>/tls/ and reused after, and the HTTPS server in front of the gateway's
// one Fastify app. Installers pin the certificate by its SHA-256 fingerprint (proxmox-cluster.md §3), so the
// fingerprint must stay the same across restarts: prepared images carry it.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Config, TlsSettings } from '../config/load-config';
import { ConfigError } from '../config/reader';
import type { Logger } from '../logging';
import { certificateCoversHost, certificateFingerprint } from '../tls/certificate';

/** How long a generated certificate is valid. */
export const selfSignedValidDays = 3650;

/** How long closing waits for HTTPS requests in flight before it drops their connections. */
const closeGraceMs = 5_000;

/** The HTTPS listener's key and certificate, with the fingerprint installers pin. */
export interface TlsMaterial {
  key: string; // PEM
  cert: string; // PEM, the leaf first
  fingerprint: string; // AB:CD:… (SHA-256 of the leaf, upper-case hex pairs)
  certFile: string; // where the certificate is: server.tls.cert_file or <data_dir>/tls/provisioning.crt
  source: 'files' | 'generated' | 'reused';
}

/** Where the self-signed certificate and its key are kept. */
export function selfSignedFiles(dataDir: string): { dir: string; cert: string; key: string } {
  const dir = join(dataDir, 'tls');
  return { dir, cert: join(dir, 'provisioning.crt'), key: join(dir, 'provisioning.key') };
}

/** The certificate file the HTTPS listener serves (null without server.tls). */
export function tlsCertificateFile(config: Readonly<Config>): string | null {
  const tls = config.server.tls;
  if (!tls) return null;
  return tls.certFile ?? selfSignedFiles(config.dataDir).cert;
}

/** What the banner and the start-up log show about the HTTPS listener (null without server.tls). */
export function tlsSummary(config: Readonly<Config>): { listen: string; public_url: string; fingerprint: string | null } | null {
  const tls = config.server.tls;
  const file = tlsCertificateFile(config);
  if (!tls || !file) return null;
  let fingerprint: string | null = null;
  try {
    fingerprint = certificateFingerprint(readFileSync(file));
  } catch {
    // not there (yet): the gateway role writes it at start
  }
  const host = tls.listen.host.includes(':') ? `[${tls.listen.host}]` : tls.listen.host;
  return { listen: `${host}:${tls.listen.port}`, public_url: tls.publicUrl, fingerprint };
}

/**
 * Returns the HTTPS listener's key and certificate, or null without server.tls: the configured files (a ConfigError
 * naming the key when one cannot be read, is no PEM, or the key is not the certificate's), else the self-signed
 * pair in <data_dir>/tls/, generated when missing, unreadable or expired.
 */
export async function loadOrCreateTls(config: Readonly<Config>, log: Logger): Promise<TlsMaterial | null> {
  const tls = config.server.tls;
  if (!tls) return null;
  const host = new URL(tls.publicUrl).hostname;
  const material = tls.certFile && tls.keyFile ? readConfiguredFiles(config.file, tls.certFile, tls.keyFile) : await selfSigned(config.dataDir, host, log);
  const cert = new X509Certificate(material.cert);
  const facts = { certFile: material.certFile, fingerprint: material.fingerprint, validTo: new Date(cert.validTo).toISOString(), source: material.source };
  if (!certificateCoversHost(material.cert, host)) {
    // Installers pin the fingerprint and ignore the names; browsers and curl do not.
    log.warn({ ...facts, host }, 'the HTTPS certificate does not name the host of server.tls.public_url (installers pinning its fingerprint do not mind)');
  }
  if (new Date(cert.validTo).getTime() < Date.now()) log.warn(facts, 'the HTTPS certificate has expired');
  log.info(facts, 'HTTPS certificate for the boot API');
  return material;
}

function readConfiguredFiles(configFile: string, certFile: string, keyFile: string): TlsMaterial {
  const read = (key: string, file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(configFile, [`server.tls.${key}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
    }
  };
  const cert = read('cert_file', certFile);
  const key = read('key_file', keyFile);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw new ConfigError(configFile, [`server.tls.cert_file: ${certFile} holds no PEM certificate`]);
  }
  try {
    if (!x509.checkPrivateKey(createPrivateKey(key))) throw new Error('mismatch');
  } catch (err) {
    const why = (err as Error).message === 'mismatch' ? `is not the private key of the certificate in ${certFile}` : 'holds no unencrypted PEM private key';
    throw new ConfigError(configFile, [`server.tls.key_file: ${keyFile} ${why}`]);
  }
  return { key, cert, fingerprint: certificateFingerprint(cert), certFile, source: 'files' };
}

async function selfSigned(dataDir: string, host: string, log: Logger): Promise<TlsMaterial> {
  const files = selfSignedFiles(dataDir);
  const kept = readKept(files, log);
  if (kept) return kept;
  // Loaded here only: a service without server.tls, or with its pair already made, never loads the X.509 builder.
  const { createSelfSignedCertificate } = await import('../tls/self-signed-certificate.js');
  const { key, cert } = await createSelfSignedCertificate({ host, validDays: selfSignedValidDays });
  mkdirSync(files.dir, { recursive: true, mode: 0o700 });
  // Key first, certificate last: a pair is complete once the certificate is in place.
  writeFileSync(`${files.key}.tmp`, key, { mode: 0o600 });
  renameSync(`${files.key}.tmp`, files.key);
  writeFileSync(`${files.cert}.tmp`, cert, { mode: 0o644 });
  renameSync(`${files.cert}.tmp`, files.cert);
  const fingerprint = certificateFingerprint(cert);
  log.info({ certFile: files.cert, fingerprint, host }, 'generated a self-signed certificate for the boot API; prepare boot images with this fingerprint');
  return { key, cert, fingerprint, certFile: files.cert, source: 'generated' };
}

/** The self-signed pair from an earlier start, or null when there is none to use (said why in the log). */
function readKept(files: { cert: string; key: string }, log: Logger): TlsMaterial | null {
  if (!existsSync(files.cert) || !existsSync(files.key)) return null;
  try {
    const cert = readFileSync(files.cert, 'utf8');
    const key = readFileSync(files.key, 'utf8');
    const x509 = new X509Certificate(cert);
    if (!x509.checkPrivateKey(createPrivateKey(key))) throw new Error('the key is not the certificate’s');
    if (new Date(x509.validTo).getTime() < Date.now()) throw new Error(`it expired on ${new Date(x509.validTo).toISOString()}`);
    return { key, cert, fingerprint: certificateFingerprint(cert), certFile: files.cert, source: 'reused' };
  } catch (err) {
    log.warn({ certFile: files.cert, reason: (err as Error).message }, 'replacing the self-signed certificate of the boot API: images prepared with the old fingerprint must be prepared again');
    return null;
  }
}

/** A running HTTPS listener. */
export interface HttpsListener {
  address: AddressInfo; // where it listens (the port the OS chose for port 0)
}

/**
 * Serves `app` over HTTPS too, on `settings.listen`: one app (same routes, stores, event hub and error handling) behind
 * a second server. It closes with the app: it stops taking connections when the app starts closing, and connections
 * still open after a grace period are dropped. Call before the app is ready.
 */
export async function startHttpsListener(app: FastifyInstance, settings: TlsSettings, material: TlsMaterial, log: Logger): Promise<HttpsListener> {
  const server = createServer({ key: material.key, cert: material.cert, minVersion: 'TLSv1.2' }, app.routing);
  // The same connection limits Fastify gives its own server.
  server.keepAliveTimeout = app.server.keepAliveTimeout;
  server.requestTimeout = app.server.requestTimeout;
  server.headersTimeout = app.server.headersTimeout;
  server.timeout = app.server.timeout;
  server.maxRequestsPerSocket = app.server.maxRequestsPerSocket;
  // A client that pins another fingerprint (an image prepared for an older certificate) ends the handshake here.
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket) => {
    log.info({ remoteAddress: socket.remoteAddress, code: err.code, reason: err.message }, 'TLS handshake with a client failed');
  });
  let closed: Promise<void> | null = null;
  const stop = () => {
    closed ??= new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      const force = setTimeout(() => server.closeAllConnections(), closeGraceMs);
      server.close(() => {
        clearTimeout(force);
        resolve();
      });
      server.closeIdleConnections();
    });
    return closed;
  };
  // preClose: before Fastify closes its own server (the event hub ends SSE streams then too); onClose: after it.
  app.addHook('preClose', async () => {
    void stop();
  });
  app.addHook('onClose', async () => stop());
  await app.ready();
  const { host, port } = settings.listen;
  await new Promise<void>((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => reject(new Error(`server.tls.listen ${host}:${port}: ${err.code ?? err.message}`));
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  log.info({ address: address.address, port: address.port, publicUrl: settings.publicUrl, fingerprint: material.fingerprint }, 'boot API listening over HTTPS');
  return { address };
}
