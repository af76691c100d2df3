// A self-signed certificate for the boot API's HTTPS listener. Installers pin its SHA-256 fingerprint, so no CA is
// involved; the subjectAltName still names the public host so a browser or curl shows which server it is.
// Node has no X.509 builder: @peculiar/x509 builds it over Node's WebCrypto, and it needs a Reflect polyfill
// (its dependency injection container, tsyringe) loaded before it.
import 'reflect-metadata';
import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

/** What the certificate is for. */
export interface SelfSignedRequest {
  host: string; // 192.168.1.100 or pxe.lab.example: the host of server.tls.public_url
  validDays: number; // 3650
  now?: Date;
}

/** A PEM private key (PKCS#8) and its certificate. */
export interface KeyAndCertificate {
  key: string;
  cert: string;
}

// ECDSA P-256: supported by every TLS stack the installers ship (rustls, OpenSSL) and quick to generate.
const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** Returns a new key pair and a self-signed certificate whose subjectAltName is `host`, valid from now for `validDays`. */
export async function createSelfSignedCertificate(request: SelfSignedRequest): Promise<KeyAndCertificate> {
  const host = request.host.replace(/^\[|\]$/g, '');
  const now = request.now ?? new Date();
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f; // a positive INTEGER (RFC 5280 §4.1.2.2)
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial.toString('hex'),
      name: [{ CN: [`provisioning ${host}`.slice(0, 64)] }, { O: ['Provisioning'] }],
      notBefore: new Date(now.getTime() - 5 * 60_000), // a host clock a little behind still accepts it
      notAfter: new Date(now.getTime() + request.validDays * 86_400_000),
      keys,
      signingAlgorithm: algorithm,
      extensions: [
        new x509.SubjectAlternativeNameExtension([{ type: isIP(host) !== 0 ? 'ip' : 'dns', value: host }]),
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      ],
    },
    webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[1],
  );
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const key = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }).toString();
  return { key, cert: cert.toString('pem') + '\n' };
}
