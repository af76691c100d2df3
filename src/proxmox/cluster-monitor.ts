// The cluster as last seen: the gateway asks the member every `intervalMs` and keeps the answer, so /readyz, the API
// and the dashboard read it without a call to Proxmox per request (and a slow member never slows a page).
import type { Logger } from '../logging';
import { problemOf, ProxmoxApiError, type ClusterSummary, type ProxmoxApi } from './api-client';

/** What the last check found. */
export interface ClusterSnapshot {
  member: string; // 192.168.1.10:8006
  checkedAt: string | null; // null: not checked yet
  cluster: ClusterSummary | null; // null: the member did not answer as it should
  problem: string | null; // what is wrong, or null
}

/** Polls one member's cluster API; `start()` checks at once, then every `intervalMs`. */
export class ClusterMonitor {
  private last: ClusterSnapshot;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | null = null;

  constructor(
    private readonly api: ProxmoxApi,
    private readonly log: Pick<Logger, 'info' | 'warn'>,
    private readonly intervalMs = 15_000,
  ) {
    this.last = { member: api.address, checkedAt: null, cluster: null, problem: null };
  }

  /** The last check's result. */
  snapshot(): ClusterSnapshot {
    return this.last;
  }

  start(): void {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** Checks now (one check at a time); logs when what is wrong changes. */
  refresh(): Promise<void> {
    this.running ??= this.check().finally(() => (this.running = null));
    return this.running;
  }

  private async check(): Promise<void> {
    let cluster: ClusterSummary | null = null;
    let problem: string | null = null;
    try {
      cluster = await this.api.cluster();
      problem = problemOf(this.api.address, cluster);
    } catch (err) {
      if (!(err instanceof ProxmoxApiError)) throw err;
      problem = err.message;
    }
    const before = this.last;
    this.last = { member: this.api.address, checkedAt: new Date().toISOString(), cluster, problem };
    if (before.checkedAt !== null && before.problem === problem) return;
    if (problem) this.log.warn({ member: this.api.address }, `cluster check: ${problem}`);
    else this.log.info({ member: this.api.address, cluster: cluster?.name, members: cluster?.members.length }, 'cluster check: the member answers with the pinned certificate and its cluster is quorate');
  }
}
