// The Proxmox VE cluster API of one member (proxmox-cluster.md §1): HTTPS to port 8006 with the member's certificate
// pinned by its SHA-256 fingerprint (the same value `pvecm add --fingerprint` takes: proxmox.join_fingerprint), reads
// with an API token, root-only writes with a root@pam ticket from the join password. The pin is checked on the TLS
// handshake before any header (and so any token or password) is sent (src/tls/pinned-https.ts).
import { pinnedRequest, type PinnedAnswer, type PinnedFailure } from '../tls/pinned-https';

/** Where and how to reach a member. */
export interface ProxmoxApiOptions {
  host: string; // 192.168.1.10
  port?: number; // 8006
  fingerprint: string; // AB:CD:… (colons optional, any case)
  apiToken?: string | null; // USER@REALM!TOKENID=SECRET, for reads
  rootPassword?: string | null; // the root@pam password (the join password), for root-only writes
  timeoutMs?: number; // per request, 15 000
}

export type ProxmoxApiErrorCode =
  | 'unreachable' // no TCP/TLS connection (refused, timeout, DNS)
  | 'fingerprint_mismatch' // the member's certificate is not the pinned one
  | 'unauthorized' // 401: the token or the password is wrong
  | 'forbidden' // 403: the token lacks a privilege, or the call is root-only
  | 'not_in_cluster' // 424 of /cluster/config/join
  | 'api_error'; // any other answer that is not 2xx

/** A failed call: `message` names the member, the call and Proxmox's own reason. */
export class ProxmoxApiError extends Error {
  constructor(
    readonly code: ProxmoxApiErrorCode,
    message: string,
    readonly status: number | null = null,
  ) {
    super(message);
  }
}

/** One entry of GET /cluster/status. */
export type ClusterStatusEntry =
  | { type: 'cluster'; name: string; nodes: number; version: number; quorate: number }
  | { type: 'node'; id: string; name: string; nodeid: number; ip?: string; local: number; online: number; level?: string };

/** One entry of GET /cluster/config/nodes (the corosync nodelist). */
export interface NodelistEntry {
  node: string;
  name: string;
  nodeid: number | string;
  quorum_votes: number | string;
  ring0_addr?: string;
}

/** GET /cluster/config/join. */
export interface JoinInfo {
  nodelist: Array<{ name: string; nodeid: number | string; ring0_addr?: string; quorum_votes: number | string; pve_addr: string; pve_fp: string }>;
  preferred_node: string;
  config_digest?: string;
}

/** A guest of /cluster/resources?type=vm. */
export interface ClusterGuest {
  vmid: number; // 100
  name: string; // web-01
  node: string; // the member it runs on (or is configured on, when stopped)
  status: string; // running, stopped
  type: 'qemu' | 'lxc';
  hastate: string | null; // started, when HA manages it; null: not HA-managed
}

/** An HA resource of /cluster/ha/resources, with the member its guest is on. */
export interface HaResource {
  sid: string; // vm:100, ct:101
  state: string; // the requested state: started, stopped, disabled, ignored
  node: string | null; // from /cluster/resources (HA's own list has no node); null: no such guest visible
}

/** A storage replication job of /cluster/replication. */
export interface ReplicationJob {
  id: string; // 100-0 (<guest>-<jobnum>)
  guest: number; // 100
  source: string | null; // the member it replicates from; Proxmox sets it once the job ran (null before)
  target: string; // the member it replicates to
}

/** A task's state, GET /nodes/{node}/tasks/{upid}/status. */
export interface TaskStatus {
  status: 'running' | 'stopped';
  exitstatus: string | null; // OK, or the error; null while running
}

/** The cluster as an operator reads it. */
export interface ClusterSummary {
  name: string | null; // null: a standalone node, in no cluster
  quorate: boolean;
  votes: { online: number; total: number; needed: number };
  members: Array<{ name: string; nodeid: number; ip: string | null; online: boolean; votes: number; local: boolean }>;
}

interface Ticket {
  ticket: string;
  csrf: string;
  at: number;
}

const ticketLifetimeMs = 2 * 60 * 60 * 1000; // Proxmox tickets live 2 hours; renewed well before

/** A client of one member's API. */
export class ProxmoxApi {
  private ticket: Ticket | null = null;

  constructor(private readonly o: ProxmoxApiOptions) {}

