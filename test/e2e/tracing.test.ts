// Optional tracing (issue 18 item 7): with an OTLP endpoint, one rebuild is one trace, from the HTTP request that
// started it through the workflow run and its activities. Real: the OpenTelemetry SDK and its OTLP/HTTP exporter, an
// OTLP/HTTP receiver on loopback (a stand-in collector that keeps what it is sent), Temporal's OpenTelemetry
// interceptors in a worker with the tracing bundle, Fastify, SQLite.
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rebuildWorkflowId } from '../../src/domain/rebuild-ids';
import { startTracing, type Tracing } from '../../src/observability/tracing';
import { bundleWorkflows } from '../../src/temporal/worker';
import { Resources } from '../helpers/release';
import { buildTestApp, shortTimeouts } from '../helpers/test-app';
import { startTestWorker } from '../helpers/test-worker';

interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  service: string;
}

/** An OTLP/HTTP receiver: POST /v1/traces with the JSON encoding, as the exporter sends it. */
function startCollector(): Promise<{ server: Server; url: string; spans: ReceivedSpan[]; waitFor(match: (s: ReceivedSpan[]) => boolean): Promise<void> }> {
  const spans: ReceivedSpan[] = [];
  const waiters = new Set<() => void>();
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      expect(req.url).toBe('/v1/traces');
      const doc = JSON.parse(body) as { resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: Omit<ReceivedSpan, 'service'>[] }[] }[] };
      for (const rs of doc.resourceSpans) {
        const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
        for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId || undefined, name: s.name, service });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      for (const w of [...waiters]) w();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      resolve({
        server,
        url: `http://127.0.0.1:${port}`,
        spans,
        waitFor: (match) =>
          new Promise<void>((done, fail) => {
            const timer = setTimeout(() => fail(new Error(`spans so far: ${spans.map((s) => s.name).join(', ')}`)), 20_000);
            const check = () => {
              if (!match(spans)) return;
              clearTimeout(timer);
              waiters.delete(check);
              done();
            };
            waiters.add(check);
            check();
          }),
      });
    }),
  );
}

const resources = new Resources();
let tracing: Tracing;
let collector: Awaited<ReturnType<typeof startCollector>>;
beforeAll(async () => {
  collector = await startCollector();
  tracing = startTracing(collector.url, { serviceName: 'provisioning-test', version: 'test', exportDelayMs: 50 });
});
afterAll(async () => {
  await resources.releaseAll();
  await tracing.shutdown();
  collector.server.close();
});

describe('tracing with telemetry.otlp_endpoint', () => {
  it('sends one trace per rebuild: the request, the workflow start and run, and its activities', async () => {
    const t = resources.add(await buildTestApp({ tracing, timeouts: { ...shortTimeouts, pxeBoot: '1s' } }), (a) => a.close());
    resources.add(await startTestWorker(t, { tracing: { processor: tracing.processor, resource: tracing.resource, bundle: await bundleWorkflows({ tracing: true }) } }), (w) => w.stop());
    const id: number = (await t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname: 'pve-traced', mac: 'aa:bb:cc:dd:ee:7a', server_type: 'minisforum-ms-01' } })).json().id;
    expect((await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild` })).statusCode).toBe(202);
    expect(await t.client.workflow.getHandle(rebuildWorkflowId(id)).result()).toMatchObject({ state: 'failed', failure: { reason: 'stage_timeout' } });

    const request = () => collector.spans.find((s) => s.name === 'POST /api/hosts/:id/rebuild');
    const inTrace = () => collector.spans.filter((s) => s.traceId === request()?.traceId);
    await collector.waitFor(() => request() !== undefined && inTrace().some((s) => s.name === 'RunWorkflow:rebuildHostWorkflow') && inTrace().some((s) => s.name.startsWith('RunActivity:')));
    const root = request()!;
    expect(root.parentSpanId).toBeUndefined();
    const names = inTrace().map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['POST /api/hosts/:id/rebuild', 'StartWorkflow:rebuildHostWorkflow', 'RunWorkflow:rebuildHostWorkflow', 'RunActivity:beginRebuild', 'RunActivity:finishRebuild']));
    // Every span of the trace hangs off the request, through its parents.
    const byId = new Map(inTrace().map((s) => [s.spanId, s]));
    for (const span of inTrace()) {
      let at: ReceivedSpan | undefined = span;
      for (let hops = 0; at?.parentSpanId && hops < 20; hops++) at = byId.get(at.parentSpanId);
      expect(at?.spanId, `${span.name} reaches the request`).toBe(root.spanId);
    }
    // The registration was its own request, its own trace.
    const register = collector.spans.find((s) => s.name === 'POST /api/hosts');
    expect(register?.traceId).not.toBe(root.traceId);
  }, 60_000);

  it('replays every recorded open run on the tracing bundle: its interceptors add no command', async () => {
    const dir = join(__dirname, '../histories');
    const open = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => /--open-at-[a-z_]+\.json$/.test(f) && !f.includes('cluster-lock'));
    expect(open.length).toBeGreaterThan(10);
    const bundle = await bundleWorkflows({ tracing: true });
    const histories = open.map((file) => ({ workflowId: file, history: historyFromJSON(JSON.parse(readFileSync(join(dir, file), 'utf8'))) }));
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: bundle }, histories)) if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    expect(failures).toEqual([]);
  }, 120_000);
});
