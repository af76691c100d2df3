import { describe, expect, it } from 'vitest';
import { renderInstallScript, renderLocalBootScript } from '../../src/boot/ipxe-script';

describe('renderInstallScript', () => {
  it('loads kernel, initrd and the ISO as proxmox.iso with the minimal auto-install kernel line', () => {
    expect(
      renderInstallScript({
        hostname: 'pve-ms-03',
        mac: 'aa:bb:cc:dd:ee:03',
        imageName: 'pve-9.1',
        kernelUrl: 'http://192.168.1.100:8080/images/pve-9.1/vmlinuz',
        initrdUrl: 'http://192.168.1.100:8080/images/pve-9.1/initrd.img',
        isoUrl: 'http://192.168.1.100:8080/images/pve-9.1/proxmox-ve_9.1-auto-from-http.iso',
      }),
    ).toBe(
      [
        '#!ipxe',
        '# Provisioning: install Proxmox VE on pve-ms-03 (aa:bb:cc:dd:ee:03) from image pve-9.1',
        'echo Provisioning: installing Proxmox VE on pve-ms-03 from image pve-9.1',
        'kernel http://192.168.1.100:8080/images/pve-9.1/vmlinuz ramdisk_size=16777216 rw quiet splash=silent proxmox-start-auto-installer',
        'initrd http://192.168.1.100:8080/images/pve-9.1/initrd.img',
        'initrd http://192.168.1.100:8080/images/pve-9.1/proxmox-ve_9.1-auto-from-http.iso proxmox.iso',
        'boot',
        '',
      ].join('\n'),
    );
  });
});

describe('renderLocalBootScript', () => {
  it('exits to the firmware on UEFI and sanboots the first disk on BIOS, falling back to exit', () => {
    expect(renderLocalBootScript()).toBe(
      [
        '#!ipxe',
        '# Provisioning: this machine has no rebuild waiting for it; boot from the local disk',
        'echo Provisioning: no rebuild for ${mac}; booting from local disk',
        'iseq ${platform} efi && exit ||',
        'sanboot --no-describe --drive 0x80 || exit',
        '',
      ].join('\n'),
    );
  });
});
