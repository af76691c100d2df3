// Unit: the answer's HTTPS parts (cert-fingerprint, auth-token) and when an installer may be sent auth-token. No I/O.
import { parse } from '@iarna/toml';
import { describe, expect, it } from 'vitest';
import { installerSupportsAuthToken, renderAnswerFile, type AnswerInput } from '../../src/boot/answer-file';
import { validateAnswer } from '../../src/boot/answer-validator';

const fingerprint = 'AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89';
const base: AnswerInput = {
  fqdn: 'pve-ms-03.lab.example',
  country: 'us',
  keyboard: 'en-us',
  timezone: 'UTC',
  mailto: 'ops@lab.example',
  rootPasswordHash: '$6$Zc3xS0Gd1pG8r9Qe$FRr1Gc16G4e6CM5U1Q5WZQIsXWlKmOu/DKlGnXhT6y3iKA7hfv4DFKRrPlRn8ZmtCYvLOQvhr1MIrwUND6Q94.',
  rebuildPublicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM6kluBfP6xzJzCJboPwxoID0smiDWjg8nbN+yD+2YQBUb provisioning-rebuild-pve-ms-03',
  filesystem: 'ext4',
  raid: null,
  disks: ['/dev/nvme0n1'],
  webhookUrl: 'https://10.0.0.2:8443/api/hosts/42/installed',
  firstBootUrl: 'https://10.0.0.2:8443/api/hosts/42/first-boot-script?token=abc',
  certFingerprint: fingerprint,
  webhookAuthToken: 'abc',
};

describe('renderAnswerFile over HTTPS', () => {
  it('pins both https URLs by the fingerprint and hands the webhook its token as auth-token', () => {
    const toml = renderAnswerFile(base);
    expect(toml.slice(toml.indexOf('[post-installation-webhook]'))).toBe(`[post-installation-webhook]
url = "https://10.0.0.2:8443/api/hosts/42/installed"
cert-fingerprint = "${fingerprint}"
auth-token = "abc"

[first-boot]
source = "from-url"
ordering = "network-online"
url = "https://10.0.0.2:8443/api/hosts/42/first-boot-script?token=abc"
cert-fingerprint = "${fingerprint}"
`);
    expect(validateAnswer(parse(toml))).toEqual([]);
  });

  it('keeps the token in the webhook URL and writes no auth-token for an installer before 9.2', () => {
    const toml = renderAnswerFile({ ...base, webhookUrl: 'https://10.0.0.2:8443/api/hosts/42/installed?token=abc', webhookAuthToken: undefined });
    expect(parse(toml)['post-installation-webhook']).toEqual({ url: 'https://10.0.0.2:8443/api/hosts/42/installed?token=abc', 'cert-fingerprint': fingerprint });
    expect(toml).not.toContain('auth-token');
  });

  it('pins no plain http URL', () => {
    const toml = renderAnswerFile({ ...base, firstBootUrl: 'http://10.0.0.2:8080/api/hosts/42/first-boot-script?token=abc' });
    expect(parse(toml)['first-boot']).toEqual({ source: 'from-url', ordering: 'network-online', url: 'http://10.0.0.2:8080/api/hosts/42/first-boot-script?token=abc' });
  });
});

describe('installerSupportsAuthToken', () => {
  it.each([
    ['upper-case MACs (9.2+ serialises them so)', { macs: ['58:47:CA:00:00:01', 'B4:2E:99:AC:AD:B4'] }, true],
    ['an ISO release of 9.2', { macs: ['b4:2e:99:ac:ad:b4'], isoRelease: '9.2' }, true],
    ['an ISO release of 10.0', { macs: ['b4:2e:99:ac:ad:b4'], isoRelease: '10.0' }, true],
    ['lower-case MACs and release 9.1 (sysfs values)', { macs: ['58:47:ca:00:00:01', 'b4:2e:99:ac:ad:b4'], isoRelease: '9.1' }, false],
    ['lower-case MACs and no release', { macs: ['b4:2e:99:ac:ad:b4'] }, false],
    ['MACs of digits only, which show no case', { macs: ['00:11:22:33:44:55'], isoRelease: '9.1' }, false],
    ['a release that is no version', { macs: ['00:11:22:33:44:55'], isoRelease: 'mocked-1' }, false],
    ['release 8.4', { macs: ['00:11:22:33:44:55'], isoRelease: '8.4' }, false],
  ])('decides from %s: %s', (_name, hints, expected) => {
    expect(installerSupportsAuthToken(hints)).toBe(expected);
  });
});
