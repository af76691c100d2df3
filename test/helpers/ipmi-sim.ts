// A real IPMI LAN BMC for the tests: Debian's `ipmi_sim` (package openipmi) on a free UDP port on 127.0.0.1, with a
// generated lan.conf (one user, RMCP+), a command file adding the BMC, and a `chassis_control` script (ipmi_sim's
// hook for power and boot device, see lanserv/ipmi_sim_chassiscontrol in OpenIPMI) that keeps the "machine" in
// files: its power (1/0), the boot device ipmi_sim passes on (pxe, default, none, cdrom, bios) and a log of every
// call. ipmi_sim keeps only the device of the boot flags (not the persistent or EFI bits) and answers them back as
// "Boot Flag Invalid", so persistence cannot be seen on it; a power cycle is off, then on after 1 s.
import { execFileSync, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, readFileSync, rmSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './temp-dir';

export const ipmiSimBinary = '/usr/bin/ipmi_sim';
/**
 * The RMCP+ cipher suite to name to ipmitool (-C): ipmi_sim has 3 (HMAC-SHA1, AES-128) but not 17, and does not answer
 * Get Channel Cipher Suites, so without -C each ipmitool run waits one request timeout before it falls back to 3.
 */
export const ipmiSimCipherSuite = 3;

export interface IpmiSimOptions {
  username?: string; // admin
  password?: string; // a random one
  power?: 'on' | 'off'; // on
}

export interface IpmiSim {
  address: string; // 127.0.0.1
  port: number;
  username: string;
  password: string;
  /** The machine's power as the chassis script holds it. */
  power(): 'on' | 'off';
  /** The boot device last set through IPMI (ipmi_sim's names: pxe, default, none, cdrom, bios). */
  bootDevice(): string;
  /** Every chassis_control call, in order: "get power", "set boot pxe", "set power 0". */
  calls(): string[];
  /** From now on, the chassis refuses to set a boot device (ipmi_sim then answers "Unspecified error"). */
  refuseBootdev(refuse: boolean): void;
  stop(): Promise<void>;
}

// Power and boot device in files; a set of `boot` fails while the refuse-boot file exists.
const chassisScript = (dir: string) => `#!/bin/sh
dir='${dir}'
shift
op=$1; shift
echo "$op $*" >> "$dir/calls"
case $op in
  get)
    for p in "$@"; do
      case $p in
        power) echo "power:$(cat "$dir/power")";;
        boot) echo "boot:$(cat "$dir/boot")";;
        *) echo "Invalid parameter: $p"; exit 1;;
      esac
    done;;
  set)
    while [ $# -gt 1 ]; do
      case $1 in
        power) echo "$2" > "$dir/power";;
        reset) ;;
        boot) if [ -e "$dir/refuse-boot" ]; then echo "boot device refused"; exit 1; fi; echo "$2" > "$dir/boot";;
        *) echo "Invalid parameter: $1"; exit 1;;
      esac
      shift 2
    done;;
  *) echo "Unknown operation: $op"; exit 1;;
esac
`;

async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(resolve));
  return port;
}

function listening(port: number): boolean {
  return execFileSync('ss', ['-Huln', `sport = :${port}`], { encoding: 'utf8' }).trim() !== '';
}

/** Starts ipmi_sim with one Administrator user and a powered machine; stop() kills it and removes its files. */
export async function startIpmiSim(options: IpmiSimOptions = {}): Promise<IpmiSim> {
  if (!existsSync(ipmiSimBinary)) throw new Error(`${ipmiSimBinary} not found: install Debian's openipmi and ipmitool (make test does, as root)`);
  const username = options.username ?? 'admin';
  const password = options.password ?? `pw${Math.random().toString(36).slice(2, 12)}`;
  const tmp = tempDir('ipmi-sim-');
  const dir = tmp.path;
  mkdirSync(join(dir, 'state'));
  writeFileSync(join(dir, 'power'), options.power === 'off' ? '0\n' : '1\n');
  writeFileSync(join(dir, 'boot'), 'default\n');
  writeFileSync(join(dir, 'calls'), '');
  writeFileSync(join(dir, 'chassis'), chassisScript(dir));
  chmodSync(join(dir, 'chassis'), 0o755);
  const port = await freeUdpPort();
  writeFileSync(
    join(dir, 'lan.conf'),
    [
      'name "provisioning-test"',
      'set_working_mc 0x20',
      '  startlan 1',
      `    addr 127.0.0.1 ${port}`,
      '    priv_limit admin',
      '    allowed_auths_callback md5',
      '    allowed_auths_user md5',
      '    allowed_auths_operator md5',
      '    allowed_auths_admin md5',
      '    guid a123456789abcdefa123456789abcdef',
      '  endlan',
      `  chassis_control "${join(dir, 'chassis')} 0x20"`,
      `  user 2 true "${username}" "${password}" admin 10 md5`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'bmc.emu'), 'mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\nmc_enable 0x20\n');

  const child = spawn(ipmiSimBinary, ['-c', join(dir, 'lan.conf'), '-f', join(dir, 'bmc.emu'), '-s', join(dir, 'state'), '-n'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
      await exited;
      clearTimeout(timer);
    }
    tmp.remove();
  };
  const deadline = Date.now() + 10_000;
  while (!listening(port)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`ipmi_sim did not listen on 127.0.0.1:${port}: ${stderr.trim() || 'no output'}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  const read = (name: string) => readFileSync(join(dir, name), 'utf8').trim();
  return {
    address: '127.0.0.1',
    port,
    username,
    password,
    power: () => (read('power') === '1' ? 'on' : 'off'),
    bootDevice: () => read('boot'),
    calls: () => read('calls').split('\n').filter(Boolean),
    refuseBootdev: (refuse) => (refuse ? writeFileSync(join(dir, 'refuse-boot'), '') : rmSync(join(dir, 'refuse-boot'), { force: true })),
    stop,
  };
}
