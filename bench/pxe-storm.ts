// Benchmark 1: a PXE storm on the boot endpoints. N hosts in rebuild; autocannon issues each endpoint of the real
// per-host sequence (iPXE script → answer file → first-boot script) across all hosts, and the idle-MAC iPXE path
// every other machine on the LAN hits at each boot. Usage: npm run bench:pxe [-- 50,200,1000]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { benchMac, machine, rssMb, startChild, stop, systemInfo, table } from './lib';

const sizes = (process.argv[2] ?? '10,50,200,1000').split(',').map(Number);
const duration = Number(process.env.BENCH_SECONDS ?? 8);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 32);

interface Row {
  hosts: number;
  endpoint: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  rss: number;
}

async function load(url: string, endpoint: string, build: (i: number) => { method: 'GET' | 'POST'; path: string; body?: string }, n: number): Promise<Omit<Row, 'hosts' | 'rss'>> {
  let i = 0;
  const result = await autocannon({
    url,
    connections,
    duration,
    requests: [
      {
        setupRequest: (req) => {
          const r = build(i++ % n);
          return { ...req, method: r.method, path: r.path, body: r.body, headers: r.body ? { 'content-type': 'application/json' } : {} };
        },
      },
    ],
  });
  return { endpoint, rps: Math.round(result.requests.average), p50: result.latency.p50, p99: result.latency.p99, errors: result.errors + result.timeouts + result.non2xx };
}

async function main() {
  const rows: Row[] = [];
  for (const n of sizes) {
    const dir = mkdtempSync(join(tmpdir(), 'bench-pxe-'));
    const { child, line } = await startChild(join(__dirname, 'gateway-server.js'), [String(n), dir], /^listening /);
    const url = line.split(' ')[1]!;
    const tokens = JSON.parse(readFileSync(join(dir, 'tokens.json'), 'utf8')) as Array<{ id: number; token: string }>;
    const scenarios: Array<[string, (i: number) => { method: 'GET' | 'POST'; path: string; body?: string }]> = [
      ['GET /ipxe/{mac} (idle MAC)', () => ({ method: 'GET', path: '/ipxe/de-ad-be-ef-00-01' })],
      ['GET /ipxe/{mac} (in rebuild)', (i) => ({ method: 'GET', path: `/ipxe/${benchMac(i).replace(/:/g, '-')}` })],
      ['POST /api/boot/answer', (i) => ({ method: 'POST', path: '/api/boot/answer', body: systemInfo(benchMac(i)) })],
      ['GET first-boot script', (i) => ({ method: 'GET', path: `/api/hosts/${tokens[i]!.id}/first-boot-script?token=${tokens[i]!.token}` })],
    ];
    for (const [name, build] of scenarios) {
      const r = await load(url, name, build, n);
      rows.push({ hosts: n, ...r, rss: rssMb(child.pid!) });
    }
    await stop(child);
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`\nPXE storm: ${machine()}; ${connections} connections, ${duration}s per row, closed loop\n\n`);
  table(
    ['hosts', 'endpoint', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'gateway RSS MB'],
    rows.map((r) => [r.hosts, r.endpoint, r.rps, r.p50, r.p99, r.errors, r.rss]),
  );
}

void main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
