// Benchmark 2: concurrent rebuilds end to end. N simulated hosts (default 1, 10, 100, 500) rebuilt at once
// through the real service: the embedded Temporal dev server (SQLite file, with and without the WAL pragmas), our
// worker and our gateway as separate processes (`--role worker`, `--role gateway`), boot events sent over HTTP as
// firmware, installer and first boot send them, and the cluster join over real SSH to a stand-in sshd answering
// for every host at its own loopback address (bench/standin-nodes.ts). Runs in a network namespace of its own
// (needs root). Usage: npm run bench:rebuilds [-- 1,10,100,500]
//
// Each simulated host waits until the dashboard feed (SSE) shows the state its last event should lead to, then
// sends the next event, so every stage is timed on its own:
//   stage overhead = the boot event's HTTP 2xx → the state recorded in SQLite (operation_events.at)
//   webhook → SSE  = the boot event's HTTP 2xx → the matching update arriving on /events
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { stringify as toYaml } from 'yaml';
import { hostStates, type HostState } from '../src/domain/host-state-machine';
import { openDatabase } from '../src/store/database';
import { startDevServer, type DevServer } from '../src/temporal/dev-server';
import { findTemporalCli } from '../src/temporal/temporal-cli';
import { searchAttributeKeys } from '../workflows/search-attributes';
import { benchMac, freePort, machine, onSseBlocks, percentile, serviceNodeFlags, systemInfo, table } from './lib';
import { hostAddress, startStandInNodes, type StandInNodes } from './standin-nodes';
import { request as httpRequest } from 'node:http';

const sizes = (process.argv[2] ?? '1,10,100,500').split(',').map(Number);
const variants = (process.env.BENCH_VARIANTS ?? 'wal,plain').split(',') as Array<'wal' | 'plain'>;
const settleSeconds = Number(process.env.BENCH_SETTLE_SECONDS ?? 60);
// Before the measured batches, one host is rebuilt and the service left alone for this long: "warm idle" is then the
// memory of a service that has run a rebuild (the worker has loaded the workflow bundle into its V8 context). 0 skips it.
const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? 30);
// 0: every host sends each boot event the moment its last one is recorded (lockstep: the whole rack at once, the
// worst case). S > 0: each host first waits a random 0..S s before each boot event, as real hosts spread out.
const spreadMs = Number(process.env.BENCH_SPREAD_SECONDS ?? 0) * 1000;
// BENCH_BARRIER=1: every host waits until all N have reached a state, then all send the next boot event together
// (a rack whose hosts all PXE boot, finish installing, … at the same moment). Per stage wave it reports the CPU each
// process spent per event, which is what a wave's latency is made of.
const barrierMode = process.env.BENCH_BARRIER === '1';
// BENCH_STANDIN_NICE=19: the stand-in sshd (the nodes' side of the join) only gets CPU the service leaves idle.
const standinNice = Number(process.env.BENCH_STANDIN_NICE ?? 0);
const hostTimeoutMs = Number(process.env.BENCH_HOST_TIMEOUT_SECONDS ?? 600) * 1000;
const projectRoot = resolve(__dirname, '../..');
const joinPassword = 'bench-join-password-5c1e';
const rank = (s: HostState) => hostStates.indexOf(s);

// ---- the network namespace: sshd listens on 0.0.0.0 there, and 127.1.x.y are the hosts' addresses ----
function runInOwnNetns(): never {
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench:rebuilds needs root: it runs in a network namespace of its own (ip netns add), where one sshd answers for every simulated host\n');
    process.exit(1);
  }
  const ns = `provisioning-bench-${process.pid}`;
  const ip = (...args: string[]) => {
    const r = spawnSync('ip', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
  };
  ip('netns', 'add', ns);
  let status = 1;
  try {
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, __filename, ...process.argv.slice(2)], {
      stdio: 'inherit',
      env: { ...process.env, BENCH_NETNS: ns },
    });
    status = r.status ?? 1;
  } finally {
    ip('netns', 'del', ns);
  }
  process.exit(status);
}