  /** `host:port` of the member. */
  get address(): string {
    return `${this.o.host}:${this.o.port ?? 8006}`;
  }

  /** GET /cluster/status. */
  clusterStatus(): Promise<ClusterStatusEntry[]> {
    return this.call('GET', '/cluster/status');
  }

  /** GET /cluster/config/nodes. */
  clusterNodes(): Promise<NodelistEntry[]> {
    return this.call('GET', '/cluster/config/nodes');
  }

  /** GET /cluster/config/join: the nodelist with each member's pve_addr and pve_fp (424 standalone: not_in_cluster). */
  joinInfo(node?: string): Promise<JoinInfo> {
    return this.call('GET', `/cluster/config/join${node ? `?node=${encodeURIComponent(node)}` : ''}`);
  }

  /** The cluster's name, members and quorum, from /cluster/status and /cluster/config/nodes (votequorum arithmetic). */
  async cluster(): Promise<ClusterSummary> {
    const status = await this.clusterStatus();
    const entry = status.find((e): e is Extract<ClusterStatusEntry, { type: 'cluster' }> => e.type === 'cluster');
    const nodes = status.filter((e): e is Extract<ClusterStatusEntry, { type: 'node' }> => e.type === 'node');
    if (!entry) {
      const members = nodes.map((n) => ({ name: n.name, nodeid: Number(n.nodeid), ip: n.ip ?? null, online: n.online === 1, votes: 1, local: n.local === 1 }));
      return { name: null, quorate: true, votes: { online: 1, total: 1, needed: 1 }, members };
    }
    const votesOf = new Map((await this.clusterNodes()).map((n) => [n.name, Number(n.quorum_votes)]));
    const members = nodes
      .map((n) => ({ name: n.name, nodeid: Number(n.nodeid), ip: n.ip ?? null, online: n.online === 1, votes: votesOf.get(n.name) ?? 1, local: n.local === 1 }))
      .sort((a, b) => a.nodeid - b.nodeid);
    const total = members.reduce((sum, m) => sum + m.votes, 0);
    const online = members.filter((m) => m.online).reduce((sum, m) => sum + m.votes, 0);
    return { name: entry.name, quorate: entry.quorate === 1, votes: { online, total, needed: Math.floor(total / 2) + 1 }, members };
  }

  /** DELETE /cluster/config/nodes/{node}: root-only, with a root@pam ticket (= pvecm delnode). */
  async deleteNode(node: string): Promise<void> {
    await this.call('DELETE', `/cluster/config/nodes/${encodeURIComponent(node)}`, undefined, 'ticket');
  }

  /** POST /nodes/{node}/status command=reboot|shutdown with the API token only (Sys.PowerMgmt): reboot() and shutdown() fall back to the ticket. */
  async nodeCommand(node: string, command: 'reboot' | 'shutdown'): Promise<void> {
    await this.call('POST', `/nodes/${encodeURIComponent(node)}/status`, { command });
  }

  /** GET /cluster/resources?type=vm: every guest the token may see (VM.Audit; Proxmox leaves out the others, it does not refuse). */
  async guests(): Promise<ClusterGuest[]> {
    const resources = await this.call<Array<{ type: string; vmid: number | string; name?: string; node: string; status?: string; hastate?: string }>>('GET', '/cluster/resources?type=vm');
    return resources
      .filter((r): r is typeof r & { type: 'qemu' | 'lxc' } => r.type === 'qemu' || r.type === 'lxc')
      .map((r) => ({ vmid: Number(r.vmid), name: r.name ?? '', node: r.node, status: r.status ?? 'unknown', type: r.type, hastate: r.hastate ?? null }));
  }

  /** GET /cluster/ha/resources (Sys.Audit), each with its guest's member from /cluster/resources (the HA list has none). */
  async haResources(): Promise<HaResource[]> {
    const [resources, guests] = await Promise.all([this.call<Array<{ sid: string; state?: string }>>('GET', '/cluster/ha/resources'), this.guests()]);
    const nodeOf = new Map(guests.map((g) => [g.vmid, g.node]));
    // sid is <type>:<vmid> (vm:100, ct:101); the state defaults to started when the resource was added without one
    return resources.map((r) => ({ sid: r.sid, state: r.state ?? 'started', node: nodeOf.get(Number(r.sid.split(':').pop())) ?? null }));
  }

