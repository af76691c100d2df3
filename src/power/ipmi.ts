// IPMI over LAN through Debian's `ipmitool -I lanplus` (proxmox-cluster.md §4). The password goes to ipmitool only
// in the environment (`-E` reads IPMI_PASSWORD): never `-P`, which every user sees in the process list. ipmitool
// prints its failures as prose on stderr, so the errors are classified from that text (read with -v, which names
// the RAKP failure) and from the exit status.
import { execFile } from 'node:child_process';
import { PowerError, type PowerAction, type PowerDriver, type PowerOutcome, type PowerState, type PowerTarget } from './types';

type IpmiTarget = Extract<PowerTarget, { method: 'ipmi' }>;

export interface IpmiOptions {
  hostLabel: string; // the host the errors name: pve-ms-12
  binary?: string; // /usr/bin/ipmitool
  timeoutMs?: number; // one ipmitool run, all its retries included: 20 000
  requestTimeoutS?: number; // ipmitool -N: seconds per request: 2
  retries?: number; // ipmitool -R: 2
  settleMs?: number; // how long to wait for the power state an action leads to before reporting it: 5 000
  cipherSuite?: number; // ipmitool -C; unset: ipmitool asks the BMC (Get Channel Cipher Suites) and picks 17, else 3
}

/** How one ipmitool run is started: the file, its argv (never the password) and its environment (the password). */
export interface IpmitoolInvocation {
  file: string;
  args: string[];
  env: Record<string, string>;
}

export const defaultIpmitool = '/usr/bin/ipmitool';

/** Returns how `ipmitool … <command>` is run for `target`: the password only in IPMI_PASSWORD. */
export function ipmitoolInvocation(target: IpmiTarget, command: readonly string[], o: Omit<IpmiOptions, 'hostLabel'> = {}): IpmitoolInvocation {
  const args = [
    '-I', 'lanplus',
    '-H', target.address,
    '-p', String(target.port),
    '-U', target.username,
    '-E', // the password from IPMI_PASSWORD
    '-L', 'OPERATOR', // power and boot options need no more than Operator (IPMI 2.0 table G-1)
    '-N', String(o.requestTimeoutS ?? 2),
    '-R', String(o.retries ?? 2),
    ...(o.cipherSuite === undefined ? [] : ['-C', String(o.cipherSuite)]),
    '-v', // names the RAKP failure (wrong password vs unknown user), which ipmitool otherwise hides
    ...command,
  ];
  // LC_ALL=C: the messages classified below are ipmitool's English ones
  return { file: o.binary ?? defaultIpmitool, args, env: { IPMI_PASSWORD: target.password, LC_ALL: 'C' } };
}

/** Returns what `chassis bootparam get 5` says is set for all future boots, or null when the flags are one-time or invalid. */
export function persistentBootFlag(output: string): string | null {
  // "Boot Flag Invalid" means no override at all; the persistence bit is then meaningless (openbmc decodes it so too)
  if (/Boot Flag Invalid/i.test(output) || !/Options apply to all future boots/i.test(output)) return null;
  const device = /Boot Device Selector\s*:\s*(.+)/i.exec(output)?.[1]?.trim() ?? 'an unknown device';
  if (/no override/i.test(device)) return null;
  return `IPMI: boot device "${device}" is set persistent, for all future boots (chassis bootparam get 5)`;
}

// ipmitool's chatter on stderr that says nothing about the outcome (its probes of OEM extensions at session start).
const noise = [/^Loading IANA PEN Registry/i, /^Unable to Get Channel Cipher Suites/i, /^Running Get VSO Capabilities/i, /^Invalid completion code received:/i, /^Discovered IPMB address/i, /^Get HPM\.x Capabilities request failed/i];

const authFailures: Array<[RegExp, string]> = [
  [/RAKP 2 HMAC is invalid/i, 'wrong password'],
  [/unauthorized name/i, 'unknown user'],
  [/Set Session Privilege Level .* failed|failed: Insufficient privilege level/i, 'the BMC user lacks the Operator privilege'],
  [/RAKP \d.*(invalid|error)|Activate Session/i, 'credentials refused'],
];
const unreachable = /Get Auth Capabilities error|Get Channel Authentication Capabilities|Address lookup for .* failed|Could not open socket|No response from remote controller|Unable to establish IPMI/i;

/** A host's BMC driven with ipmitool. */
export class IpmiDriver implements PowerDriver {
  readonly method = 'ipmi' as const;

  constructor(
    private readonly target: IpmiTarget,
    private readonly o: IpmiOptions,
  ) {}

  private get where(): string {
    return `${this.o.hostLabel}: IPMI at ${this.target.address}:${this.target.port}`;
  }

  async status(): Promise<PowerState> {
    const { stdout } = await this.run(['chassis', 'power', 'status']);
    const state = /Chassis Power is (on|off)/i.exec(stdout)?.[1]?.toLowerCase();
    if (state !== 'on' && state !== 'off') throw new PowerError('refused', `${this.where}: unexpected answer to chassis power status: ${firstLine(stdout)}`);
    return state;
  }

  async intoInstaller(): Promise<PowerOutcome> {
    const before = await this.status();
    // Power-cycle right after setting the boot device: BMCs drop the flag after about 60 s (proxmox-cluster.md §4).
    const boot = await this.pxeOnce();
    return this.powerUp(before, `IPMI: one-time PXE boot set${boot}`);
  }