// ---- processes and their memory ----
/** RSS of a process and all its descendants, in MB. */
function treeRssMb(pid: number): number {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  let kb = 0;
  const visit = (p: number) => {
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      return;
    }
    for (const c of children.get(p) ?? []) visit(c);
  };
  visit(pid);
  return Math.round(kb / 1024);
}

/** CPU seconds (user + system) used so far by a process and its descendants, including reaped children. */
function treeCpuSeconds(pid: number): number {
  const ticks = (p: number) => {
    try {
      const f = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]); // utime stime cutime cstime
    } catch {
      return 0;
    }
  };
  let total = 0;
  const visit = (p: number) => {
    total += ticks(p);
    for (const c of childPids(p)) visit(c);
  };
  visit(pid);
  return total / 100;
}

function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]) === pid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

interface Service {
  child: ChildProcess;
  url: string;
  exited: Promise<void>;
}

async function startService(role: 'worker' | 'gateway', config: string, port: number, logFile: string): Promise<Service> {
  const out = openSync(logFile, 'a');
  // BENCH_PROFILE=worker|gateway: a V8 CPU profile of that process (all threads) into BENCH_PROFILE_DIR.
  const profile = process.env.BENCH_PROFILE === role ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROFILE_DIR ?? join(projectRoot, 'bench/profiles')] : [];
  const child = spawn(process.execPath, [...serviceNodeFlags, ...profile, join(projectRoot, 'dist/src/main.js'), '--config', config, '--role', role, '--listen', `127.0.0.1:${port}`], {
    stdio: ['ignore', out, out],
    env: { ...process.env, LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info' },
  });
  closeSync(out);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${role} exited with ${child.exitCode}; see ${logFile}`);
    const ok = await fetch(`${url}/readyz`).then((r) => r.status === 200, () => false);
    if (ok) return { child, url, exited };
    if (Date.now() > deadline) throw new Error(`${role} not ready within 60 s; see ${logFile}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function stopService(s: Service): Promise<void> {
  if (s.child.exitCode !== null) return;
  s.child.kill('SIGTERM');
  await s.exited;
}

// ---- the dashboard feed as one browser sees it ----
class Feed {
  private readonly states = new Map<number, { state: HostState; rank: number }>();
  private readonly waiters = new Map<number, Array<{ rank: number; resolve: (at: number) => void }>>();
  private readonly req;

  constructor(url: string) {
    this.req = request(`${url}/events`, { headers: { accept: 'text/event-stream' } }, (res) => {
      onSseBlocks(res, (block) => {
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (!data || !/^event: host$/m.test(block)) return;
        const update = JSON.parse(data) as { hostId: number; state?: HostState };
        if (update.state) this.seen(update.hostId, update.state);
      });
    });
    this.req.end();
  }

  private seen(hostId: number, state: HostState): void {
    const now = performance.now();
    this.states.set(hostId, { state, rank: rank(state) });
    const waiting = this.waiters.get(hostId) ?? [];
    const still = waiting.filter((w) => {
      if (rank(state) >= w.rank) w.resolve(now);
      return rank(state) < w.rank;
    });
    this.waiters.set(hostId, still);
  }

  state(hostId: number): HostState | undefined {
    return this.states.get(hostId)?.state;
  }

  /** Resolves with the arrival time (performance.now()) of the first update at or past `state` (or failed). */
  reached(hostId: number, state: HostState): Promise<number> {
    const current = this.states.get(hostId);
    if (current && current.rank >= rank(state)) return Promise.resolve(performance.now());
    return new Promise((resolveAt) => this.waiters.set(hostId, [...(this.waiters.get(hostId) ?? []), { rank: rank(state), resolve: resolveAt }]));
  }

  close(): void {
    this.req.destroy();
  }
}

// ---- one simulated host ----
interface HostRun {
  id: number;
  ip: string;
  mac: string;
  rebuildSentAt: number; // Date.now()
  eventAt: Partial<Record<HostState, number>>; // Date.now() at the 2xx of the event leading to that state
  sseMs: number[]; // boot event 2xx → SSE update
  outcome: 'ready' | 'failed' | 'stuck';
  failure?: string;
}

async function post(url: string, body: unknown): Promise<Response> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status >= 300) throw new Error(`POST ${url.replace(/token=[^&]+/, 'token=…')} answered ${res.status}: ${await res.text()}`);
  return res;
}

