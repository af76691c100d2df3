// Our own check of an answer against the Proxmox installer's rules (proxmox.md §1, §1.8), run on every answer we
// emit: an answer the installer rejects leaves the machine waiting at a console.
import { btrfsRaidLevels, isInstallerEmail, isTimezone, keyboards, minDisks, raidLevels, type RaidLevel } from '../domain/installer-rules';

type Table = Record<string, unknown>;
const isTable = (v: unknown): v is Table => typeof v === 'object' && v !== null && !Array.isArray(v);
const isString = (v: unknown): v is string => typeof v === 'string';

const allowedKeys: Record<string, readonly string[]> = {
  '': ['global', 'network', 'disk-setup', 'post-installation-webhook', 'first-boot'],
  global: ['country', 'fqdn', 'keyboard', 'mailto', 'timezone', 'root-password', 'root-password-hashed', 'reboot-on-error', 'reboot-mode', 'root-ssh-keys', 'subscription-key'],
  network: ['source', 'cidr', 'dns', 'gateway', 'filter', 'interface-name-pinning'],
  'disk-setup': ['filesystem', 'disk-list', 'filter', 'filter-match', 'zfs', 'lvm', 'btrfs'],
  'post-installation-webhook': ['url', 'cert-fingerprint', 'auth-token'],
  'first-boot': ['source', 'ordering', 'url', 'cert-fingerprint'],
  zfs: ['raid', 'ashift', 'arc-max', 'checksum', 'compress', 'copies', 'hdsize'],
  lvm: ['hdsize', 'swapsize', 'maxroot', 'maxvz', 'minfree'],
  btrfs: ['raid', 'hdsize', 'compress'],
};
const label = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** Why `fqdn` is not one the installer accepts, or null. */
export function fqdnProblem(fqdn: string): string | null {
  const labels = fqdn.split('.');
  if (labels.length < 2) return 'must have at least two labels (a hostname alone is rejected)';
  if (fqdn.length > 253) return 'must be at most 253 characters';
  if (!labels.every((l) => label.test(l))) return 'labels must be 1-63 letters, digits or "-", not starting or ending with "-"';
  if (/^\d+$/.test(labels[0]!)) return 'the hostname label must not be purely numeric';
  return null;
}

function checkUrl(value: unknown): string | null {
  if (!isString(value)) return 'must be a string';
  try {
    const u = new URL(value);
    return u.protocol === 'http:' || u.protocol === 'https:' ? null : 'must be an http:// or https:// URL';
  } catch {
    return 'must be an http:// or https:// URL';
  }
}

