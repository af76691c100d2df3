// Prometheus metrics at GET /metrics (issue 18 item 1), on prom-client. What a rebuild does is written to SQLite by
// whichever process runs it (the worker may be another process): the rebuild and boot-decision metrics catch up from
// the event stream's table and the join-lock events at each scrape, so the gateway's /metrics counts every process's
// work. HTTP requests, webhooks and SSE clients are the gateway's own. Names and labels: README "Metrics".
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { hostStates } from '../domain/host-state-machine';
import type { Database } from '../store/database';
import type { StreamEvent, StreamStore } from '../store/stream-store';

export interface MetricsSources {
  db: Database;
  stream: StreamStore;
  hostStates: () => Map<string, number>; // hosts per state, now
  runningRebuilds: () => number;
  sseClients: () => { dashboard: number; api: number };
  imageJobs: () => { state: string }[]; // the image preparation jobs the gateway knows
}

/** Stage durations: a few seconds (a PXE boot) up to hours (a slow install, a member's guests moving). */
const stageBuckets = [5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200];

export class Metrics {
  readonly registry = new Registry();
  readonly contentType = this.registry.contentType;
  private streamCursor: number;
  private lockCursor: number;
  private readonly rebuildsStarted;
  private readonly rebuildsEnded;
  private readonly stageDuration;
  private readonly stageTimeouts;
  private readonly bootDecisions;
  private readonly answers;
  private readonly lockWait;
  private readonly httpRequests;
  private readonly httpDuration;
  private readonly webhooks;
  private readonly imageJobsDone;
  private readonly endedImageJobs = new Set<string>();

  constructor(private readonly sources: MetricsSources) {
    const r = this.registry;
    // Counting starts now: the stream's older rows were counted by the process that ran before (counters restart).
    this.streamCursor = sources.stream.maxId();
    this.lockCursor = sources.db.prepare<[], { id: number | null }>('SELECT max(id) AS id FROM operation_events').get()?.id ?? 0;
    collectDefaultMetrics({ register: r, prefix: 'provisioning_' });
    this.rebuildsStarted = new Counter({ name: 'provisioning_rebuilds_started_total', help: 'Rebuilds started', registers: [r] });
    this.rebuildsEnded = new Counter({ name: 'provisioning_rebuilds_total', help: 'Rebuilds ended, by outcome (ready, failed) and failure reason ("" when ready)', labelNames: ['outcome', 'reason'], registers: [r] });
    this.stageDuration = new Histogram({ name: 'provisioning_stage_duration_seconds', help: 'Time a rebuild spent in each stage (host state), observed when it left the stage', labelNames: ['stage'], buckets: stageBuckets, registers: [r] });
    this.stageTimeouts = new Counter({ name: 'provisioning_stage_timeouts_total', help: 'Rebuilds failed because a stage timed out, by stage', labelNames: ['stage'], registers: [r] });
    this.bootDecisions = new Counter({ name: 'provisioning_boot_decisions_total', help: 'What PXE-booting machines and installers were told, by endpoint (ipxe, answer), action (install, local-disk, answer, refused) and reason', labelNames: ['endpoint', 'action', 'reason'], registers: [r] });
    this.answers = new Counter({ name: 'provisioning_answers_total', help: 'Answer-file requests, by result (served, refused)', labelNames: ['result'], registers: [r] });
    this.lockWait = new Histogram({ name: 'provisioning_join_lock_wait_seconds', help: "Time a rebuild waited for its cluster's lock (0 when it was free)", buckets: [0.1, 1, 5, 15, 30, 60, 300, 900, 1800, 3600], registers: [r] });
    this.httpRequests = new Counter({ name: 'provisioning_http_requests_total', help: 'HTTP requests, by method, route (the pattern, e.g. /api/hosts/:id) and status code', labelNames: ['method', 'route', 'status'], registers: [r] });
    this.httpDuration = new Histogram({ name: 'provisioning_http_request_duration_seconds', help: 'HTTP response time, by method and route', labelNames: ['method', 'route'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10], registers: [r] });
    this.webhooks = new Counter({ name: 'provisioning_webhooks_total', help: "The installer's webhook and the first boot's phone-home, by kind (installed, phone_home) and result (recorded, refused, invalid, error)", labelNames: ['kind', 'result'], registers: [r] });
    this.imageJobsDone = new Counter({ name: 'provisioning_image_preparations_total', help: 'Boot image preparations ended, by result (ready, failed)', labelNames: ['result'], registers: [r] });
    const hosts: Gauge = new Gauge({ name: 'provisioning_hosts', help: 'Registered hosts, by state', labelNames: ['state'], registers: [r], collect: () => {
      const counts = sources.hostStates();
      for (const state of hostStates) hosts.set({ state }, counts.get(state) ?? 0);
    } });
    const running: Gauge = new Gauge({ name: 'provisioning_rebuilds_running', help: 'Rebuilds running now', registers: [r], collect: () => running.set(sources.runningRebuilds()) });
    const sse: Gauge = new Gauge({ name: 'provisioning_sse_clients', help: 'Connected live streams, by stream (dashboard: /events, api: /api/events)', labelNames: ['stream'], registers: [r], collect: () => {
      const c = sources.sseClients();
      sse.set({ stream: 'dashboard' }, c.dashboard);
      sse.set({ stream: 'api' }, c.api);
    } });
    const preparing: Gauge = new Gauge({ name: 'provisioning_image_preparations_running', help: 'Boot image preparations downloading or preparing now', registers: [r], collect: () => {
      preparing.set(sources.imageJobs().filter((j) => j.state === 'downloading' || j.state === 'preparing').length);
    } });
  }