/**
 * POSTs JSON from the host's own loopback address, as a real host's installer and first boot would: the join checks
 * the address it connects to against where the webhook and phone-home came from.
 */
async function postFrom(url: string, body: unknown, from: string): Promise<void> {
  const payload = JSON.stringify(body);
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', localAddress: from, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(payload);
  });
  if (status >= 300) throw new Error(`POST ${url.replace(/token=[^&]+/, 'token=…')} answered ${status}: ${text}`);
}

/** Releases all hosts into a stage together; `onRelease` runs as each wave starts (for CPU snapshots). */
class StageBarrier {
  private expected: number;
  private readonly waves = new Map<string, { arrived: number; done: boolean; release: () => void; released: Promise<void> }>();
  constructor(
    n: number,
    private readonly onRelease: (stage: string) => void,
  ) {
    this.expected = n;
  }

  arrive(stage: string): Promise<void> {
    const wave = this.wave(stage);
    wave.arrived++;
    this.check();
    return wave.released;
  }

  /** A host that failed or got stuck: later waves stop waiting for it. */
  drop(): void {
    this.expected--;
    this.check();
  }

  private wave(stage: string) {
    let wave = this.waves.get(stage);
    if (!wave) {
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      wave = { arrived: 0, done: false, release, released };
      this.waves.set(stage, wave);
    }
    return wave;
  }

  private check(): void {
    for (const [stage, wave] of this.waves) {
      if (!wave.done && wave.arrived > 0 && wave.arrived >= this.expected) {
        wave.done = true;
        this.onRelease(stage);
        wave.release();
      }
    }
  }
}

async function simulateHost(gateway: string, feed: Feed, nodes: StandInNodes, run: HostRun, barrier?: StageBarrier): Promise<void> {
  // One boot event: send, note the 2xx, wait for the state it leads to on the feed.
  const step = async <T>(state: HostState, send: () => Promise<T>): Promise<T> => {
    if (spreadMs > 0) await new Promise((r) => setTimeout(r, Math.random() * spreadMs));
    if (barrier) await barrier.arrive(state);
    const res = await send();
    const okAt = performance.now();
    run.eventAt[state] = Date.now();
    const seenAt = await feed.reached(run.id, state);
    run.sseMs.push(seenAt - okAt);
    if (feed.state(run.id) === 'failed') throw new Error(`failed after ${state}`);
    return res;
  };
  run.rebuildSentAt = Date.now();
  await post(`${gateway}/api/hosts/${run.id}/rebuild`, {});
  await feed.reached(run.id, 'pxe_ready');
  if (feed.state(run.id) === 'failed') throw new Error('failed before pxe_ready');

  await step('pxe_booted', async () => {
    const res = await fetch(`${gateway}/ipxe/${run.mac.replace(/:/g, '-')}`);
    const script = await res.text();
    if (!script.includes('initrd')) throw new Error(`/ipxe did not serve the installer: ${script.slice(0, 200)}`);
    return res;
  });
  const answerRes = await step('installing', () => post(`${gateway}/api/boot/answer`, JSON.parse(systemInfo(run.mac))));
  const answer = parseToml(await answerRes.text()) as {
    global: { 'root-ssh-keys': string[] };
    'post-installation-webhook': { url: string };
    'first-boot': { url: string };
  };
  nodes.authorize(run.ip, answer.global['root-ssh-keys'][0]!); // the installer writes root-ssh-keys
  await step('installed', () =>
    postFrom(answer['post-installation-webhook'].url, {
      $schema: { version: '1.2' },
      product: { fullname: 'Proxmox VE', short: 'pve', version: '9.1.1' },
      'machine-id': `${run.id.toString(16).padStart(32, '0')}`,
      'network-interfaces': [{ name: 'enp2s0', mac: run.mac, address: `${run.ip}/8`, 'is-management': true }],
      'ssh-public-host-keys': { ed25519: nodes.hostKey },
    }, run.ip),
  );
  const script = await (await fetch(answer['first-boot'].url)).text();
  const phoneHome = /^URL='([^']+)'/m.exec(script)?.[1];
  if (!phoneHome) throw new Error('no phone-home URL in the first-boot script');
  await step('first_boot', () => postFrom(phoneHome, { ip: run.ip, hardware_id: `bench-${run.id}` }, run.ip));
  if (barrier) await barrier.arrive('joining'); // the first_boot wave ends when every host is joining
  await feed.reached(run.id, 'ready');
  if (feed.state(run.id) !== 'ready') throw new Error(`ended ${feed.state(run.id)}`);
  if (!nodes.joined(run.ip)) throw new Error('ready, but the stand-in node was never joined');
  if (barrier) await barrier.arrive('ready'); // the joining wave: the joins (one at a time, behind the cluster lock) until all are ready
}

