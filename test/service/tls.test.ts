// The HTTPS listener's key and certificate as the gateway role gets them. Real: files in a temp data dir, the
// certificate generator, Node's X.509 parser. Fake: nothing.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load-config';
import { ConfigError } from '../../src/config/reader';
import { createLogger } from '../../src/logging';
import { loadOrCreateTls, selfSignedFiles, selfSignedValidDays, tlsSummary } from '../../src/service/tls';
import { createSelfSignedCertificate } from '../../src/tls/self-signed-certificate';
import { tempDir } from '../helpers/temp-dir';

let dir: ReturnType<typeof tempDir>;
let logLines: Record<string, unknown>[];
let log: ReturnType<typeof createLogger>;

beforeEach(() => {
  dir = tempDir();
  logLines = [];
  log = createLogger('info', new Writable({ write: (chunk, _enc, done) => { logLines.push(JSON.parse(chunk.toString())); done(); } }));
});
afterEach(() => dir.remove());

const configWith = (tlsLines: string[]) =>
  parseConfig(['data_dir: ./data', 'server:', '  tls:', ...tlsLines.map((l) => `    ${l}`)].join('\n'), join(dir.path, 'provisioning.yaml'), {});
const selfSignedConfig = (publicUrl = 'https://192.168.1.100:8443') => configWith(['listen: "0.0.0.0:8443"', `public_url: "${publicUrl}"`]);

describe('loadOrCreateTls with a self-signed certificate', () => {
  it('generates one on first start in <data_dir>/tls, naming the public host, valid for 10 years, its key 0600', async () => {
    const config = selfSignedConfig();
    const tls = (await loadOrCreateTls(config, log))!;
    const files = selfSignedFiles(join(dir.path, 'data'));
    expect(tls.source).toBe('generated');
    expect(tls.certFile).toBe(files.cert);
    expect(readFileSync(files.cert, 'utf8')).toBe(tls.cert);
    expect(readFileSync(files.key, 'utf8')).toBe(tls.key);
    expect(statSync(files.key).mode & 0o777).toBe(0o600);
    expect(statSync(files.dir).mode & 0o777).toBe(0o700);
    const cert = new X509Certificate(tls.cert);
    expect(cert.subjectAltName).toBe('IP Address:192.168.1.100');
    expect(cert.checkIP('192.168.1.100')).toBe('192.168.1.100');
    expect(Math.round((new Date(cert.validTo).getTime() - Date.now()) / 86_400_000)).toBe(selfSignedValidDays);
    expect(selfSignedValidDays).toBe(3650);
    expect(cert.checkPrivateKey(createPrivateKey(tls.key))).toBe(true);
    expect(tls.fingerprint).toBe(cert.fingerprint256);
    expect(logLines).toContainEqual(expect.objectContaining({ msg: 'generated a self-signed certificate for the boot API; prepare boot images with this fingerprint', fingerprint: tls.fingerprint }));
  });

  it('reuses it on the next start: same key, same fingerprint', async () => {
    const first = (await loadOrCreateTls(selfSignedConfig(), log))!;
    const again = (await loadOrCreateTls(selfSignedConfig(), log))!;
    expect(again.source).toBe('reused');
    expect(again.fingerprint).toBe(first.fingerprint);
    expect(again.key).toBe(first.key);
  });

  it('names a DNS public host as a DNS subjectAltName', async () => {
    const tls = (await loadOrCreateTls(selfSignedConfig('https://pxe.lab.example:8443'), log))!;
    expect(new X509Certificate(tls.cert).subjectAltName).toBe('DNS:pxe.lab.example');
  });

  it('keeps the certificate when public_url moves to another host, warning that it does not name it', async () => {
    const first = (await loadOrCreateTls(selfSignedConfig(), log))!;
    const again = (await loadOrCreateTls(selfSignedConfig('https://192.168.1.200:8443'), log))!;
    expect(again.fingerprint).toBe(first.fingerprint); // prepared images keep working: installers pin, they do not check names
    expect(logLines).toContainEqual(expect.objectContaining({ level: 40, msg: 'the HTTPS certificate does not name the host of server.tls.public_url (installers pinning its fingerprint do not mind)', host: '192.168.1.200' }));
  });

  it('replaces a kept pair whose key is not the certificate’s, saying images must be prepared again', async () => {
    const first = (await loadOrCreateTls(selfSignedConfig(), log))!;
    const files = selfSignedFiles(join(dir.path, 'data'));
    writeFileSync(files.key, (await createSelfSignedCertificate({ host: '192.168.1.100', validDays: 1 })).key);
    const again = (await loadOrCreateTls(selfSignedConfig(), log))!;
    expect(again.source).toBe('generated');
    expect(again.fingerprint).not.toBe(first.fingerprint);
    expect(logLines).toContainEqual(expect.objectContaining({ level: 40, msg: 'replacing the self-signed certificate of the boot API: images prepared with the old fingerprint must be prepared again' }));
  });

  it('returns nothing without server.tls', async () => {
    const config = parseConfig('data_dir: ./data\n', join(dir.path, 'provisioning.yaml'), {});
    expect(await loadOrCreateTls(config, log)).toBeNull();
    expect(tlsSummary(config)).toBeNull();
  });

  it('is summed up for the banner: listen, public URL, fingerprint', async () => {
    const config = selfSignedConfig();
    expect(tlsSummary(config)).toEqual({ listen: '0.0.0.0:8443', public_url: 'https://192.168.1.100:8443', fingerprint: null });
    const tls = (await loadOrCreateTls(config, log))!;
    expect(tlsSummary(config)).toEqual({ listen: '0.0.0.0:8443', public_url: 'https://192.168.1.100:8443', fingerprint: tls.fingerprint });
  });
});

