// Benchmark 3: SSE fan-out. 1,000 browsers on /events while host state changes flow: changes are written to the
// gateway's SQLite file from this process (as a worker in another process would), and every client times the
// update from the write to its arrival. Usage: npm run bench:sse
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { openDatabase } from '../src/store/database';
import { HostStore } from '../src/store/host-store';
import { machine, onSseBlocks, percentile, rssMb, startChild, stop, table } from './lib';

const clientsWanted = Number(process.env.BENCH_SSE_CLIENTS ?? 1000);
const hostsCount = 50;

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-sse-'));
  const { child, line } = await startChild(join(__dirname, 'gateway-server.js'), [String(hostsCount), dir], /^listening /);
  const url = new URL(line.split(' ')[1]!);
  const lines = createInterface({ input: child.stdout! });
  const report = () => new Promise<string>((resolve) => {
    lines.once('line', resolve);
    child.kill('SIGUSR2');
  });
  const db = openDatabase(join(dir, 'provisioning.db'));
  const hosts = new HostStore(db);
  const ids = hosts.list().map((h) => h.id);
  const idleRss = rssMb(child.pid!);

  // When each host last changed (written here), and every delivery latency measured by the clients.
  const changedAt = new Map<number, bigint>();
  let latencies: number[] = [];
  const sockets: Array<{ destroy: () => void }> = [];
  await Promise.all(
    Array.from({ length: clientsWanted }, () => new Promise<void>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: '/events', headers: { accept: 'text/event-stream' } }, (res) => {
        onSseBlocks(res, (block) => {
          const m = /^data: \{"hostId":(\d+)/m.exec(block);
          const at = m ? changedAt.get(Number(m[1])) : undefined;
          if (at !== undefined) latencies.push(Number(process.hrtime.bigint() - at) / 1e6);
        });
        resolve();
      });
      req.on('error', reject);
      req.end();
      sockets.push({ destroy: () => req.destroy() });
    })),
  );
  await new Promise((r) => setTimeout(r, 1000));
  const connectedRss = rssMb(child.pid!);
  const connected = await report();

  const change = (i: number) => {
    const id = ids[i % ids.length]!;
    changedAt.set(id, process.hrtime.bigint());
    hosts.recordFacts(id, { ipAddress: `10.0.${(i >> 8) & 255}.${i & 255}` });
  };
  const rows: Array<Array<string | number>> = [];
  // Steady: 50 changes per second for 10 s.
  for (let i = 0; i < 500; i++) {
    change(i);
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 1000));
  let sorted = [...latencies].sort((a, b) => a - b);
  rows.push(['50 changes/s for 10 s', clientsWanted, latencies.length, percentile(sorted, 50).toFixed(1), percentile(sorted, 99).toFixed(1)]);
  // Burst: 200 changes at once.
  latencies = [];
  for (let i = 0; i < 200; i++) change(1000 + i);
  await new Promise((r) => setTimeout(r, 2000));
  sorted = [...latencies].sort((a, b) => a - b);
  rows.push(['burst of 200 changes', clientsWanted, latencies.length, percentile(sorted, 50).toFixed(1), percentile(sorted, 99).toFixed(1)]);

  for (const s of sockets) s.destroy();
  await new Promise((r) => setTimeout(r, 1000));
  const after = await report();
  const afterRss = rssMb(child.pid!);
  db.close();
  await stop(child);
  rmSync(dir, { recursive: true, force: true });

  process.stdout.write(`\nSSE fan-out: ${machine()}; ${hostsCount} hosts; changes written to SQLite from another process\n\n`);
  table(['load', 'clients', 'deliveries', 'p50 ms', 'p99 ms'], rows);
  table(
    ['gateway RSS idle MB', `RSS with ${clientsWanted} clients MB`, 'KB per idle connection', 'hub while connected', 'hub after all left', 'RSS after MB'],
    [[idleRss, connectedRss, Math.round(((connectedRss - idleRss) * 1024) / clientsWanted), connected, after, afterRss]],
  );
}

void main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