// ---- one variant (dev server configuration), several batch sizes ----
interface BatchResult {
  variant: string;
  n: number;
  wallS: number;
  ready: number;
  failed: number;
  stuck: number;
  startMs: number[]; // rebuild POST → pxe_ready recorded
  stageMs: Record<string, number[]>; // boot event 2xx → state recorded
  overheadMs: number[]; // per rebuild: start + the four stages + first_boot → joining
  joinMs: number[]; // joining → ready recorded (SSH join, key removal, Infrastructure)
  waves?: Array<{ stage: string; ms: number; cpuMsPerHost: Record<'worker' | 'gateway' | 'temporal' | 'sshd' | 'hosts', number>; peakMb: { worker: number; gateway: number } }>; // BENCH_BARRIER=1
  sseMs: number[];
  rss: { worker: number; gateway: number; temporal: number };
  cpu: { worker: number; gateway: number; temporal: number; sshd: number; hosts: number }; // CPU seconds in the batch
  failures: string[];
}

interface VariantResult {
  variant: string;
  idle: { worker: number; gateway: number; temporal: number };
  warmIdle: { worker: number; gateway: number; temporal: number } | null;
  after: { worker: number; gateway: number; temporal: number };
  batches: BatchResult[];
}

async function runVariant(variant: 'wal' | 'plain'): Promise<VariantResult> {
  const dir = mkdtempSync(join(tmpdir(), `bench-rebuilds-${variant}-`));
  const total = sizes.reduce((a, b) => a + b, 0) + (warmupSeconds > 0 ? 1 : 0);
  const addresses = Array.from({ length: total }, (_, i) => hostAddress(i + 1));
  const cleanups: Array<() => Promise<void> | void> = [() => void (process.env.BENCH_KEEP ? process.stderr.write(`kept ${dir}\n`) : rmSync(dir, { recursive: true, force: true }))];
  try {
    const dev: DevServer = await startDevServer({
      cliPath: findTemporalCli(process.env.TEMPORAL_CLI ?? '', process.env.PATH),
      ip: '127.0.0.1',
      port: await freePort(),
      uiPort: null,
      dbPath: join(dir, 'temporal.db'),
      sqlitePragmas: variant === 'wal',
      namespace: 'default',
      searchAttributes: searchAttributeKeys,
      readyTimeoutMs: 120_000,
      extraArgs: (process.env.BENCH_DEV_SERVER_ARGS ?? '').split(' ').filter(Boolean), // to try dynamic config
    });
    cleanups.push(() => dev.stop());
    let registered = 0;
    const infrastructure: Server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.method === 'PUT') registered++;
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => infrastructure.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => infrastructure.close(() => r())));
    const nodes = await startStandInNodes(join(dir, 'standin'), addresses, await freePort(), joinPassword, standinNice);
    cleanups.push(() => nodes.stop());

    const gatewayPort = await freePort();
    const imageDir = join(dir, 'images/pve-9.1');
    mkdirSync(imageDir, { recursive: true });
    for (const f of ['vmlinuz', 'initrd.img', 'proxmox-ve_9.1-auto-from-http.iso']) writeFileSync(join(imageDir, f), f);
    writeFileSync(join(dir, 'server-types.yaml'), 'server_types:\n  ms-01:\n    boot_disk: /dev/nvme0n1\n    management_nic: enp2s0\n    filesystem: zfs\n');
    const config = join(dir, 'provisioning.yaml');
    writeFileSync(
      config,
      toYaml({
        data_dir: join(dir, 'data'),
        server: { listen: `127.0.0.1:${gatewayPort}`, public_url: `http://127.0.0.1:${gatewayPort}` },
        proxmox: {
          existing_node: '192.0.2.10', // only the scripted pvecm sees it
          join_fingerprint: Array.from({ length: 32 }, (_, i) => (i * 7 + 16).toString(16).toUpperCase().padStart(2, '0')).join(':'),
          join_password: joinPassword,
          ssh_port: nodes.port,
          corosync_conf: join(nodes.nodeDir, 'etc/pve/corosync.conf'),
          authorized_keys_files: [join(nodes.nodeDir, 'root/.ssh/authorized_keys'), join(nodes.nodeDir, 'etc/pve/priv/authorized_keys')],
        },
        credentials: { root_password_hash: '$6$Zc3xS0Gd1pG8r9Qe$FRr1Gc16G4e6CM5U1Q5WZQIsXWlKmOu/DKlGnXhT6y3iKA7hfv4DFKRrPlRn8ZmtCYvLOQvhr1MIrwUND6Q94.' },
        infrastructure: { base_url: `http://127.0.0.1:${(infrastructure.address() as { port: number }).port}`, server_type_map: { 'ms-01': 'ms-01' } },
        // BENCH_MAX_CACHED_WORKFLOWS: the worker's workflow cache (temporal.max_cached_workflows); the default when unset.
        temporal: { address: dev.address, ...(process.env.BENCH_MAX_CACHED_WORKFLOWS ? { max_cached_workflows: Number(process.env.BENCH_MAX_CACHED_WORKFLOWS) } : {}) },
        images: { dir: join(dir, 'images') },
        server_types_file: join(dir, 'server-types.yaml'),
        timeouts: { pxe_boot: '20m', answer_fetch: '20m', install: '20m', phone_home: '20m', join: '20m' },
      }),
    );
    const worker = await startService('worker', config, await freePort(), join(dir, 'worker.log'));
    cleanups.push(() => stopService(worker));
    const gateway = await startService('gateway', config, gatewayPort, join(dir, 'gateway.log'));
    cleanups.push(() => stopService(gateway));
    const feed = new Feed(gateway.url);
    cleanups.push(() => feed.close());
    const db = openDatabase(join(dir, 'data/provisioning.db'));
    cleanups.push(() => void db.close());
    const memory = () => ({ worker: treeRssMb(worker.child.pid!), gateway: treeRssMb(gateway.child.pid!), temporal: treeRssMb(dev.pid) });
    await new Promise((r) => setTimeout(r, 3000));
    const idle = memory();
    let warmIdle: ReturnType<typeof memory> | null = null;

    const batches: BatchResult[] = [];
    let next = 1;
    for (const [index, n] of [...(warmupSeconds > 0 ? [1] : []), ...sizes].entries()) {
      const warmup = warmupSeconds > 0 && index === 0;
      const runs: HostRun[] = [];
      for (let k = 0; k < n; k++, next++) {
        const mac = benchMac(next);
        const res = await post(`${gateway.url}/api/hosts`, { hostname: `pve-${variant}-${next}`, mac, server_type: 'ms-01' });
        const { id } = (await res.json()) as { id: number };
        runs.push({ id, ip: hostAddress(next), mac, rebuildSentAt: 0, eventAt: {}, sseMs: [], outcome: 'stuck' });
      }
      const peak = { worker: 0, gateway: 0, temporal: 0 };
      const wavePeak = { worker: 0, gateway: 0 }; // since the last stage wave began (BENCH_BARRIER=1)
      const sampler = setInterval(() => {
        const m = memory();
        peak.worker = Math.max(peak.worker, m.worker);
        peak.gateway = Math.max(peak.gateway, m.gateway);
        peak.temporal = Math.max(peak.temporal, m.temporal);
        wavePeak.worker = Math.max(wavePeak.worker, m.worker);
        wavePeak.gateway = Math.max(wavePeak.gateway, m.gateway);
      }, 250);
      const registeredBefore = registered;
      const cpu = () => ({
        worker: treeCpuSeconds(worker.child.pid!),
        gateway: treeCpuSeconds(gateway.child.pid!),
        temporal: treeCpuSeconds(dev.pid),
        sshd: treeCpuSeconds(nodes.pid),
        hosts: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
      });
      const cpuBefore = cpu();
      const released: Array<{ stage: string; at: number; cpu: ReturnType<typeof cpu>; peakBefore: { worker: number; gateway: number } }> = [];
      const barrier = barrierMode
        ? new StageBarrier(n, (stage) => {
            released.push({ stage, at: performance.now(), cpu: cpu(), peakBefore: { ...wavePeak } });
            wavePeak.worker = wavePeak.gateway = 0;
          })
        : undefined;
      const started = performance.now();
      await Promise.all(
        runs.map(async (run) => {
          let timer: NodeJS.Timeout | undefined;
          try {
            await Promise.race([
              simulateHost(gateway.url, feed, nodes, run, barrier),
              new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`stuck in ${feed.state(run.id)}`)), hostTimeoutMs))),
            ]);
            run.outcome = 'ready';
          } catch (err) {
            run.failure = (err as Error).message;
            run.outcome = (err as Error).message.startsWith('stuck') ? 'stuck' : 'failed';
            barrier?.drop();
          } finally {
            clearTimeout(timer);
          }
        }),
      );
      const wallS = (performance.now() - started) / 1000;
      clearInterval(sampler);
      const cpuAfter = cpu();
      const cpuUsed = Object.fromEntries(Object.entries(cpuAfter).map(([k, v]) => [k, Math.round((v - cpuBefore[k as keyof typeof cpuBefore]) * 10) / 10])) as BatchResult['cpu'];
      batches.push(analyse(variant, n, wallS, runs, db, peak, cpuUsed, registered - registeredBefore));
      // Stage waves: from one release to the next, CPU ms each process spent per host.
      batches.at(-1)!.waves = released.slice(0, -1).map((w, i) => {
        const next = released[i + 1]!;
        const perHost = (k: keyof typeof w.cpu) => Math.round(((next.cpu[k] - w.cpu[k]) * 1000 * 10) / n) / 10;
        return {
          stage: w.stage,
          ms: Math.round(next.at - w.at),
          cpuMsPerHost: { worker: perHost('worker'), gateway: perHost('gateway'), temporal: perHost('temporal'), sshd: perHost('sshd'), hosts: perHost('hosts') },
          peakMb: next.peakBefore,
        };
      });
      const b = batches.at(-1)!;
      process.stderr.write(`${variant} ${warmup ? 'warm-up' : `N=${n}`}: ${b.ready} ready, ${b.failed} failed, ${b.stuck} stuck in ${wallS.toFixed(1)} s\n`);
      if (warmup) {
        batches.pop();
        await new Promise((r) => setTimeout(r, warmupSeconds * 1000));
        warmIdle = memory();
      }
    }
    process.stderr.write(`${variant}: waiting ${settleSeconds} s for memory to settle\n`);
    await new Promise((r) => setTimeout(r, settleSeconds * 1000));
    return { variant, idle, warmIdle, after: memory(), batches };
  } finally {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (err) {
        process.stderr.write(`cleanup: ${(err as Error).message}\n`);
      }
    }
  }
}