  async act(action: PowerAction): Promise<PowerOutcome> {
    switch (action) {
      case 'on':
        await this.run(['chassis', 'power', 'on']);
        return { did: 'IPMI: power on sent', state: await this.settle('on') };
      case 'off':
        await this.run(['chassis', 'power', 'off']);
        return { did: 'IPMI: power off sent', state: await this.settle('off') };
      case 'cycle':
        return this.powerUp(await this.status(), 'IPMI:');
      case 'pxe-once': {
        const boot = await this.pxeOnce();
        return { did: `IPMI: one-time PXE boot set${boot}; the next boot takes it`, state: await this.status() };
      }
    }
  }

  async test(): Promise<PowerOutcome> {
    const state = await this.status();
    // Read-only: setting the boot device would change the machine; reading the boot flags shows the BMC serves them.
    const { stdout, stderr } = await this.run(['chassis', 'bootparam', 'get', '5']);
    if (!/Boot parameter version/i.test(stdout)) {
      throw new PowerError('refused', `${this.where}: the BMC does not answer its boot flags (chassis bootparam get 5): ${reasonOf(stderr, stdout)}`);
    }
    return { did: `IPMI: BMC at ${this.target.address}:${this.target.port} accepts user ${this.target.username}, power is ${state}, boot flags readable`, state };
  }

  async persistentOverride(): Promise<string | null> {
    const { stdout, stderr } = await this.run(['chassis', 'bootparam', 'get', '5']);
    if (!/Boot parameter version/i.test(stdout)) {
      throw new PowerError('refused', `${this.where}: the BMC does not answer its boot flags (chassis bootparam get 5): ${reasonOf(stderr, stdout)}`);
    }
    return persistentBootFlag(stdout);
  }

  /** Power cycle when on, power on when off; returns what was done after `prefix`. */
  private async powerUp(before: PowerState, prefix: string): Promise<PowerOutcome> {
    const sep = prefix.endsWith(':') ? ' ' : ', ';
    if (before === 'off') {
      await this.run(['chassis', 'power', 'on']);
      return { did: `${prefix}${sep}power on sent (it was off)`, state: await this.settle('on') };
    }
    await this.run(['chassis', 'power', 'cycle']);
    return { did: `${prefix}${sep}power cycle sent`, state: await this.settle('on') };
  }

  /** Sets the one-time network boot, UEFI first; returns how it was set, for the outcome. */
  private async pxeOnce(): Promise<string> {
    // Without `persistent` the flag holds for the next boot only.
    const uefi = await this.run(['chassis', 'bootdev', 'pxe', 'options=efiboot']);
    if (/Set Boot Device to pxe/i.test(uefi.stdout)) return ' (UEFI)';
    // Older BMCs reject the EFI bit of the boot flags; the legacy flag still network-boots a BIOS or CSM machine.
    const legacy = await this.run(['chassis', 'bootdev', 'pxe']);
    if (/Set Boot Device to pxe/i.test(legacy.stdout)) return ` (legacy BIOS boot: the BMC refused options=efiboot: ${reasonOf(uefi.stderr, uefi.stdout)})`;
    throw new PowerError('refused', `${this.where}: the BMC refused the one-time network boot (chassis bootdev pxe): ${reasonOf(legacy.stderr, legacy.stdout)}`);
  }

  /** Polls the power state until it is `expected` or settleMs passed; returns the last one read. */
  private async settle(expected: PowerState): Promise<PowerState> {
    const until = Date.now() + (this.o.settleMs ?? 5_000);
    for (;;) {
      const state = await this.status();
      if (state === expected || Date.now() >= until) return state;
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Runs one ipmitool command; a failure to talk to the BMC is a PowerError naming the address and the method. */
  private run(command: readonly string[]): Promise<{ stdout: string; stderr: string }> {
    const { file, args, env } = ipmitoolInvocation(this.target, command, this.o);
    const timeout = this.o.timeoutMs ?? 20_000;
    const what = command.join(' ');
    return new Promise((resolve, reject) => {
      execFile(file, args, { env, timeout, killSignal: 'SIGKILL', encoding: 'utf8' }, (err, stdout, stderr) => {
        if (!err) return resolve({ stdout, stderr });
        const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: number | string };
        if (e.code === 'ENOENT') return reject(new PowerError('not_configured', `${this.where}: ${file} not found: install ipmitool (apt-get install ipmitool)`));
        if (e.killed) return reject(new PowerError('unreachable', `${this.where}: no answer to ${what} within ${timeout / 1000} s`));
        for (const [pattern, reason] of authFailures) {
          if (pattern.test(stderr)) return reject(new PowerError('auth_failed', `${this.where}: user ${this.target.username} not accepted (${reason}): ${reasonOf(stderr, stdout)}`));
        }
        if (unreachable.test(stderr)) return reject(new PowerError('unreachable', `${this.where}: the BMC does not answer (${what}): ${reasonOf(stderr, stdout)}`));
        reject(new PowerError('refused', `${this.where}: ${what} failed: ${reasonOf(stderr, stdout)}`));
      });
    });
  }
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0] ?? '';
}

/** ipmitool's own reason, without its chatter: the meaningful stderr lines, else stdout's first line. */
function reasonOf(stderr: string, stdout: string): string {
  const lines = stderr.split('\n').map((l) => l.trim().replace(/^> /, '')).filter((l) => l && !noise.some((n) => n.test(l)));
  return (lines.length > 0 ? lines.join('; ') : firstLine(stdout)) || 'no reason given';
}
