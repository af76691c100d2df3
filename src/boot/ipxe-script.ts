// iPXE scripts served at /ipxe/{mac}: the installer for a host whose rebuild awaits PXE, local disk for anything else.

/** What the install script needs. */
export interface InstallScriptInput {
  hostname: string; // pve-ms-03
  mac: string; // aa:bb:cc:dd:ee:03
  imageName: string; // pve-9.1
  kernelUrl: string; // http://192.168.1.100:8080/images/pve-9.1/vmlinuz
  initrdUrl: string; // http://192.168.1.100:8080/images/pve-9.1/initrd.img
  isoUrl: string; // http://192.168.1.100:8080/images/pve-9.1/proxmox-ve_9.1-auto-from-http.iso
}

// Keep the kernel line minimal: the installer copies unknown parameters into the installed system's command line
// (proxmox.md §5). The ISO goes into the initramfs as /proxmox.iso, as Proxmox's own PXE files do.
const kernelArgs = 'ramdisk_size=16777216 rw quiet splash=silent proxmox-start-auto-installer';

/** Returns the iPXE script that boots the Proxmox auto-installer from the host's image. */
export function renderInstallScript(i: InstallScriptInput): string {
  return [
    '#!ipxe',
    `# Provisioning: install Proxmox VE on ${i.hostname} (${i.mac}) from image ${i.imageName}`,
    `echo Provisioning: installing Proxmox VE on ${i.hostname} from image ${i.imageName}`,
    `kernel ${i.kernelUrl} ${kernelArgs}`,
    `initrd ${i.initrdUrl}`,
    `initrd ${i.isoUrl} proxmox.iso`,
    'boot',
    '',
  ].join('\n');
}

/**
 * Returns the iPXE script that leaves network boot for the local disk: `exit` hands control back to the firmware's
 * next boot entry (UEFI); on BIOS, sanboot of the first disk, falling back to `exit`.
 */
export function renderLocalBootScript(): string {
  return [
    '#!ipxe',
    '# Provisioning: this machine has no rebuild waiting for it; boot from the local disk',
    'echo Provisioning: no rebuild for ${mac}; booting from local disk',
    'iseq ${platform} efi && exit ||',
    'sanboot --no-describe --drive 0x80 || exit',
    '',
  ].join('\n');
}
