// What the Proxmox installer accepts in an answer file's [global] section (proxmox.md §1.1). The answer validator
// and the configuration (install.*) both check against these.

/** Keyboard layouts the Proxmox installer accepts. */
export const keyboards = [
  'de', 'de-ch', 'dk', 'en-gb', 'en-us', 'es', 'fi', 'fr', 'fr-be', 'fr-ca', 'fr-ch', 'hu', 'is', 'it', 'jp', 'lt', 'mk',
  'nl', 'no', 'pl', 'pt', 'pt-br', 'se', 'si', 'tr',
] as const;

const emailPattern = /^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

/** True for an e-mail address the installer takes (its own placeholder, mail@example.invalid, is refused). */
export function isInstallerEmail(text: string): boolean {
  return emailPattern.test(text) && text !== 'mail@example.invalid';
}

let timeZones: ReadonlySet<string> | null = null;

/** True for UTC or an IANA zone this runtime knows (Proxmox's ISO carries the same tz database). */
export function isTimezone(text: string): boolean {
  timeZones ??= new Set(Intl.supportedValuesOf('timeZone'));
  return text === 'UTC' || timeZones.has(text);
}

/** Root filesystems the installer can set up (`disk-setup.filesystem`). */
export const filesystems = ['ext4', 'xfs', 'zfs', 'btrfs'] as const;
export type Filesystem = (typeof filesystems)[number];

/** RAID levels of ZFS (`disk-setup.zfs.raid`); BTRFS takes the first three (proxmox.md §1.3). */
export const raidLevels = ['raid0', 'raid1', 'raid10', 'raidz-1', 'raidz-2', 'raidz-3'] as const;
export type RaidLevel = (typeof raidLevels)[number];
export const btrfsRaidLevels: readonly RaidLevel[] = ['raid0', 'raid1', 'raid10'];

/** The fewest disks each RAID level takes (proxmox.md §1.3). */
export const minDisks: Readonly<Record<RaidLevel, number>> = { raid0: 1, raid1: 2, raid10: 4, 'raidz-1': 3, 'raidz-2': 4, 'raidz-3': 5 };
