// Every answer we emit is parsed by an independent TOML parser (@iarna/toml) and checked with our §1 validator.
import { parse } from '@iarna/toml';
import { describe, expect, it } from 'vitest';
import { renderAnswerFile, type AnswerInput } from '../../src/boot/answer-file';
import { validateAnswer } from '../../src/boot/answer-validator';

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
  webhookUrl: 'http://10.0.0.2:8080/api/hosts/42/installed?token=abc',
  firstBootUrl: 'http://10.0.0.2:8080/api/hosts/42/first-boot-script?token=abc',
};

describe('renderAnswerFile', () => {
  it('writes the whole answer for an ext4 host in kebab-case TOML', () => {
    expect(renderAnswerFile(base)).toBe(`[global]
keyboard = "en-us"
country = "us"
fqdn = "pve-ms-03.lab.example"
mailto = "ops@lab.example"
timezone = "UTC"
root-password-hashed = "${base.rootPasswordHash}"
root-ssh-keys = [ "${base.rebuildPublicKey}" ]
reboot-on-error = false

[network]
source = "from-dhcp"

[disk-setup]
filesystem = "ext4"
disk-list = [ "nvme0n1" ]

[post-installation-webhook]
url = "http://10.0.0.2:8080/api/hosts/42/installed?token=abc"

[first-boot]
source = "from-url"
ordering = "network-online"
url = "http://10.0.0.2:8080/api/hosts/42/first-boot-script?token=abc"
`);
  });

  it.each([
    ['ext4 on one disk', { filesystem: 'ext4', raid: null, disks: ['/dev/sda'] }, { filesystem: 'ext4', 'disk-list': ['sda'] }],
    ['xfs on one disk', { filesystem: 'xfs', raid: null, disks: ['/dev/nvme0n1'] }, { filesystem: 'xfs', 'disk-list': ['nvme0n1'] }],
    ['zfs raid1 on two disks', { filesystem: 'zfs', raid: 'raid1', disks: ['/dev/nvme0n1', '/dev/nvme1n1'] }, { filesystem: 'zfs', 'disk-list': ['nvme0n1', 'nvme1n1'], zfs: { raid: 'raid1' } }],
    ['zfs raid0 on one disk', { filesystem: 'zfs', raid: 'raid0', disks: ['/dev/nvme0n1'] }, { filesystem: 'zfs', 'disk-list': ['nvme0n1'], zfs: { raid: 'raid0' } }],
    ['btrfs raid1 on two disks', { filesystem: 'btrfs', raid: 'raid1', disks: ['/dev/sda', '/dev/sdb'] }, { filesystem: 'btrfs', 'disk-list': ['sda', 'sdb'], btrfs: { raid: 'raid1' } }],
  ] as const)('emits a valid answer for %s', (_name, variant, diskSetup) => {
    const toml = renderAnswerFile({ ...base, ...variant, disks: [...variant.disks] });
    const parsed = parse(toml);
    expect(parsed['disk-setup']).toEqual(diskSetup);
    expect(parsed.network).toEqual({ source: 'from-dhcp' });
    expect(parsed.global).toMatchObject({ fqdn: 'pve-ms-03.lab.example', 'root-ssh-keys': [base.rebuildPublicKey], 'reboot-on-error': false });
    expect(validateAnswer(JSON.parse(JSON.stringify(parsed)))).toEqual([]);
  });
});
