// A small LAN inside network namespaces the test creates: a bridge `br0` (the provisioning server is 10.78.0.1 on
// it), a "router" namespace handing out leases with its own dnsmasq (10.78.0.254), and a tap for a QEMU VM.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';

const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });

export interface PxeLab {
  lan: string; // namespace of the bridge, the service and the VM
  router: string;
  serverIp: string; // 10.78.0.1
  subnet: string; // 10.78.0.0/24
  inLan: string[]; // ['ip', 'netns', 'exec', lan]
  /** Runs a command inside the LAN namespace and returns its stdout. */
  run(...cmd: string[]): string;
  remove(): Promise<void>;
}

export async function createPxeLab(): Promise<PxeLab> {
  const id = randomBytes(3).toString('hex');
  const lan = `pxelan-${id}`;
  const router = `pxertr-${id}`;
  ip('netns', 'add', lan);
  ip('netns', 'add', router);
  let dhcp: ChildProcess | undefined;
  const remove = async () => {
    if (dhcp && dhcp.exitCode === null) {
      dhcp.kill('SIGTERM');
      await once(dhcp, 'exit');
    }
    for (const ns of [lan, router]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // already gone
      }
    }
  };
  try {
    for (const ns of [lan, router]) ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', lan, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', lan, 'addr', 'add', '10.78.0.1/24', 'dev', 'br0');
    ip('-n', lan, 'link', 'set', 'br0', 'up');
    ip('-n', lan, 'link', 'add', 'rtrport', 'type', 'veth', 'peer', 'name', 'rtr0', 'netns', router);
    ip('-n', lan, 'link', 'set', 'rtrport', 'master', 'br0', 'up');
    ip('-n', router, 'addr', 'add', '10.78.0.254/24', 'dev', 'rtr0');
    ip('-n', router, 'link', 'set', 'rtr0', 'up');
    ip('-n', lan, 'tuntap', 'add', 'tap0', 'mode', 'tap');
    ip('-n', lan, 'link', 'set', 'tap0', 'master', 'br0', 'up');
    // The LAN's router: a plain DHCP server handing out addresses, no PXE (that is our proxy's job).
    dhcp = spawn('ip', ['netns', 'exec', router, 'dnsmasq', '--keep-in-foreground', '--log-facility=-', '--port=0', '--interface=rtr0', '--bind-interfaces',
      '--dhcp-range=10.78.0.100,10.78.0.150,255.255.255.0,1h', '--dhcp-option=3,10.78.0.254', '--dhcp-leasefile=/dev/null', '--user=root'], { stdio: 'ignore' });
  } catch (err) {
    await remove();
    throw err;
  }
  return {
    lan,
    router,
    serverIp: '10.78.0.1',
    subnet: '10.78.0.0/24',
    inLan: ['ip', 'netns', 'exec', lan],
    run: (...cmd) => execFileSync('ip', ['netns', 'exec', lan, ...cmd], { encoding: 'utf8' }),
    remove,
  };
}

/** Boots a QEMU VM on the lab's tap (software emulation), BIOS (SeaBIOS + iPXE ROM) or UEFI (OVMF's own PXE). */
export function bootVm(lab: PxeLab, firmware: 'bios' | 'uefi', mac: string, varsFile: string): ChildProcess {
  const common = ['-accel', 'tcg', '-nographic', '-nodefaults', '-serial', 'stdio', '-no-reboot', '-netdev', 'tap,id=n0,ifname=tap0,script=no,downscript=no'];
  const args =
    firmware === 'bios'
      ? ['-machine', 'pc', '-m', '256', ...common, '-device', `virtio-net-pci,netdev=n0,mac=${mac}`, '-boot', 'n']
      : ['-machine', 'q35', '-m', '512', ...common,
          '-drive', 'if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd', '-drive', `if=pflash,format=raw,file=${varsFile}`,
          // romfile= leaves the NIC without iPXE, so OVMF's own PXE boots and must chainload ipxe.efi over TFTP.
          '-device', `virtio-net-pci,netdev=n0,mac=${mac},romfile=`];
  return spawn('ip', ['netns', 'exec', lab.lan, 'qemu-system-x86_64', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}
