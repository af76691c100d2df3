// What a first rebuild needs, item by item: each with its state, the exact key, an example value and where to set it.
// The Setup page and GET /api/setup show it; a rebuild is refused while a required item is missing.
import { connect } from 'node:net';
import { join } from 'node:path';
import { ipxeBuildOf, uefiInitrdProblem } from '../pxe/ipxe-build';
import type { Config } from './load-config';

export interface SetupItem {
  id: string; // root_password_hash
  title: string; // Root password of the installed system
  label: string; // what a refused rebuild names: credentials.root_password_hash
  required: boolean; // a rebuild is refused without it
  ok: boolean;
  detail: string; // what is there, or what is missing
  key: string | null; // credentials.root_password_hash
  example: string | null; // $6$rounds=…$… (mkpasswd -m sha-512)
  where: string; // provisioning.yaml, or the environment variable
}

/** The facts about the running service the checks need beyond the config. */
export interface SetupFacts {
  images: string[]; // names of the complete boot images
  unusableImages?: string[]; // those prepared for another answer URL or certificate (their installers cannot fetch an answer)
  clusterReachable: { ok: boolean; detail: string } | null; // null: no existing node to try
  uefiIpxeProblem?: string | null; // with pxe.enabled: why UEFI hosts' iPXE cannot start the installer (null: it can)
}

/** Every setup item, in the order a new user works through them. */
export function setupItems(config: Readonly<Config>, facts: SetupFacts): SetupItem[] {
  const file = config.file;
  const p = config.proxmox;
  const stale = facts.unusableImages ?? [];
  const current = facts.images.filter((i) => !stale.includes(i));
  return [
    {
      id: 'root_password_hash',
      label: 'credentials.root_password_hash',
      title: 'Root password of the installed system',
      required: true,
      ok: config.credentials.rootPasswordHash !== '',
      detail: config.credentials.rootPasswordHash ? 'set (a SHA-512 crypt hash)' : 'empty: the installer needs a root password hash',
      key: 'credentials.root_password_hash',
      example: '$6$…  (make one with: mkpasswd -m sha-512)',
      where: file,
    },
    {
      id: 'existing_node',
      label: 'proxmox.existing_node',
      title: 'A cluster member to join through',
      required: true,
      ok: p.existingNode !== '',
      detail: p.existingNode ? `${p.existingNode}` : 'empty: the address of a node already in the cluster (create the cluster there first with pvecm create)',
      key: 'proxmox.existing_node',
      example: '192.168.1.21',
      where: file,
    },
    {
      id: 'join_fingerprint',
      label: 'proxmox.join_fingerprint',
      title: "That member's certificate fingerprint",
      required: true,
      ok: p.joinFingerprint !== '',
      detail: p.joinFingerprint ? p.joinFingerprint : 'empty: pvecm add checks the member is the one you mean by it',
      key: 'proxmox.join_fingerprint',
      example: 'AB:CD:…  (on the member: pvenode cert info, or openssl x509 -in /etc/pve/local/pve-ssl.pem -noout -fingerprint -sha256)',
      where: file,
    },
    {
      id: 'join_password',
      label: 'proxmox.join_password (or PROVISIONING_JOIN_PASSWORD)',
      title: "That member's root password",
      required: true,
      ok: p.joinPassword !== '',
      detail: p.joinPassword ? 'set' : 'empty: pvecm add asks for it',
      key: 'proxmox.join_password',
      example: 'export PROVISIONING_JOIN_PASSWORD=…',
      where: `the environment variable PROVISIONING_JOIN_PASSWORD (preferred), or ${file}`,
    },
    {
      id: 'cluster_reachable',
      label: `a reachable cluster member`,
      title: 'The cluster member answers',
      required: false,
      ok: facts.clusterReachable?.ok ?? false,
      detail: facts.clusterReachable?.detail ?? 'not checked: proxmox.existing_node is empty',
      key: null,
      example: null,
      where: `the network between this service and ${p.existingNode || 'the member'} (SSH port ${p.sshPort})`,
    },
    {
      id: 'boot_image',
      label: current.length === 0 && stale.length > 0 ? `a boot image prepared for the answer URL and certificate of now (${stale.join(', ')}: prepare again on the Images page)` : `a boot image in ${config.images.dir}`,
      title: 'A boot image',
      required: true,
      ok: current.length > 0,
      detail:
        facts.images.length === 0
          ? `none in ${config.images.dir}: prepare one from a stock Proxmox VE ISO`
          : stale.length === 0
            ? facts.images.join(', ')
            : `${facts.images.join(', ')}; stale (prepared for another answer URL or certificate, so their installers cannot fetch an answer): ${stale.join(', ')}: prepare ${stale.length === 1 ? 'it' : 'them'} again on the Images page`,
      key: null,
      example: 'https://enterprise.proxmox.com/iso/proxmox-ve_9.1-1.iso',
      where: 'the Images page (/images), POST /api/images, or make image ISO=…',
    },
    {
      id: 'pxe',
      label: 'pxe.enabled',
      title: 'PXE on the hosts’ network',
      required: false,
      ok: config.pxe.enabled,
      detail: config.pxe.enabled ? `dnsmasq on ${config.pxe.interface} (${config.pxe.subnet})` : 'off: hosts must be pointed at /ipxe/<mac> by your own DHCP server',
      key: 'pxe.enabled, pxe.interface, pxe.subnet',
      example: 'enabled: true, interface: eth0, subnet: 192.168.1.0/24',
      where: file,
    },
    ...(config.pxe.enabled
      ? [
          {
            id: 'uefi_ipxe',
            label: 'an iPXE for UEFI hosts',
            title: 'iPXE for UEFI hosts',
            required: false,
            ok: !facts.uefiIpxeProblem,
            detail: facts.uefiIpxeProblem ?? `${join(config.pxe.tftpRoot, 'ipxe.efi')} hands UEFI kernels their initrds`,
            key: 'pxe.tftp_root',
            example: '/usr/lib/ipxe (Debian trixie\u2019s ipxe package)',
            where: file,
          },
        ]
      : []),
  ];
}