function analyse(
  variant: string,
  n: number,
  wallS: number,
  runs: HostRun[],
  db: ReturnType<typeof openDatabase>,
  rss: BatchResult['rss'],
  cpu: BatchResult['cpu'],
  registrations: number,
): BatchResult {
  const recorded = db.prepare<{ id: number }, { state: HostState; at: string }>(
    `SELECT state, min(at) AS at FROM operation_events
      WHERE host_id = @id AND state IS NOT NULL AND operation_id = (SELECT max(id) FROM operations WHERE host_id = @id)
      GROUP BY state`,
  );
  const stages: HostState[] = ['pxe_booted', 'installing', 'installed', 'first_boot'];
  const result: BatchResult = {
    variant,
    n,
    wallS,
    ready: runs.filter((r) => r.outcome === 'ready').length,
    failed: runs.filter((r) => r.outcome === 'failed').length,
    stuck: runs.filter((r) => r.outcome === 'stuck').length,
    startMs: [],
    stageMs: Object.fromEntries(stages.map((s) => [s, []])),
    overheadMs: [],
    joinMs: [],
    sseMs: runs.flatMap((r) => r.sseMs),
    rss,
    cpu,
    failures: runs.filter((r) => r.failure).map((r) => `host ${r.id}: ${r.failure}`),
  };
  if (registrations !== result.ready) result.failures.push(`Infrastructure saw ${registrations} registrations for ${result.ready} ready hosts`);
  for (const run of runs.filter((r) => r.outcome === 'ready')) {
    const at = Object.fromEntries(recorded.all({ id: run.id }).map((r) => [r.state, Date.parse(r.at)])) as Partial<Record<HostState, number>>;
    const start = at.pxe_ready! - run.rebuildSentAt;
    result.startMs.push(start);
    let overhead = start + (at.joining! - at.first_boot!);
    for (const s of stages) {
      const ms = at[s]! - run.eventAt[s]!;
      result.stageMs[s]!.push(ms);
      overhead += ms;
    }
    result.overheadMs.push(overhead);
    result.joinMs.push(at.ready! - at.joining!);
  }
  return result;
}

