// A stand-in Infrastructure service on a loopback port: stores PUT /api/servers/{mac} bodies by MAC, and can be
// told to answer the next N requests with a status (e.g. 503 while "down").
import { createServer, type Server } from 'node:http';

export interface InfrastructureStandIn {
  baseUrl: string;
  records: Map<string, Record<string, unknown>>;
  requests: number;
  failNext(count: number, status: number, storeAnyway?: boolean): void;
  stop(): Promise<void>;
}

export async function startInfrastructureStandIn(): Promise<InfrastructureStandIn> {
  const records = new Map<string, Record<string, unknown>>();
  let failures: { count: number; status: number; storeAnyway: boolean } = { count: 0, status: 503, storeAnyway: false };
  const state = { requests: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.requests++;
      const m = /^\/api\/servers\/([^/]+)$/.exec(req.url ?? '');
      if (req.method !== 'PUT' || !m) {
        res.writeHead(404).end('not found');
        return;
      }
      const store = () => records.set(decodeURIComponent(m[1]!), JSON.parse(Buffer.concat(chunks).toString('utf8')));
      if (failures.count > 0) {
        failures.count--;
        if (failures.storeAnyway) store();
        res.writeHead(failures.status, { 'content-type': 'text/plain' }).end(`stand-in says ${failures.status}`);
        return;
      }
      const existed = records.has(decodeURIComponent(m[1]!));
      store();
      res.writeHead(existed ? 200 : 201, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    records,
    get requests() {
      return state.requests;
    },
    failNext(count, status, storeAnyway = false) {
      failures = { count, status, storeAnyway };
    },
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}