/** The required items that are missing, as the refusal of a rebuild names them. */
export function missingForRebuild(items: readonly SetupItem[]): SetupItem[] {
  return items.filter((i) => i.required && !i.ok);
}

/** The setup items with the cluster member probed: a TCP connect to its SSH port, at most `timeoutMs`. */
export async function checkSetup(config: Readonly<Config>, images: string[], timeoutMs = 2_000, unusableImages: string[] = []): Promise<SetupItem[]> {
  const { existingNode, sshPort } = config.proxmox;
  const clusterReachable = existingNode ? await probeTcp(existingNode, sshPort, timeoutMs) : null;
  return setupItems(config, { images, unusableImages, clusterReachable, uefiIpxeProblem: config.pxe.enabled ? uefiIpxeProblem(config.pxe.tftpRoot) : null });
}

/** Why the ipxe.efi in `tftpRoot` cannot start the installer on UEFI hosts, or null. */
export function uefiIpxeProblem(tftpRoot: string): string | null {
  const file = join(tftpRoot, 'ipxe.efi');
  try {
    return uefiInitrdProblem(file, ipxeBuildOf(file));
  } catch (err) {
    return `${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
  }
}

function probeTcp(host: string, port: number, timeoutMs: number): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    const done = (ok: boolean, detail: string) => {
      socket.destroy();
      resolve({ ok, detail });
    };
    socket.once('connect', () => done(true, `${host} accepts connections on port ${port}`));
    socket.once('timeout', () => done(false, `${host}:${port} did not answer within ${timeoutMs / 1000} s`));
    socket.once('error', (err) => done(false, `${host}:${port}: ${err.message}`));
  });
}