describe('loadOrCreateTls with cert_file and key_file', () => {
  const filesConfig = () => configWith(['listen: "0.0.0.0:8443"', 'public_url: "https://192.168.1.100:8443"', 'cert_file: tls/server.crt', 'key_file: tls/server.key']);
  const file = (name: string) => join(dir.path, 'tls', name);
  const problems = async (config: ReturnType<typeof filesConfig>) => {
    try {
      await loadOrCreateTls(config, log);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).message;
    }
    throw new Error('expected a ConfigError');
  };

  beforeEach(async () => {
    mkdirSync(join(dir.path, 'tls'));
    const pair = await createSelfSignedCertificate({ host: '192.168.1.100', validDays: 30 });
    writeFileSync(file('server.crt'), pair.cert);
    writeFileSync(file('server.key'), pair.key);
  });

  it('serves the named files, with the fingerprint of the certificate in them, and writes nothing to the data dir', async () => {
    const tls = (await loadOrCreateTls(filesConfig(), log))!;
    expect(tls).toMatchObject({ source: 'files', certFile: file('server.crt'), key: readFileSync(file('server.key'), 'utf8') });
    expect(tls.fingerprint).toBe(new X509Certificate(readFileSync(file('server.crt'))).fingerprint256);
    expect(() => statSync(join(dir.path, 'data', 'tls'))).toThrow();
  });

  it('refuses a missing certificate file, naming the key, the path and the config file', async () => {
    const config = filesConfig();
    writeFileSync(file('server.crt'), '');
    expect(await problems(configWith(['listen: "0.0.0.0:8443"', 'public_url: "https://192.168.1.100:8443"', 'cert_file: tls/missing.crt', 'key_file: tls/server.key']))).toBe(
      `${join(dir.path, 'provisioning.yaml')}: server.tls.cert_file: cannot read ${file('missing.crt')}: ENOENT`,
    );
    expect(await problems(config)).toBe(`${config.file}: server.tls.cert_file: ${file('server.crt')} holds no PEM certificate`);
  });

  it('refuses a key that is not the certificate’s, and a file that holds no key', async () => {
    const config = filesConfig();
    writeFileSync(file('server.key'), (await createSelfSignedCertificate({ host: '192.168.1.100', validDays: 1 })).key);
    expect(await problems(config)).toBe(`${config.file}: server.tls.key_file: ${file('server.key')} is not the private key of the certificate in ${file('server.crt')}`);
    writeFileSync(file('server.key'), 'not a key');
    expect(await problems(config)).toBe(`${config.file}: server.tls.key_file: ${file('server.key')} holds no unencrypted PEM private key`);
  });
});
