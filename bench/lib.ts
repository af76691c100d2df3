// Shared bits of the benchmarks: fixtures, process memory, percentiles, tables. Benchmarks run from dist/ (npm run
// bench:*), never in `make test`.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';

/** Resident memory of a process, in MB (from /proc). */
export function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Math.round(Number(line?.split(/\s+/)[1] ?? 0) / 1024);
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Prints a Markdown table. */
export function table(headers: string[], rows: Array<Array<string | number>>): string {
  const out = [`| ${headers.join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
  process.stdout.write(`${out}\n\n`);
  return out;
}

/** BENCH_NODE_FLAGS: extra Node flags for the service processes, for experiments (none by default: Node's defaults). */
export const serviceNodeFlags = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);

/** Starts a child Node script (with BENCH_NODE_FLAGS, if any); resolves once it prints a line matching `ready`. */
export function startChild(
  script: string,
  args: string[],
  ready: RegExp,
  options: { nodeFlags?: string[] } = {},
): Promise<{ child: ChildProcess; line: string }> {
  // BENCH_PROFILE_DIR: a V8 CPU profile of the child (the gateway under test) is written there when it exits.
  const profile = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROFILE_DIR] : [];
  const child = spawn(process.execPath, [...serviceNodeFlags, ...(options.nodeFlags ?? []), ...profile, script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.on('data', (b: Buffer) => process.stderr.write(b));
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (ready.test(line)) resolve({ child, line });
    });
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code} before it was ready`)));
  });
}

export function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** Machine facts for RESULTS.md. */
export function machine(): string {
  const cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? 'unknown CPU';
  const cores = readFileSync('/proc/cpuinfo', 'utf8').match(/^processor/gm)?.length ?? 0;
  const mem = Math.round(Number(readFileSync('/proc/meminfo', 'utf8').match(/MemTotal:\s+(\d+)/)?.[1] ?? 0) / 1024 / 1024);
  return `${cores} cores (${cpu}), ${mem} GiB, Node ${process.version}; service: node ${serviceNodeFlags.join(' ') || "(Node's defaults)"}`;
}

/** The MAC of simulated host `i` (52:54:00:xx:xx:xx, QEMU's prefix). */
export const benchMac = (i: number) =>
  `52:54:00:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;

/** What the Proxmox installer POSTs to fetch its answer (proxmox.md §2.2), for a host whose first NIC is `mac`. */
export function systemInfo(mac: string): string {
  return JSON.stringify({
    $schema: { version: '1.0' },
    product: { fullname: 'Proxmox VE', product: 'pve', enable_btrfs: true },
    iso: { release: '9.1', isorelease: '1' },
    dmi: { system: { serial: 'S/N 0042', sku: 'MS-01', uuid: '4c4c4544-0042-3510-8052-b4c04f4e3732', name: 'Venus series' }, baseboard: { serial: 'M80-D1' }, chassis: { serial: 'x' } },
    network_interfaces: [
      { link: 'enp2s0', mac: mac.toUpperCase() },
      { link: 'enp3s0f0', mac: '58:47:CA:00:00:01' },
      { link: 'wlp4s0', mac: '58:47:CA:00:00:02' },
    ],
  });
}

/** Calls `onBlock` with each complete server-sent event (the text before a blank line) as `res` delivers it. */
export function onSseBlocks(res: IncomingMessage, onBlock: (block: string) => void): void {
  res.setEncoding('utf8');
  let buffer = '';
  res.on('data', (chunk: string) => {
    buffer += chunk;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      onBlock(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
    }
  });
}
