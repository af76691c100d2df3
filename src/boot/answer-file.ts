// The Proxmox answer file (TOML) for one rebuild, built to the installer's schema (proxmox.md §1): kebab-case keys
// (PVE 8.4+), every required key, `source` always set, lower-case RAID.
import { stringify } from 'smol-toml';
import type { Filesystem, RaidLevel } from '../domain/installer-rules';

/** What one host's answer needs. */
export interface AnswerInput {
  fqdn: string; // pve-ms-03.home.arpa
  country: string; // us
  keyboard: string; // en-us
  timezone: string; // UTC
  mailto: string; // root@home.arpa
  rootPasswordHash: string; // $6$… (mkpasswd -m sha-512)
  rebuildPublicKey: string; // ssh-ed25519 AAAA… provisioning-rebuild-pve-ms-03
  filesystem: Filesystem; // zfs
  raid: RaidLevel | null; // raid1 (zfs/btrfs only)
  disks: string[]; // ["/dev/nvme0n1"]
  webhookUrl: string; // http://…/api/hosts/42/installed?token=…
  firstBootUrl: string; // http://…/api/hosts/42/first-boot-script?token=…
}

/** The answer as a plain object (what the TOML encodes). */
export function buildAnswer(i: AnswerInput): Record<string, unknown> {
  const diskSetup: Record<string, unknown> = {
    filesystem: i.filesystem,
    // disk-list entries match by suffix of the device path; the bare name is the documented form.
    'disk-list': i.disks.map((d) => d.replace(/^\/dev\//, '')),
  };
  if (i.filesystem === 'zfs' || i.filesystem === 'btrfs') diskSetup[i.filesystem] = { raid: i.raid ?? 'raid0' };
  return {
    global: {
      keyboard: i.keyboard,
      country: i.country,
      fqdn: i.fqdn,
      mailto: i.mailto,
      timezone: i.timezone,
      'root-password-hashed': i.rootPasswordHash,
      'root-ssh-keys': [i.rebuildPublicKey.trim()],
      'reboot-on-error': false,
    },
    network: { source: 'from-dhcp' },
    'disk-setup': diskSetup,
    'post-installation-webhook': { url: i.webhookUrl },
    'first-boot': { source: 'from-url', ordering: 'network-online', url: i.firstBootUrl },
  };
}

/** Returns the answer file as TOML text. */
export function renderAnswerFile(i: AnswerInput): string {
  return stringify(buildAnswer(i));
}
