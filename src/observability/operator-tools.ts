// The operator tools a gateway serves (issue 18): the event stream for scripts, the audit trail, the metrics.
import type { EventHub } from '../dashboard/event-hub';
import type { ImageJobs } from '../images/preparation-jobs';
import { AuditStore } from '../store/audit-store';
import type { Database } from '../store/database';
import type { HostStore } from '../store/host-store';
import type { OperationStore } from '../store/operation-store';
import { StreamStore } from '../store/stream-store';
import { Metrics } from './metrics';
import { StreamHub, type StreamHubOptions } from './stream-hub';

export interface OperatorTools {
  stream: StreamStore;
  streamHub: StreamHub;
  audit: AuditStore;
  metrics: Metrics;
  metricsToken: string; // '' → /metrics takes the operator API's auth
  auditRetention: string; // audit.retention: '30d'
}

/** Builds the tools over the service's database; `imageJobs` progress goes into the stream and the metrics. */
export function operatorTools(o: {
  db: Database;
  hosts: HostStore;
  operations: OperationStore;
  imageJobs: ImageJobs;
  hub: Pick<EventHub, 'clientCount'>;
  metricsToken: string;
  auditRetention?: string; // '30d'
  streamOptions?: StreamHubOptions;
}): OperatorTools {
  const stream = new StreamStore(o.db);
  const streamHub = new StreamHub(stream, o.streamOptions);
  const metrics = new Metrics({
    db: o.db,
    stream,
    hostStates: () => {
      const counts = new Map<string, number>();
      for (const h of o.hosts.list()) counts.set(h.state, (counts.get(h.state) ?? 0) + 1);
      return counts;
    },
    runningRebuilds: () => o.operations.listRunning().length,
    sseClients: () => ({ dashboard: o.hub.clientCount, api: streamHub.clientCount }),
    imageJobs: () => o.imageJobs.list(),
  });
  // Image progress: each change of a job (the jobs throttle their own progress) is one stream event.
  o.imageJobs.onChange((job) => {
    metrics.observeImageJob(job);
    stream.append('image.progress', { image: job.name, job_id: job.id, state: job.state, step: job.step, bytes_done: job.bytesDone, bytes_total: job.bytesTotal, error: job.error });
  });
  return { stream, streamHub, audit: new AuditStore(o.db), metrics, metricsToken: o.metricsToken, auditRetention: o.auditRetention ?? '30d' };
}

/** Prunes the audit trail past its retention and the stream past a week (keeping its newest 10 000); returns the timer. */
export function startPruning(tools: OperatorTools, retentionMs: number, log: (pruned: { audit: number; stream: number }) => void): NodeJS.Timeout {
  const prune = () => {
    const pruned = { audit: tools.audit.prune(retentionMs), stream: tools.stream.prune(new Date(Date.now() - 7 * 86_400_000).toISOString()) };
    if (pruned.audit + pruned.stream > 0) log(pruned);
  };
  prune();
  const timer = setInterval(prune, 3_600_000);
  timer.unref();
  return timer;
}
