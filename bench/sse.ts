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
  // Each RSS reading below follows a full GC (SIGUSR2) and a pause for the allocator to return freed pages.
  const { child, line } = await startChild(join(__dirname, 'gateway-server.js'), [String(hostsCount), dir], /^listening /, { nodeFlags: ['--expose-gc'] });
  const url = new URL(line.split(' ')[1]!);
  const lines = createInterface({ input: child.stdout! });
  const report = () => new Promise<string>((resolve) => {
    lines.once('line', resolve);
    child.kill('SIGUSR2');
  });
  /** The gateway's RSS after a full GC (the report) and 1.5 s for the allocator to hand freed pages back. */
  const settledRss = async (): Promise<{ rss: number; hub: string }> => {
    const hub = await report();
    await new Promise((r) => setTimeout(r, 1500));
    return { rss: rssMb(child.pid!), hub };
  };
  const db = openDatabase(join(dir, 'provisioning.db'));
  const hosts = new HostStore(db);
  const ids = hosts.list().map((h) => h.id);
  const idleRss = (await settledRss()).rss;

  // When each host last changed (written here), and every delivery latency measured by the clients.
  const changedAt = new Map<number, bigint>();
  let latencies: number[] = [];
  const sockets: Array<{ destroy: () => void }> = [];
  const connect = (count: number) =>
    Promise.all(
      Array.from({ length: count }, () => new Promise<void>((resolve, reject) => {
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
  // Memory per idle connection: the RSS step from half the clients to all of them, both in the same warm process
  // (against the idle figure, start-up garbage the allocator returns meanwhile can make the difference negative).
  const half = Math.floor(clientsWanted / 2);
  await connect(half);
  const halfRss = (await settledRss()).rss;
  await connect(clientsWanted - half);
  const { rss: connectedRss, hub: connected } = await settledRss();

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
  const { rss: afterRss, hub: after } = await settledRss();
  db.close();
  await stop(child);
  rmSync(dir, { recursive: true, force: true });

  process.stdout.write(`\nSSE fan-out: ${machine()}; ${hostsCount} hosts; changes written to SQLite from another process\n\n`);
  table(['load', 'clients', 'deliveries', 'p50 ms', 'p99 ms'], rows);
  table(
    ['gateway RSS idle MB', `RSS with ${half} clients MB`, `RSS with ${clientsWanted} clients MB`, 'KB per idle connection (step)', 'hub while connected', 'hub after all left', 'RSS after MB'],
    [[idleRss, halfRss, connectedRss, Math.round(((connectedRss - halfRss) * 1024) / (clientsWanted - half)), connected, after, afterRss]],
  );
}

void main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
