// Unit: the certificate facts the installer pins, on certificates made by our own generator. No I/O.
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { certificateCoversHost, certificateFingerprint, fingerprintMatches, normalizeFingerprint } from '../../src/tls/certificate';
import { createSelfSignedCertificate } from '../../src/tls/self-signed-certificate';

describe('createSelfSignedCertificate', () => {
  it('makes a leaf certificate for an IP address, valid for the days asked, matching its key', async () => {
    const now = new Date('2026-12-02T10:00:00Z');
    const { key, cert } = await createSelfSignedCertificate({ host: '192.168.1.100', validDays: 3650, now });
    const x = new X509Certificate(cert);
    expect(x.subjectAltName).toBe('IP Address:192.168.1.100');
    expect(x.ca).toBe(false);
    expect(x.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // serverAuth
    expect(new Date(x.validTo).getTime() - now.getTime()).toBe(3650 * 86_400_000);
    expect(new Date(x.validFrom).getTime()).toBeLessThan(now.getTime());
    expect(x.checkPrivateKey(createPrivateKey(key))).toBe(true);
    expect(x.verify(x.publicKey)).toBe(true);
  });

  it('names a DNS host as a DNS subjectAltName, and an IPv6 address without its brackets', async () => {
    expect(new X509Certificate((await createSelfSignedCertificate({ host: 'pxe.lab.example', validDays: 1 })).cert).subjectAltName).toBe('DNS:pxe.lab.example');
    expect(certificateCoversHost((await createSelfSignedCertificate({ host: '[fd00::5]', validDays: 1 })).cert, '[fd00::5]')).toBe(true);
  });

  it('makes a new key and serial number every time', async () => {
    const a = await createSelfSignedCertificate({ host: '10.0.0.5', validDays: 1 });
    const b = await createSelfSignedCertificate({ host: '10.0.0.5', validDays: 1 });
    expect(a.key).not.toBe(b.key);
    expect(new X509Certificate(a.cert).serialNumber).not.toBe(new X509Certificate(b.cert).serialNumber);
  });
});

describe('certificateFingerprint', () => {
  it('is the SHA-256 of the DER bytes as upper-case hex pairs with colons', async () => {
    const { cert } = await createSelfSignedCertificate({ host: '10.0.0.5', validDays: 1 });
    const x = new X509Certificate(cert);
    const fp = certificateFingerprint(cert);
    expect(fp).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(normalizeFingerprint(fp)).toBe(createHash('sha256').update(x.raw).digest('hex').toUpperCase());
  });

  it('is compared as the installer does: colons optional, either case', async () => {
    const { cert } = await createSelfSignedCertificate({ host: '10.0.0.5', validDays: 1 });
    const raw = new X509Certificate(cert).raw;
    const fp = certificateFingerprint(cert);
    expect(fingerprintMatches(raw, fp)).toBe(true);
    expect(fingerprintMatches(raw, fp.replace(/:/g, '').toLowerCase())).toBe(true);
    expect(fingerprintMatches(raw, fp.replace(/^../, fp.startsWith('00') ? '11' : '00'))).toBe(false);
  });
});

describe('certificateCoversHost', () => {
  it('is true only for the names in the subjectAltName', async () => {
    const { cert } = await createSelfSignedCertificate({ host: '192.168.1.100', validDays: 1 });
    expect(certificateCoversHost(cert, '192.168.1.100')).toBe(true);
    expect(certificateCoversHost(cert, '192.168.1.101')).toBe(false);
    expect(certificateCoversHost(cert, 'pxe.lab.example')).toBe(false);
  });
});
