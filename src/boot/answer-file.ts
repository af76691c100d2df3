// The Proxmox answer file (TOML) for one rebuild, built to the installer's schema (proxmox.md §1): kebab-case keys
// (PVE 8.4+), every required key, `source` always set, lower-case RAID.
// Installers refuse an answer with any key they do not know (deny_unknown_fields, proxmox.md §1): a key newer than
// PVE 8.4 goes in only when the installer is known to read it.
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
  webhookUrl: string; // http://…/api/hosts/42/installed?token=…, or https://…:8443/api/hosts/42/installed
  firstBootUrl: string; // http://…/api/hosts/42/first-boot-script?token=…
  certFingerprint?: string | undefined; // AB:CD:…: SHA-256 of the HTTPS listener's certificate, pinned for the https URLs
  webhookAuthToken?: string | undefined; // the boot token, sent back as the webhook body's "token" (installer 9.2.0+ only)
}

/**
 * The answer input of `hostname`'s rebuild, as the answer endpoint serves it and the preview shows it: the install
 * settings, the server type's disks, the rebuild's public key, and the webhook and first-boot URLs under `hostUrl`
 * (`…/api/hosts/<id>`) carrying `token` in the URL, or for the webhook in its body when `bodyToken`.
 */
export function answerInputFor(o: {
  hostname: string;
  install: { domain: string; country: string; keyboard: string; timezone: string; mailto: string };
  rootPasswordHash: string;
  rebuildPublicKey: string;
  serverType: { filesystem: Filesystem; raid: RaidLevel | null; bootDisks: string[] };
  hostUrl: string;
  token: string;
  bodyToken: boolean;
  certFingerprint?: string | undefined;
}): AnswerInput {
  const { install } = o;
  return {
    fqdn: `${o.hostname}.${install.domain}`,
    country: install.country,
    keyboard: install.keyboard,
    timezone: install.timezone,
    mailto: install.mailto,
    rootPasswordHash: o.rootPasswordHash,
    rebuildPublicKey: o.rebuildPublicKey,
    filesystem: o.serverType.filesystem,
    raid: o.serverType.raid,
    disks: o.serverType.bootDisks,
    webhookUrl: o.bodyToken ? `${o.hostUrl}/installed` : `${o.hostUrl}/installed?token=${o.token}`,
    firstBootUrl: `${o.hostUrl}/first-boot-script?token=${o.token}`,
    certFingerprint: o.certFingerprint,
    webhookAuthToken: o.bodyToken ? o.token : undefined,
  };
}

/** What the answer request tells about the installer that will read the answer (proxmox.md §2.2). */
export interface InstallerHints {
  macs: readonly string[]; // network_interfaces[].mac as sent: AA:BB:… from 9.2 on, aa:bb:… before
  isoRelease?: string | undefined; // iso.release: 9.1
}

/**
 * True when the installer reading the answer knows `[post-installation-webhook] auth-token` (9.2.0+, proxmox.md §1.4).
 * An older one refuses the whole answer over the unknown key, so in doubt this is false. The evidence: an ISO release
 * of 9.2 or later, or upper-case MACs (9.2+ serialises them through the same installer types that read auth-token;
 * before, the raw sysfs value, lower-case; a MAC of digits only tells nothing).
 */
export function installerSupportsAuthToken(hints: InstallerHints): boolean {
  const release = /^(\d+)\.(\d+)/.exec(hints.isoRelease ?? '');
  if (release && (Number(release[1]) > 9 || (Number(release[1]) === 9 && Number(release[2]) >= 2))) return true;
  return hints.macs.some((mac) => /[A-F]/.test(mac) && !/[a-f]/.test(mac));
}

/** The answer as a plain object (what the TOML encodes). */
export function buildAnswer(i: AnswerInput): Record<string, unknown> {
  const diskSetup: Record<string, unknown> = {
    filesystem: i.filesystem,
    // disk-list entries match by suffix of the device path; the bare name is the documented form.
    'disk-list': i.disks.map((d) => d.replace(/^\/dev\//, '')),
  };
  if (i.filesystem === 'zfs' || i.filesystem === 'btrfs') diskSetup[i.filesystem] = { raid: i.raid ?? 'raid0' };
  // The installer pins the leaf certificate by this fingerprint and ignores hostname and chain (proxmox.md §2.2).
  const pinned = (url: string) => (i.certFingerprint && url.startsWith('https:') ? { 'cert-fingerprint': i.certFingerprint } : {});
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
    'post-installation-webhook': {
      url: i.webhookUrl,
      ...pinned(i.webhookUrl),
      ...(i.webhookAuthToken ? { 'auth-token': i.webhookAuthToken } : {}),
    },
    'first-boot': { source: 'from-url', ordering: 'network-online', url: i.firstBootUrl, ...pinned(i.firstBootUrl) },
  };
}

/** Returns the answer file as TOML text. */
export function renderAnswerFile(i: AnswerInput): string {
  return stringify(buildAnswer(i));
}