  /** GET /cluster/replication: the replication jobs (Proxmox lists those of guests the token has VM.Audit on). */
  async replicationJobs(): Promise<ReplicationJob[]> {
    const jobs = await this.call<Array<{ id: string; guest: number | string; source?: string; target: string }>>('GET', '/cluster/replication');
    return jobs.map((j) => ({ id: j.id, guest: Number(j.guest), source: j.source ?? null, target: j.target }));
  }

  /** GET /cluster/config/qdevice: whether the cluster has a QDevice (Proxmox answers an empty object without one). */
  async qdevice(): Promise<boolean> {
    const status = await this.call<Record<string, unknown> | null>('GET', '/cluster/config/qdevice');
    return status !== null && typeof status === 'object' && Object.keys(status).length > 0;
  }

  /**
   * Reboots `node` through its OS (POST /nodes/{node}/status command=reboot): with the API token when it has
   * Sys.PowerMgmt, else (the token is refused) with the root@pam ticket of proxmox.join_password, when there is one.
   */
  reboot(node: string): Promise<void> {
    return this.powerCommand(node, 'reboot');
  }

  /** Shuts `node` down through its OS (POST /nodes/{node}/status command=shutdown): the token, else the ticket, as reboot(). */
  shutdown(node: string): Promise<void> {
    return this.powerCommand(node, 'shutdown');
  }

  private async powerCommand(node: string, command: 'reboot' | 'shutdown'): Promise<void> {
    await this.tokenElseTicket(() => this.nodeCommand(node, command), () => this.call('POST', `/nodes/${encodeURIComponent(node)}/status`, { command }, 'ticket'));
  }

  /**
   * Starts moving every guest of `node` to `target` (POST /nodes/{node}/migrateall) and returns the task's UPID: with
   * the API token when it has VM.Migrate, else with the root@pam ticket, as reboot().
   */
  migrateAll(node: string, target: string): Promise<string> {
    const path = `/nodes/${encodeURIComponent(node)}/migrateall`;
    return this.tokenElseTicket(() => this.call<string>('POST', path, { target }), () => this.call<string>('POST', path, { target }, 'ticket'));
  }

  /** GET /nodes/{node}/tasks/{upid}/status: running, or stopped with its exit status (OK or the error). */
  async taskStatus(node: string, upid: string): Promise<TaskStatus> {
    const task = await this.call<{ status: string; exitstatus?: string }>('GET', `/nodes/${encodeURIComponent(node)}/tasks/${encodeURIComponent(upid)}/status`);
    return { status: task.status === 'running' ? 'running' : 'stopped', exitstatus: task.exitstatus ?? null };
  }

  /** Runs `withToken`; when the token is refused (403) and a root password is configured, `withTicket` instead. */
  private async tokenElseTicket<T>(withToken: () => Promise<T>, withTicket: () => Promise<T>): Promise<T> {
    if (!this.o.apiToken) return withTicket();
    try {
      return await withToken();
    } catch (err) {
      // A 403 means Proxmox checked the privilege before doing anything, so the call is safe to repeat.
      if (err instanceof ProxmoxApiError && err.code === 'forbidden' && this.o.rootPassword) return withTicket();
      throw err;
    }
  }