  /** The text exposition; catches up with the database first. */
  async scrape(): Promise<string> {
    this.catchUp();
    return this.registry.metrics();
  }

  /** One HTTP request the gateway answered. `route` is the pattern, never the URL (ids and MACs would explode labels). */
  observeRequest(method: string, route: string, status: number, seconds: number): void {
    this.httpRequests.inc({ method, route, status: String(status) });
    this.httpDuration.observe({ method, route }, seconds);
    const webhook = route === '/api/hosts/:id/installed' ? 'installed' : route === '/api/hosts/:id/phone-home' ? 'phone_home' : null;
    if (webhook && method === 'POST') {
      const result = status < 300 ? 'recorded' : status === 401 ? 'refused' : status < 500 ? 'invalid' : 'error';
      this.webhooks.inc({ kind: webhook, result });
    }
  }

  /** Reads the stream and lock events written since the last call (any process) into the counters. */
  catchUp(): void {
    for (;;) {
      const events = this.sources.stream.since(this.streamCursor, 1000);
      if (events.length === 0) break;
      for (const e of events) this.count(e);
      this.streamCursor = events.at(-1)!.id;
    }
    this.countLockWaits();
  }

  private count(e: StreamEvent): void {
    const d = e.data;
    switch (e.name) {
      case 'rebuild.started':
        this.rebuildsStarted.inc();
        break;
      case 'rebuild.stage':
      case 'rebuild.ready':
      case 'rebuild.failed': {
        const left = this.previousStage(e);
        if (left) this.stageDuration.observe({ stage: left.stage }, Math.max(0, (Date.parse(e.at) - Date.parse(left.at)) / 1000));
        if (e.name === 'rebuild.ready') this.rebuildsEnded.inc({ outcome: 'ready', reason: '' });
        if (e.name === 'rebuild.failed') {
          this.rebuildsEnded.inc({ outcome: 'failed', reason: String(d.reason ?? 'unknown') });
          if (d.reason === 'stage_timeout') this.stageTimeouts.inc({ stage: String(d.stage ?? 'unknown') });
        }
        break;
      }
      case 'boot.decision': {
        const endpoint = String(d.endpoint ?? 'ipxe');
        this.bootDecisions.inc({ endpoint, action: String(d.action ?? 'unknown'), reason: String(d.code ?? '') });
        if (endpoint === 'answer') this.answers.inc({ result: d.action === 'answer' ? 'served' : 'refused' });
        break;
      }
      default:
        break;
    }
  }

  /** The stage the rebuild of `e` was in before `e`, and since when: the host's previous stage event of the same operation. */
  private previousStage(e: StreamEvent): { stage: string; at: string } | null {
    const row = this.sources.db
      .prepare<[number, number, number], { state: string; at: string }>(
        `SELECT state, at FROM stream_events WHERE host_id = ? AND id < ? AND name = 'rebuild.stage' AND json_extract(data, '$.operation_id') = ? ORDER BY id DESC LIMIT 1`,
      )
      .get(e.host_id ?? -1, e.id, Number(e.data.operation_id));
    return row ? { stage: row.state, at: row.at } : null;
  }

  /** Each cluster_lock_acquired since the last call: the wait since the cluster_lock_waiting just before it (0 without). */
  private countLockWaits(): void {
    const acquired = this.sources.db
      .prepare<[number], { id: number; operation_id: number | null; at: string }>("SELECT id, operation_id, at FROM operation_events WHERE id > ? AND kind = 'cluster_lock_acquired' ORDER BY id")
      .all(this.lockCursor);
    const before = this.sources.db.prepare<[number, number], { kind: string; at: string }>(
      "SELECT kind, at FROM operation_events WHERE operation_id = ? AND id < ? AND kind IN ('cluster_lock_waiting', 'cluster_lock_acquired') ORDER BY id DESC LIMIT 1",
    );
    for (const row of acquired) {
      const previous = row.operation_id === null ? undefined : before.get(row.operation_id, row.id);
      this.lockWait.observe(previous?.kind === 'cluster_lock_waiting' ? Math.max(0, (Date.parse(row.at) - Date.parse(previous.at)) / 1000) : 0);
      this.lockCursor = row.id;
    }
  }

  /** An image preparation job changed (ImageJobs.onChange): counted once when it ends. */
  observeImageJob(job: { id: string; state: string }): void {
    if (job.state !== 'ready' && job.state !== 'failed') return;
    if (this.endedImageJobs.has(job.id)) return;
    this.endedImageJobs.add(job.id);
    this.imageJobsDone.inc({ result: job.state });
  }
}
