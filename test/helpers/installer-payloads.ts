// Realistic bodies of what the Proxmox installer sends (proxmox.md §2.2 and §3), for the boot-flow tests.

/** The answer-fetch body: system info with several NICs; 9.2+ serialises MACs upper-case. */
export function answerRequest(macs: string[], upperCase = true) {
  return {
    $schema: { version: '1.0' },
    product: { fullname: 'Proxmox VE', product: 'pve', enable_btrfs: true },
    iso: { release: '9.1', isorelease: '1' },
    dmi: {
      system: { serial: 'S/N 0042', sku: 'MS-01', uuid: '4c4c4544-0042-3510-8052-b4c04f4e3732', name: 'Venus series' },
      baseboard: { asset_tag: 'Default string', serial: 'M80-D1', name: 'AHWSA' },
      chassis: { serial: 'Default string', sku: 'Default string', asset_tag: 'Default string' },
    },
    network_interfaces: macs.map((mac, i) => ({ link: i === 0 ? 'enp2s0' : `enp${i + 2}s0f${i}`, mac: upperCase ? mac.toUpperCase() : mac })),
  };
}

/** The post-installation webhook body (schema 1.2). */
export function installedWebhook(opts: { mac: string; address: string; hostKeys: Record<string, string>; machineId: string }) {
  return {
    $schema: { version: '1.2' },
    'debian-version': '13.1',
    product: { fullname: 'Proxmox VE', short: 'pve', version: '9.1.1' },
    iso: { release: '9.1', isorelease: '1' },
    'kernel-version': { sysname: 'Linux', release: '6.17.2-1-pve', version: '#1 SMP PREEMPT_DYNAMIC PMX 6.17.2-1', machine: 'x86_64' },
    'boot-info': { mode: 'efi', secureboot: true },
    'cpu-info': { cores: 14, cpus: 20, flags: 'fpu vme de pse', hvm: true, model: '13th Gen Intel(R) Core(TM) i9-13900H', sockets: 1 },
    dmi: { system: { uuid: '4c4c4544-0042-3510-8052-b4c04f4e3732', serial: 'S/N 0042' }, baseboard: {}, chassis: {} },
    filesystem: 'zfs (RAID0)',
    fqdn: 'pve-ms-03.lab.example',
    'machine-id': opts.machineId,
    disks: [{ size: 1000204886016, 'is-bootdisk': true, 'udev-properties': { DEVNAME: '/dev/nvme0n1', ID_MODEL: 'Samsung SSD 990 PRO 1TB' } }],
    'network-interfaces': [
      { name: 'enp2s0', mac: opts.mac, address: opts.address, 'is-management': true, 'is-pinned': true, 'udev-properties': { INTERFACE: 'enp2s0' } },
      { name: 'enp3s0f0', mac: '58:47:ca:00:00:02', 'udev-properties': { INTERFACE: 'enp3s0f0' } },
    ],
    'ssh-public-host-keys': opts.hostKeys,
    'reboot-mode': 'reboot',
  };
}