  /** Calls `path` under /api2/json and returns its `data`; throws ProxmoxApiError naming the member and the reason. */
  async call<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, form?: Record<string, string>, auth: 'token' | 'ticket' = 'token'): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (auth === 'token') {
      if (!this.o.apiToken) throw new ProxmoxApiError('unauthorized', `${method} ${path} on ${this.address}: no API token configured (proxmox.api_token)`);
      headers.authorization = `PVEAPIToken=${this.o.apiToken}`;
    } else {
      const ticket = await this.rootTicket();
      headers.cookie = `PVEAuthCookie=${ticket.ticket}`;
      if (method !== 'GET') headers.csrfpreventiontoken = ticket.csrf;
    }
    const { status, statusMessage, body } = await this.send(method, path, headers, form);
    if (status >= 200 && status < 300) return (JSON.parse(body || '{}') as { data: T }).data;
    throw this.failure(method, path, status, statusMessage, body);
  }

  /** Logs in as root@pam with proxmox.join_password (a root-only call will need it): throws unauthorized when refused. */
  async checkRootLogin(): Promise<void> {
    await this.rootTicket();
  }

  private async rootTicket(): Promise<Ticket> {
    if (this.ticket && Date.now() - this.ticket.at < ticketLifetimeMs - 10 * 60 * 1000) return this.ticket;
    if (!this.o.rootPassword) throw new ProxmoxApiError('unauthorized', `root-only call on ${this.address}: no root@pam password (proxmox.join_password)`);
    const { status, statusMessage, body } = await this.send('POST', '/access/ticket', { accept: 'application/json' }, { username: 'root@pam', password: this.o.rootPassword });
    if (status !== 200) throw this.failure('POST', '/access/ticket', status, statusMessage, body);
    const data = (JSON.parse(body) as { data: { ticket: string; CSRFPreventionToken: string } }).data;
    this.ticket = { ticket: data.ticket, csrf: data.CSRFPreventionToken, at: Date.now() };
    return this.ticket;
  }

  private failure(method: string, path: string, status: number, statusMessage: string, body: string): ProxmoxApiError {
    let reason = statusMessage;
    try {
      const parsed = JSON.parse(body) as { message?: string; errors?: Record<string, string> };
      if (parsed.message) reason = parsed.message.trim();
      if (parsed.errors) reason = `${reason}: ${Object.entries(parsed.errors).map(([k, v]) => `${k}: ${String(v).trim()}`).join('; ')}`;
    } catch {
      // not JSON: the status line says it
    }
    const code: ProxmoxApiErrorCode = status === 401 ? 'unauthorized' : status === 403 ? 'forbidden' : status === 424 ? 'not_in_cluster' : 'api_error';
    return new ProxmoxApiError(code, `${method} ${path} on ${this.address} answered ${status}: ${reason}`, status);
  }

  /** One request over a fresh TLS connection whose leaf certificate has been checked against the pin. */
  private send(method: string, path: string, headers: Record<string, string>, form?: Record<string, string>): Promise<PinnedAnswer> {
    const timeout = this.o.timeoutMs ?? 15_000;
    const payload = form === undefined ? undefined : new URLSearchParams(form).toString();
    // No CA check: the cluster's certificates are self-signed; the pin replaces the CA, as pvecm's own client does.
    const peer = { host: this.o.host, port: this.o.port ?? 8006, fingerprint: this.o.fingerprint, timeoutMs: timeout };
    const fail = (f: PinnedFailure): ProxmoxApiError => {
      switch (f.kind) {
        case 'fingerprint_mismatch':
          return new ProxmoxApiError('fingerprint_mismatch', `${this.address} presents certificate ${f.got}, not the configured ${f.expected} (proxmox.join_fingerprint; read it with pvenode cert info on the member)`);
        case 'handshake_timeout':
          return new ProxmoxApiError('unreachable', `${this.address}: no TLS handshake within ${timeout / 1000} s`);
        case 'connect_error':
          return new ProxmoxApiError('unreachable', `${this.address}: ${f.error.message}`);
        case 'foreign_socket':
          return new ProxmoxApiError('unreachable', `${method} ${path} on ${this.address}: the request did not use the pinned TLS connection`);
        case 'request_timeout':
          return new ProxmoxApiError('unreachable', `${method} ${path} on ${this.address}: no answer within ${timeout / 1000} s`);
        case 'request_error':
          return new ProxmoxApiError('unreachable', `${method} ${path} on ${this.address}: ${f.error.message}`);
      }
    };
    const contentHeaders: Record<string, string> = payload === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(payload)) };
    return pinnedRequest(peer, { method, path: `/api2/json${path}`, headers: { ...headers, ...contentHeaders }, body: payload }, fail);
  }
}

/**
 * What /readyz and the start-up log say about the cluster (null: all is well): the member answers, its certificate is
 * the pinned one, it is in a cluster, and the cluster is quorate.
 */
export async function clusterProblem(api: ProxmoxApi): Promise<string | null> {
  try {
    return problemOf(api.address, await api.cluster());
  } catch (err) {
    if (err instanceof ProxmoxApiError) return err.message;
    throw err;
  }
}

/** What is wrong with `cluster` as `address` reported it, or null. */
export function problemOf(address: string, cluster: ClusterSummary): string | null {
  if (cluster.name === null) return `${address} is a standalone node, in no cluster: create the cluster first with pvecm create on it`;
  if (!cluster.quorate) return `cluster ${cluster.name} is not quorate: ${cluster.votes.online} of ${cluster.votes.total} votes online, ${cluster.votes.needed} needed`;
  return null;
}