// ---- report ----
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const p = (xs: number[], q: number) => (xs.length === 0 ? '–' : Math.round(percentile(sorted(xs), q)));

async function main() {
  if (!process.env.BENCH_NETNS) runInOwnNetns();
  const results: VariantResult[] = [];
  for (const v of variants) results.push(await runVariant(v));

  const names: Record<string, string> = { wal: 'WAL + synchronous=NORMAL', plain: 'plain (no pragmas)' };
  const arrival = barrierMode
    ? 'stage waves: each boot event sent by all N hosts together once every host reached the previous state'
    : spreadMs > 0
      ? `each boot event sent after a random 0–${spreadMs / 1000} s wait`
      : 'lockstep: each boot event sent as soon as the last was recorded';
  process.stdout.write(`\nConcurrent rebuilds: ${machine()}; dev server on a SQLite file; worker and gateway as separate processes; ${arrival}\n\n`);
  table(
    ['dev server SQLite', 'N', 'wall s', 'ready', 'failed', 'stuck', 'overhead/rebuild p50 ms', 'overhead/rebuild p99 ms', 'stage p50 ms', 'stage p99 ms', 'worst stage p99 ms', 'webhook→SSE p50 ms', 'webhook→SSE p99 ms', 'join→ready p50 ms', 'worker RSS MB', 'gateway RSS MB', 'dev server RSS MB'],
    results.flatMap((r) =>
      r.batches.map((b) => {
        const all = Object.values(b.stageMs).flat();
        const worst = Math.max(...Object.values(b.stageMs).map((xs) => (xs.length ? percentile(sorted(xs), 99) : 0)));
        return [names[r.variant]!, b.n, b.wallS.toFixed(1), b.ready, b.failed, b.stuck, p(b.overheadMs, 50), p(b.overheadMs, 99), p(all, 50), p(all, 99), Math.round(worst), p(b.sseMs, 50), p(b.sseMs, 99), p(b.joinMs, 50), b.rss.worker, b.rss.gateway, b.rss.temporal];
      }),
    ),
  );
  process.stdout.write('Per stage (boot event 2xx → state recorded), p50 / p99 ms; start = rebuild POST → pxe_ready recorded\n\n');
  table(
    ['dev server SQLite', 'N', 'start', 'pxe_booted', 'installing', 'installed', 'first_boot'],
    results.flatMap((r) => r.batches.map((b) => [names[r.variant]!, b.n, `${p(b.startMs, 50)} / ${p(b.startMs, 99)}`, ...Object.values(b.stageMs).map((xs) => `${p(xs, 50)} / ${p(xs, 99)}`)])),
  );
  table(
    ['dev server SQLite', 'N', 'CPU s: worker', 'gateway', 'dev server', 'sshd + sessions', 'simulated hosts (this process)', 'wall s'],
    results.flatMap((r) => r.batches.map((b) => [names[r.variant]!, b.n, b.cpu.worker, b.cpu.gateway, b.cpu.temporal, b.cpu.sshd, b.cpu.hosts, b.wallS.toFixed(1)])),
  );
  table(
    ['dev server SQLite', 'worker idle / warm idle / after MB', 'gateway idle / warm idle / after MB', 'dev server idle / warm idle / after MB', `idle = at start; warm idle = ${warmupSeconds} s after one warm-up rebuild; after = ${settleSeconds} s after the last batch`],
    results.map((r) => [
      names[r.variant]!,
      ...(['worker', 'gateway', 'temporal'] as const).map((k) => `${r.idle[k]} / ${r.warmIdle?.[k] ?? '-'} / ${r.after[k]}`),
      '',
    ]),
  );
  if (barrierMode) {
    process.stdout.write(
      'Stage waves (BENCH_BARRIER=1): all N hosts send the event together; wave = that release → the next one (every host\'s state recorded and seen on the feed); CPU ms per host over the wave\n\n',
    );
    table(
      ['dev server SQLite', 'N', 'wave', 'wave ms', 'stage p50 / p99 ms', 'CPU ms/host: worker', 'dev server', 'gateway', 'sshd', 'simulated hosts', 'service total', 'service total × N ÷ 2 cores ms', 'worker peak MB', 'gateway peak MB'],
      results.flatMap((r) =>
        r.batches.flatMap((b) =>
          (b.waves ?? []).map((w) => {
            const c = w.cpuMsPerHost;
            const service = Math.round((c.worker + c.temporal + c.gateway) * 10) / 10;
            const xs = b.stageMs[w.stage] ?? [];
            const row = [names[r.variant]!, b.n, w.stage, w.ms, xs.length ? `${p(xs, 50)} / ${p(xs, 99)}` : '–', c.worker, c.temporal, c.gateway, c.sshd, c.hosts, service];
            return [...row, Math.round((service * b.n) / 2), w.peakMb.worker, w.peakMb.gateway];
          }),
        ),
      ),
    );
  }
  const failures = results.flatMap((r) => r.batches.flatMap((b) => b.failures.map((f) => `${r.variant} N=${b.n}: ${f}`)));
  if (failures.length > 0) process.stdout.write(`Failures (${failures.length}):\n${failures.slice(0, 20).join('\n')}\n`);
}

void main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
