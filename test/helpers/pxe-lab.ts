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

/** A VM booted by bootVm: its QEMU process and what it printed on its serial port (QEMU's stdout). */
export interface PxeVm {
  process: ChildProcess;
  /** Everything the serial port printed so far. */
  serial(): string;
  /** Resolves when the serial output matches `pattern`; rejects after `ms` or when QEMU exits first. */
  waitForSerial(pattern: RegExp, ms: number): Promise<void>;
  kill(): void;
}

/**
 * Boots a QEMU VM on the lab's tap (software emulation), BIOS (SeaBIOS + iPXE ROM) or UEFI (OVMF's own PXE), with
 * 512 MiB: enough for a distribution kernel, its initramfs and a small ISO loaded as a second initrd.
 */
export function bootVm(lab: PxeLab, firmware: 'bios' | 'uefi', mac: string, varsFile: string): PxeVm {
  const common = ['-accel', 'tcg', '-m', '512', '-nographic', '-nodefaults', '-serial', 'stdio', '-no-reboot', '-netdev', 'tap,id=n0,ifname=tap0,script=no,downscript=no'];
  const args =
    firmware === 'bios'
      ? ['-machine', 'pc', ...common, '-device', `virtio-net-pci,netdev=n0,mac=${mac}`, '-boot', 'n']
      : ['-machine', 'q35', ...common,
          '-drive', 'if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd', '-drive', `if=pflash,format=raw,file=${varsFile}`,
          // romfile= leaves the NIC without iPXE, so OVMF's own PXE boots and must chainload ipxe.efi over TFTP.
          '-device', `virtio-net-pci,netdev=n0,mac=${mac},romfile=`];
  const child = spawn('ip', ['netns', 'exec', lab.lan, 'qemu-system-x86_64', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let serial = '';
  let stderr = '';
  let closed = false; // 'close', not 'exit': the last serial bytes (written just before power-off) are read by then
  child.once('close', () => (closed = true));
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (serial += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const tail = () => `serial output (last 2000 characters):\n${serial.slice(-2000)}${stderr ? `\nqemu stderr:\n${stderr.slice(-1000)}` : ''}`;
  return {
    process: child,
    serial: () => serial,
    waitForSerial: (pattern, ms) =>
      new Promise((resolveWait, reject) => {
        const check = () => {
          if (!pattern.test(serial)) return;
          settle();
          resolveWait();
        };
        const exited = () => {
          settle();
          reject(new Error(`QEMU exited (${child.exitCode ?? child.signalCode}) before its serial output matched ${pattern}; ${tail()}`));
        };
        const timer = setTimeout(() => {
          settle();
          reject(new Error(`no serial output matching ${pattern} within ${ms} ms; ${tail()}`));
        }, ms);
        const settle = () => {
          clearTimeout(timer);
          child.stdout!.off('data', check);
          child.off('close', exited);
        };
        child.stdout!.on('data', check);
        child.once('close', exited);
        check();
        if (closed && !pattern.test(serial)) exited();
      }),
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
