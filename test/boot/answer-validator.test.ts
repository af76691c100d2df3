import { describe, expect, it } from 'vitest';
import { buildAnswer, type AnswerInput } from '../../src/boot/answer-file';
import { validateAnswer } from '../../src/boot/answer-validator';

const input: AnswerInput = {
  fqdn: 'pve-1.lab.example',
  country: 'at',
  keyboard: 'de',
  timezone: 'Europe/Vienna',
  mailto: 'ops@lab.example',
  rootPasswordHash: '$6$salt$hash',
  rebuildPublicKey: 'ssh-ed25519 AAAA key',
  filesystem: 'zfs',
  raid: 'raid0',
  disks: ['/dev/sda'],
  webhookUrl: 'http://10.0.0.2/api/hosts/1/installed?token=t',
  firstBootUrl: 'http://10.0.0.2/api/hosts/1/first-boot-script?token=t',
};

type Answer = Record<string, Record<string, unknown>>;
const answer = (): Answer => JSON.parse(JSON.stringify(buildAnswer(input))) as Answer;

describe('validateAnswer', () => {
  it('accepts what buildAnswer emits', () => {
    expect(validateAnswer(answer())).toEqual([]);
  });

  it('accepts what it emits over HTTPS: pinned fingerprints, with or without colons, and the auth-token', () => {
    const fp = Array.from({ length: 32 }, (_, i) => (i * 7).toString(16).padStart(2, '0').toUpperCase()).join(':');
    const https = { ...input, webhookUrl: 'https://10.0.0.2:8443/api/hosts/1/installed', firstBootUrl: 'https://10.0.0.2:8443/api/hosts/1/first-boot-script?token=t', certFingerprint: fp, webhookAuthToken: 't' };
    expect(validateAnswer(JSON.parse(JSON.stringify(buildAnswer(https))))).toEqual([]);
    expect(validateAnswer(JSON.parse(JSON.stringify(buildAnswer({ ...https, certFingerprint: fp.replace(/:/g, '').toLowerCase() }))))).toEqual([]);
  });

  it.each<[string, (a: Answer) => void, string]>([
    ['an unknown section', (a) => (a.extras = {}), 'extras: unknown key (the installer rejects it)'],
    ['an unknown [global] key (snake_case typo)', (a) => (a.global!.root_ssh_keys = []), 'global.root_ssh_keys: unknown key (the installer rejects it)'],
    ['a missing [network]', (a) => delete a.network, 'network: required section is missing'],
    ['a missing global.mailto', (a) => delete a.global!.mailto, 'global.mailto: required'],
    ['an upper-case country', (a) => (a.global!.country = 'AT'), 'global.country: must be a lower-case ISO 3166 code'],
    ['an unknown keyboard', (a) => (a.global!.keyboard = 'us'), 'global.keyboard: must be one of de de-ch dk en-gb en-us es fi fr fr-be fr-ca fr-ch hu is it jp lt mk nl no pl pt pt-br se si tr'],
    ['the placeholder mailto', (a) => (a.global!.mailto = 'mail@example.invalid'), 'global.mailto: must be an e-mail address other than mail@example.invalid'],
    ['an unknown time zone', (a) => (a.global!.timezone = 'Mars/Olympus'), 'global.timezone: must be UTC or a known time zone'],
    ['a hostname-only fqdn', (a) => (a.global!.fqdn = 'pve-1'), 'global.fqdn: must have at least two labels (a hostname alone is rejected)'],
    ['a numeric hostname label', (a) => (a.global!.fqdn = '42.lab.example'), 'global.fqdn: the hostname label must not be purely numeric'],
    ['both passwords', (a) => (a.global!['root-password'] = 'longenough'), 'global.root-password: root-password and root-password-hashed must not both be set'],
    ['no password', (a) => delete a.global!['root-password-hashed'], 'global.root-password: one of root-password or root-password-hashed is required'],
    ['a network without source', (a) => delete a.network!.source, 'network.source: must be "from-dhcp" or "from-answer"'],
    ['cidr with from-dhcp', (a) => (a.network!.cidr = '10.0.0.5/24'), 'network.cidr: not allowed with source = "from-dhcp"'],
    ['an unknown filesystem', (a) => { a['disk-setup'] = { filesystem: 'ntfs', 'disk-list': ['sda'] }; }, 'disk-setup.filesystem: must be one of ext4 xfs zfs btrfs'],
    ['an upper-case RAID level', (a) => (a['disk-setup']!.zfs = { raid: 'RAID1' }), 'disk-setup.zfs.raid: required, one of raid0 raid1 raid10 raidz-1 raidz-2 raidz-3 (lower-case)'],
    ['raid1 on one disk', (a) => (a['disk-setup']!.zfs = { raid: 'raid1' }), 'disk-setup.zfs.raid: raid1 needs at least 2 disks, got 1'],
    ['a btrfs table with zfs', (a) => (a['disk-setup']!.btrfs = { raid: 'raid0' }), 'disk-setup.btrfs: not allowed with filesystem = "zfs"'],
    ['both disk-list and filter', (a) => (a['disk-setup']!.filter = { ID_SERIAL: '*' }), 'disk-setup.disk-list: exactly one of disk-list or filter must be set'],
    ['a duplicate disk', (a) => (a['disk-setup']!['disk-list'] = ['sda', 'sda']), 'disk-setup.disk-list: lists the same disk twice'],
    ['ext4 on two disks', (a) => { a['disk-setup'] = { filesystem: 'ext4', 'disk-list': ['sda', 'sdb'] }; }, 'disk-setup.disk-list: ext4 installs to exactly one disk, got 2'],
    ['a webhook without URL', (a) => (a['post-installation-webhook'] = {}), 'post-installation-webhook.url: must be a string'],
    ['a first-boot from-url without URL', (a) => delete a['first-boot']!.url, 'first-boot.url: must be a string'],
    ['a webhook fingerprint that is no SHA-256', (a) => (a['post-installation-webhook']!['cert-fingerprint'] = 'AB:CD'), 'post-installation-webhook.cert-fingerprint: must be a SHA-256 fingerprint: 64 hex digits, colons between pairs optional'],
    ['a first-boot fingerprint with a stray character', (a) => (a['first-boot']!['cert-fingerprint'] = `${'ab'.repeat(31)}zz`), 'first-boot.cert-fingerprint: must be a SHA-256 fingerprint: 64 hex digits, colons between pairs optional'],
    ['an unknown first-boot ordering', (a) => (a['first-boot']!.ordering = 'late'), 'first-boot.ordering: must be before-network, network-online or fully-up'],
  ])('rejects %s', (_name, mutate, problem) => {
    const a = answer();
    mutate(a);
    expect(validateAnswer(a)).toEqual([problem]);
  });
});