/** Returns every rule the answer breaks, as `section.key: problem` lines; empty when the installer would accept it. */
export function validateAnswer(answer: unknown): string[] {
  const problems: string[] = [];
  const add = (key: string, problem: string) => problems.push(`${key}: ${problem}`);
  if (!isTable(answer)) return ['answer: must be a table'];

  const unknownKeys = (table: Table, section: string, allowed: readonly string[]) => {
    for (const key of Object.keys(table)) if (!allowed.includes(key)) add(section ? `${section}.${key}` : key, 'unknown key (the installer rejects it)');
  };
  unknownKeys(answer, '', allowedKeys['']!);
  for (const required of ['global', 'network', 'disk-setup']) if (!isTable(answer[required])) add(required, 'required section is missing');

  const g = isTable(answer.global) ? answer.global : undefined;
  if (g) {
    unknownKeys(g, 'global', allowedKeys.global!);
    for (const key of ['country', 'fqdn', 'keyboard', 'mailto', 'timezone']) if (g[key] === undefined) add(`global.${key}`, 'required');
    if (g.country !== undefined && !(isString(g.country) && /^[a-z]{2}$/.test(g.country))) add('global.country', 'must be a lower-case ISO 3166 code');
    if (g.keyboard !== undefined && !(keyboards as readonly unknown[]).includes(g.keyboard)) add('global.keyboard', `must be one of ${keyboards.join(' ')}`);
    if (g.mailto !== undefined && !(isString(g.mailto) && isInstallerEmail(g.mailto))) add('global.mailto', 'must be an e-mail address other than mail@example.invalid');
    if (g.timezone !== undefined && !(isString(g.timezone) && isTimezone(g.timezone))) add('global.timezone', 'must be UTC or a known time zone');
    if (g.fqdn !== undefined) {
      if (isString(g.fqdn)) {
        const p = fqdnProblem(g.fqdn);
        if (p) add('global.fqdn', p);
      } else if (!(isTable(g.fqdn) && (g.fqdn.source === undefined || g.fqdn.source === 'from-dhcp'))) {
        add('global.fqdn', 'must be a string or { source = "from-dhcp" }');
      }
    }
    const plain = g['root-password'];
    const hashed = g['root-password-hashed'];
    if (plain === undefined && hashed === undefined) add('global.root-password', 'one of root-password or root-password-hashed is required');
    if (plain !== undefined && hashed !== undefined) add('global.root-password', 'root-password and root-password-hashed must not both be set');
    if (plain !== undefined && !(isString(plain) && plain.length >= 8)) add('global.root-password', 'must be at least 8 characters');
    if (hashed !== undefined && !(isString(hashed) && /^\$[^$]+\$\S+$/.test(hashed))) add('global.root-password-hashed', 'must be a crypt(3) hash');
    if (g['reboot-on-error'] !== undefined && typeof g['reboot-on-error'] !== 'boolean') add('global.reboot-on-error', 'must be true or false');
    if (g['reboot-mode'] !== undefined && !['reboot', 'power-off'].includes(g['reboot-mode'] as string)) add('global.reboot-mode', 'must be reboot or power-off');
    const keys = g['root-ssh-keys'];
    if (keys !== undefined && !(Array.isArray(keys) && keys.every(isString))) add('global.root-ssh-keys', 'must be a list of strings');
  }

  const n = isTable(answer.network) ? answer.network : undefined;
  if (n) {
    unknownKeys(n, 'network', allowedKeys.network!);
    if (n.source === 'from-dhcp') {
      for (const key of ['cidr', 'dns', 'gateway', 'filter']) if (n[key] !== undefined) add(`network.${key}`, 'not allowed with source = "from-dhcp"');
    } else if (n.source === 'from-answer') {
      for (const key of ['cidr', 'dns', 'gateway']) if (!isString(n[key])) add(`network.${key}`, 'required with source = "from-answer"');
      if (!(isTable(n.filter) && Object.keys(n.filter).length > 0)) add('network.filter', 'required (non-empty) with source = "from-answer"');
    } else {
      add('network.source', 'must be "from-dhcp" or "from-answer"');
    }
  }

  const d = isTable(answer['disk-setup']) ? answer['disk-setup'] : undefined;
  if (d) {
    unknownKeys(d, 'disk-setup', allowedKeys['disk-setup']!);
    const fs = d.filesystem;
    if (!['ext4', 'xfs', 'zfs', 'btrfs'].includes(fs as string)) add('disk-setup.filesystem', 'must be one of ext4 xfs zfs btrfs');
    const list = d['disk-list'];
    const hasList = list !== undefined;
    const hasFilter = d.filter !== undefined;
    if (hasList === hasFilter) add('disk-setup.disk-list', 'exactly one of disk-list or filter must be set');
    const disks = Array.isArray(list) ? list : [];
    if (hasList && !(Array.isArray(list) && list.length > 0 && list.every(isString))) add('disk-setup.disk-list', 'must be a non-empty list of disk names');
    if (new Set(disks).size !== disks.length) add('disk-setup.disk-list', 'lists the same disk twice');
    for (const sub of ['zfs', 'lvm', 'btrfs']) {
      if (d[sub] === undefined) continue;
      const matches = sub === fs || (sub === 'lvm' && (fs === 'ext4' || fs === 'xfs'));
      if (!matches) add(`disk-setup.${sub}`, `not allowed with filesystem = ${JSON.stringify(fs)}`);
      if (isTable(d[sub])) unknownKeys(d[sub] as Table, `disk-setup.${sub}`, allowedKeys[sub]!);
      else add(`disk-setup.${sub}`, 'must be a table');
    }
    if (fs === 'zfs' || fs === 'btrfs') {
      const raid = isTable(d[fs]) ? (d[fs] as Table).raid : undefined;
      const allowed: readonly string[] = fs === 'zfs' ? raidLevels : btrfsRaidLevels;
      if (!allowed.includes(raid as string)) add(`disk-setup.${fs}.raid`, `required, one of ${allowed.join(' ')} (lower-case)`);
      else if (hasList && disks.length < minDisks[raid as RaidLevel]) add(`disk-setup.${fs}.raid`, `${raid} needs at least ${minDisks[raid as RaidLevel]} disks, got ${disks.length}`);
    } else if ((fs === 'ext4' || fs === 'xfs') && hasList && disks.length !== 1) {
      add('disk-setup.disk-list', `${fs} installs to exactly one disk, got ${disks.length}`);
    }
  }

  const w = answer['post-installation-webhook'];
  if (w !== undefined) {
    if (!isTable(w)) add('post-installation-webhook', 'must be a table');
    else {
      unknownKeys(w, 'post-installation-webhook', allowedKeys['post-installation-webhook']!);
      const p = checkUrl(w.url);
      if (p) add('post-installation-webhook.url', p);
      const fp = checkFingerprint(w['cert-fingerprint']);
      if (fp) add('post-installation-webhook.cert-fingerprint', fp);
    }
  }

  const f = answer['first-boot'];
  if (f !== undefined) {
    if (!isTable(f)) add('first-boot', 'must be a table');
    else {
      unknownKeys(f, 'first-boot', allowedKeys['first-boot']!);
      if (!['from-url', 'from-iso'].includes(f.source as string)) add('first-boot.source', 'must be "from-url" or "from-iso"');
      if (f.ordering !== undefined && !['before-network', 'network-online', 'fully-up'].includes(f.ordering as string)) {
        add('first-boot.ordering', 'must be before-network, network-online or fully-up');
      }
      if (f.source === 'from-url') {
        const p = checkUrl(f.url);
        if (p) add('first-boot.url', p);
      }
      const fp = checkFingerprint(f['cert-fingerprint']);
      if (fp) add('first-boot.cert-fingerprint', fp);
    }
  }
  return problems;
}

/** A certificate fingerprint as the installer reads it: SHA-256, 64 hex digits, colons between pairs optional. */
function checkFingerprint(value: unknown): string | null {
  if (value === undefined) return null;
  if (typeof value !== 'string' || !/^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$|^[0-9A-Fa-f]{64}$/.test(value)) {
    return 'must be a SHA-256 fingerprint: 64 hex digits, colons between pairs optional';
  }
  return null;
}
