// A stand-in Proxmox VE cluster API (proxmox-cluster.md §1–2) on real HTTPS at 127.0.0.1, with its own self-signed
// certificate, playing one member (the "local" node) of a shared, mutable cluster model.
//
// Models: API-token and ticket auth (cookie PVEAuthCookie + CSRFPreventionToken on writes, 2 h lifetime), per-token
// privilege lists, root-only calls that refuse every token, /cluster/status with votequorum arithmetic, the corosync
// nodelist (/cluster/config/nodes, /join with pve_addr and pve_fp, 424 when standalone), a QDevice flag, guests in
// /cluster/resources (filtered out without VM.Audit, as Proxmox filters instead of refusing; an HA-managed guest's
// hastate is its HA resource's state unless the guest sets one), HA resources in /cluster/ha/resources (Sys.Audit; as
// in pve-ha-manager the entries carry sid, type and state but no node), storage replication jobs in
// /cluster/replication (as in pve-guest-common: open to every user, each job listed only with VM.Audit, `source` only
// once set), reboot/shutdown (the node goes offline), migrateall as a task, addnode/delnode with their rules and the
// corosync.conf cfs lock (a waiter fails after lockTimeoutMs), and Proxmox's error shape (reason in the status line
// and in `message`).
// The local node's pve_fp is this server's certificate fingerprint, so a client can pin what join info tells it.
// Calls to an offline node answer 595; when the local node itself is offline the connection is dropped.
//
// Does not model: paths in privileges (a token's privileges hold everywhere), users other than root@pam, ticket
// renewal, the HA manager itself (no fencing, no recovery, no HA migrations, no rules or groups), replication runs
// (jobs are configuration only: nothing is replicated, `remove_job` is never set), storage, QDevice votes, the quorum wobble of a corosync reload, duplicate-IP checks,
// POST /cluster/config/join (refused to tokens; with a ticket it is 501), task logs. Guessed, not read in source:
// the 595 text, the qdevice body, the migrateall failure texts, and addnode/delnode on a standalone node.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { certificateFingerprint } from '../../src/tls/certificate';
import { createSelfSignedCertificate } from '../../src/tls/self-signed-certificate';

export interface ClusterNode {
  name: string; // pve2
  nodeid: number; // 2 (0 for a standalone node)
  ip: string; // 192.0.2.12: ring0_addr and pve_addr
  online: boolean;
  votes: number; // quorum_votes, 1
  fingerprint: string; // pve_fp, AB:CD:…
  local?: boolean; // the node this stand-in plays
}
export interface ClusterGuest {
  vmid: number;
  name: string;
  node: string;
  status: 'running' | 'stopped';
  type?: 'qemu' | 'lxc'; // qemu
  hastate?: string; // started
}
export interface ClusterHaResource {
  sid: string; // vm:100, ct:101
  state?: string; // started (Proxmox's default), stopped, disabled, ignored
  group?: string;
}
export interface ClusterReplicationJob {
  id: string; // 100-0: <guest>-<jobnum>
  guest: number; // 100
  target: string; // pve2
  source?: string; // set by Proxmox once the job ran: the node it replicates from
  schedule?: string; // */15
}
export interface ApiToken {
  id: string; // root@pam!auditor
  secret: string; // a UUID
  privileges: string[]; // Sys.Audit, VM.Audit, Sys.PowerMgmt, VM.Migrate
}
export interface ClusterTask {
  upid: string;
  node: string;
  user: string;
  status: 'running' | 'stopped';
  exitstatus?: string; // OK, or the error
}
export interface Quorum {
  totalVotes: number;
  onlineVotes: number;
  needed: number;
  quorate: boolean;
}

/** Thrown by the model (and answered by the API) with Proxmox's status and reason. */
export class ProxmoxStandInError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors?: Record<string, string>,
  ) {
    super(message);
  }
}

export const auditorToken: ApiToken = { id: 'root@pam!auditor', secret: '5f1c2b1e-0000-4000-8000-00000000a0d1', privileges: ['Sys.Audit', 'VM.Audit'] };
export const operatorToken: ApiToken = {
  id: 'root@pam!operator',
  secret: '5f1c2b1e-0000-4000-8000-0000000000e7',
  privileges: ['Sys.Audit', 'VM.Audit', 'Sys.PowerMgmt', 'VM.Migrate'],
};

export interface ClusterModelOptions {
  layout?: 'three-node' | 'two-node' | 'standalone'; // three-node: pve1 (local), pve2, pve3 in cluster "lab"
  name?: string; // cluster name, "lab"
  nodes?: Array<Partial<ClusterNode> & { name: string; ip: string }>; // replaces the layout's nodes
  guests?: ClusterGuest[]; // none
  qdevice?: boolean;
  haResources?: ClusterHaResource[]; // none
  replication?: ClusterReplicationJob[]; // none
  tokens?: ApiToken[]; // auditorToken and operatorToken
  rootPassword?: string; // "join-password"
  lockTimeoutMs?: number; // how long a nodelist edit waits for the corosync.conf lock: 10 000
  joinDurationMs?: number; // how long an addnode holds the lock: 0
  migrateStepMs?: number; // how long migrateall takes per guest: 20
}

export interface ClusterModel {
  name: string | null; // null: standalone
  nodes: ClusterNode[];
  guests: ClusterGuest[];
  qdevice: boolean;
  haResources: ClusterHaResource[];
  replication: ClusterReplicationJob[];
  tokens: ApiToken[];
  rootPassword: string;
  tasks: Map<string, ClusterTask>;
  lockTimeoutMs: number;
  joinDurationMs: number;
  migrateStepMs: number;
  configVersion: number; // corosync config_version, bumped by every nodelist edit
  /** Adds a node as addnode does: needs quorum, takes the lock for joinDurationMs, refuses a name in the nodelist. */
  addNode(name: string, ip: string, extra?: Partial<ClusterNode>): Promise<ClusterNode>;
  /** Removes a node as delnode does (`from` is the member running it, which it refuses to remove). */
  removeNode(name: string, from?: string): Promise<void>;
  setOnline(name: string, online: boolean): void;
  quorum(): Quorum;
  /** Starts a migrateall task moving every guest of `node` to `target`; returns its UPID. */
  migrateAll(node: string, target: string, user: string): string;
}

const fail = (status: number, message: string, errors?: Record<string, string>) => new ProxmoxStandInError(status, message, errors);
const randomFingerprint = () => (randomBytes(32).toString('hex').toUpperCase().match(/../g) ?? []).join(':');
const hex8 = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');
const layouts = { 'three-node': ['pve1', 'pve2', 'pve3'], 'two-node': ['pve1', 'pve2'], standalone: ['pve1'] } as const;

/** Returns a cluster model to share between the API stand-in and other stand-ins (the sshd node's `pvecm`). */
export function createClusterModel(options: ClusterModelOptions = {}): ClusterModel {
  const layout = options.layout ?? 'three-node';
  const standalone = layout === 'standalone';
  const seeds = options.nodes ?? layouts[layout].map((name, i) => ({ name, ip: `192.0.2.${11 + i}` }));
  let lockHeld = false;
  const lockWaiters: Array<() => void> = [];

  // cfs_lock_file('corosync.conf', 10 s): a waiter that does not get the lock in time fails (proxmox-cluster.md §1).
  async function withCorosyncLock<T>(edit: () => Promise<T>): Promise<T> {
    if (lockHeld) {
      await new Promise<void>((resolve, reject) => {
        const grant = () => (clearTimeout(timer), resolve());
        const timer = setTimeout(() => {
          lockWaiters.splice(lockWaiters.indexOf(grant), 1);
          reject(fail(500, "cfs-lock 'file-corosync_conf' error: got lock request timeout"));
        }, model.lockTimeoutMs);
        lockWaiters.push(grant);
      });
    }
    lockHeld = true;
    try {
      return await edit();
    } finally {
      const next = lockWaiters.shift();
      if (next) next();
      else lockHeld = false;
    }
  }
  const requireCluster = () => {
    if (model.name === null) throw fail(500, 'no cluster configuration (/etc/pve/corosync.conf missing)'); // text UNCONFIRMED
  };
  const requireQuorum = () => {
    if (!model.quorum().quorate) throw fail(500, 'cluster not ready - no quorum?');
  };

  const model: ClusterModel = {
    name: standalone ? null : (options.name ?? 'lab'),
    nodes: seeds.map((n, i) => ({
      nodeid: standalone ? 0 : i + 1,
      online: true,
      votes: 1,
      fingerprint: randomFingerprint(),
      local: i === 0,
      ...n,
    })),
    guests: options.guests ?? [],
    qdevice: options.qdevice ?? false,
    haResources: options.haResources ?? [],
    replication: options.replication ?? [],
    tokens: options.tokens ?? [auditorToken, operatorToken],
    rootPassword: options.rootPassword ?? 'join-password',
    tasks: new Map(),
    lockTimeoutMs: options.lockTimeoutMs ?? 10_000,
    joinDurationMs: options.joinDurationMs ?? 0,
    migrateStepMs: options.migrateStepMs ?? 20,
    configVersion: seeds.length,
    async addNode(name, ip, extra = {}) {
      requireCluster();
      requireQuorum();
      return withCorosyncLock(async () => {
        if (model.nodes.some((n) => n.name === name)) throw fail(500, `can't add existing node '${name}'`);
        await new Promise((r) => setTimeout(r, model.joinDurationMs));
        let nodeid = 1; // the lowest free id, so a rebuilt node usually gets its old one back
        while (model.nodes.some((n) => n.nodeid === nodeid)) nodeid++;
        const node: ClusterNode = { name, ip, nodeid, online: true, votes: 1, fingerprint: randomFingerprint(), ...extra };
        model.nodes.push(node);
        model.configVersion++;
        return node;
      });
    },
    async removeNode(name, from) {
      requireCluster();
      requireQuorum();
      await withCorosyncLock(async () => {
        const node = model.nodes.find((n) => n.name === name || n.ip === name);
        if (!node) throw fail(500, `Node/IP: ${name} is not a known host of the cluster.`);
        if (node.name === from) throw fail(500, 'Cannot delete myself from cluster!');
        model.nodes.splice(model.nodes.indexOf(node), 1);
        model.configVersion++;
      });
    },
    setOnline(name, online) {
      const node = model.nodes.find((n) => n.name === name);
      if (!node) throw new Error(`proxmox stand-in: no node ${name}`);
      node.online = online;
    },
    quorum() {
      const totalVotes = model.nodes.reduce((sum, n) => sum + n.votes, 0);
      const onlineVotes = model.nodes.reduce((sum, n) => sum + (n.online ? n.votes : 0), 0);
      const needed = Math.floor(totalVotes / 2) + 1;
      return { totalVotes, onlineVotes, needed, quorate: onlineVotes >= needed };
    },
    migrateAll(node, target, user) {
      const targetNode = model.nodes.find((n) => n.name === target);
      if (!targetNode) throw fail(500, `no such cluster node '${target}'`);
      if (target === node) throw fail(500, 'target is local node.');
      const now = Date.now();
      const upid = `UPID:${node}:${hex8(process.pid)}:${hex8(now % 0xffffffff)}:${hex8(Math.floor(now / 1000))}:migrateall::${user}:`;
      const task: ClusterTask = { upid, node, user, status: 'running' };
      model.tasks.set(upid, task);
      const step = () => {
        const guest = model.guests.find((g) => g.node === node);
        if (!guest) return Object.assign(task, { status: 'stopped', exitstatus: 'OK' });
        if (!targetNode.online) return Object.assign(task, { status: 'stopped', exitstatus: 'some guests failed to migrate' });
        guest.node = target;
        setTimeout(step, model.migrateStepMs).unref();
      };
      setTimeout(step, model.migrateStepMs).unref();
      return upid;
    },
  };
  return model;
}

export interface ProxmoxApiStandInOptions extends ClusterModelOptions {
  cluster?: ClusterModel; // share an existing model (another member's stand-in, the sshd node's pvecm)
  localNode?: string; // the member this server plays: the model's node with local: true
  port?: number; // 0
  ticketLifetimeMs?: number; // 7 200 000
  onReboot?: (node: string) => void; // after POST /nodes/{node}/status command=reboot marked it offline
}
export interface ApiRequest {
  method: string;
  path: string; // as sent: /api2/json/cluster/resources?type=vm
  auth: 'token' | 'ticket' | 'none';
  status: number; // 0 while the answer is pending (an addnode waiting for the lock)
}
export interface ProxmoxApiStandIn {
  url: string; // https://127.0.0.1:<port>
  port: number;
  fingerprint: string; // SHA-256 of the leaf, AB:CD:…
  cluster: ClusterModel;
  requests: ApiRequest[];
  close(): Promise<void>;
}

interface Caller {
  user: string; // root@pam, or the token id root@pam!auditor
  token: boolean;
  privileges: readonly string[] | 'all';
}
type Params = Record<string, string>;
type Handler = (caller: Caller, params: Params, match: string[]) => unknown;
interface Route {
  method: string;
  path: RegExp;
  handler: Handler;
}

/** Starts the stand-in API on HTTPS and returns where it listens and the model it serves. */
export async function startProxmoxApiStandIn(options: ProxmoxApiStandInOptions = {}): Promise<ProxmoxApiStandIn> {
  const cluster = options.cluster ?? createClusterModel(options);
  const local = cluster.nodes.find((n) => (options.localNode ? n.name === options.localNode : n.local));
  if (!local) throw new Error('proxmox stand-in: no local node to play');
  const { key, cert } = await createSelfSignedCertificate({ host: '127.0.0.1', validDays: 2 });
  const fingerprint = certificateFingerprint(cert);
  local.fingerprint = fingerprint; // pve_fp of this member is what its port 8006 presents
  const tickets = new Map<string, { user: string; csrf: string; expires: number }>();
  const requests: ApiRequest[] = [];
  const bit = (b: boolean) => (b ? 1 : 0);

  const need = (caller: Caller, path: string, privilege: string) => {
    if (caller.privileges !== 'all' && !caller.privileges.includes(privilege)) throw fail(403, `Permission check failed (${path}, ${privilege})`);
  };
  const rootOnly = (caller: Caller) => {
    if (caller.token || caller.user !== 'root@pam') throw fail(403, 'Permission check failed (user != root@pam)');
  };
  const member = (name: string) => {
    const node = cluster.nodes.find((n) => n.name === name);
    if (!node) throw fail(500, `hostname lookup '${name}' failed - failed to get address info for: ${name}: Name or service not known`);
    if (!node.online) throw fail(595, 'Errors during connection establishment, proxy handshake: No route to host');
    return node;
  };
  const oneOf = (params: Params, field: string, values: string[]) => {
    const value = params[field];
    if (value === undefined) throw fail(400, 'Parameter verification failed.', { [field]: 'property is missing and it is not optional' });
    if (!values.includes(value)) throw fail(400, 'Parameter verification failed.', { [field]: `value '${value}' does not have a value in the enumeration '${values.join(', ')}'` });
    return value;
  };
  const requireCluster = () => {
    if (cluster.name === null) throw fail(424, 'node is not in a cluster, no join info available!');
  };
  // corosync.conf values are strings when parsed (nodeid "1"), unlike /cluster/status's numbers
  const corosyncEntry = (n: ClusterNode) => ({ name: n.name, nodeid: String(n.nodeid), quorum_votes: String(n.votes), ring0_addr: n.ip });

  const routes: Route[] = [
    { method: 'GET', path: /^\/cluster\/status$/, handler: clusterStatus },
    { method: 'GET', path: /^\/cluster\/config\/nodes$/, handler: (c) => (need(c, '/', 'Sys.Audit'), cluster.name === null ? [] : cluster.nodes.map((n) => ({ node: n.name, ...corosyncEntry(n) }))) },
    { method: 'GET', path: /^\/cluster\/config\/join$/, handler: joinInfo },
    { method: 'GET', path: /^\/cluster\/config\/qdevice$/, handler: (c) => (need(c, '/', 'Sys.Audit'), cluster.qdevice ? { Algorithm: 'Fifty-Fifty split', State: 'Connected', 'QNetd host': '192.0.2.5:5403' } : {}) },
    { method: 'GET', path: /^\/cluster\/resources$/, handler: resources },
    { method: 'GET', path: /^\/cluster\/ha\/resources$/, handler: haResources },
    { method: 'GET', path: /^\/cluster\/replication$/, handler: replication },
    { method: 'POST', path: /^\/nodes\/([^/]+)\/status$/, handler: powerCommand },
    { method: 'POST', path: /^\/nodes\/([^/]+)\/migrateall$/, handler: migrateAll },
    { method: 'GET', path: /^\/nodes\/([^/]+)\/tasks\/([^/]+)\/status$/, handler: taskStatus },
    { method: 'DELETE', path: /^\/cluster\/config\/nodes\/([^/]+)$/, handler: async (c, _p, [name]) => (rootOnly(c), await cluster.removeNode(name!, local.name), null) },
    { method: 'POST', path: /^\/cluster\/config\/nodes\/([^/]+)$/, handler: addNode },
    { method: 'POST', path: /^\/cluster\/config\/join$/, handler: (c) => (rootOnly(c), requireClusterless()) },
  ];

  function clusterStatus(caller: Caller) {
    need(caller, '/', 'Sys.Audit');
    const node = (n: ClusterNode) => ({ type: 'node', id: `node/${n.name}`, name: n.name, nodeid: n.nodeid, ip: n.ip, local: bit(n === local), online: bit(n.online), level: '' });
    if (cluster.name === null) return [node(local!)];
    const head = { type: 'cluster', id: 'cluster', name: cluster.name, nodes: cluster.nodes.length, version: cluster.configVersion, quorate: bit(cluster.quorum().quorate) };
    return [head, ...cluster.nodes.map(node)];
  }
  function joinInfo(caller: Caller, params: Params) {
    need(caller, '/', 'Sys.Audit');
    requireCluster();
    const preferred = params.node ?? local!.name;
    if (!cluster.nodes.some((n) => n.name === preferred)) throw fail(500, `no such cluster node '${preferred}'`);
    const nodelist = cluster.nodes.map((n) => ({ ...corosyncEntry(n), pve_addr: n.ip, pve_fp: n.fingerprint }));
    const totem = { cluster_name: cluster.name, config_version: String(cluster.configVersion), interface: { '0': { linknumber: '0' } }, ip_version: 'ipv4-6', link_mode: 'passive', secauth: 'on', version: '2' };
    const config_digest = createHash('sha1').update(JSON.stringify({ nodelist, totem })).digest('hex');
    return { nodelist, preferred_node: preferred, totem, config_digest };
  }
  function resources(caller: Caller, params: Params) {
    const type = params.type === undefined ? undefined : oneOf(params, 'type', ['vm', 'node', 'storage', 'sdn']);
    const visible = caller.privileges === 'all' || caller.privileges.includes('VM.Audit'); // filtered, never 403
    const hastateOf = (g: ClusterGuest) => {
      const ha = haResourceOf(g);
      return g.hastate ?? (ha ? (ha.state ?? 'started') : undefined);
    };
    const guests = (type ?? 'vm') === 'vm' && visible
      ? cluster.guests.map((g) => {
          const hastate = hastateOf(g);
          return { id: `${g.type ?? 'qemu'}/${g.vmid}`, type: g.type ?? 'qemu', ...g, ...(hastate === undefined ? {} : { hastate }) };
        })
      : [];
    const nodes = (type ?? 'node') === 'node' ? cluster.nodes.map((n) => ({ id: `node/${n.name}`, type: 'node', node: n.name, status: n.online ? 'online' : 'offline' })) : [];
    return [...guests, ...nodes];
  }
  function haResourceOf(g: ClusterGuest) {
    return cluster.haResources.find((r) => r.sid === `${(g.type ?? 'qemu') === 'lxc' ? 'ct' : 'vm'}:${g.vmid}`);
  }
  function haResources(caller: Caller, params: Params) {
    need(caller, '/', 'Sys.Audit');
    const type = params.type === undefined ? undefined : oneOf(params, 'type', ['vm', 'ct']);
    const digest = createHash('sha1').update(JSON.stringify(cluster.haResources)).digest('hex');
    return cluster.haResources
      .map((r) => ({ ...r, type: r.sid.split(':')[0]!, digest }))
      .filter((r) => type === undefined || r.type === type);
  }
  function replication(caller: Caller) {
    // user => 'all', then each job only with VM.Audit on its guest (pve-guest-common API2/ReplicationConfig.pm)
    const visible = caller.privileges === 'all' || caller.privileges.includes('VM.Audit');
    if (!visible) return [];
    return [...cluster.replication]
      .sort((a, b) => a.id.localeCompare(b.id))
      .map((j) => ({ type: 'local', schedule: '*/15', jobnum: Number(j.id.split('-')[1] ?? 0), ...j }));
  }
  function powerCommand(caller: Caller, params: Params, [name]: string[]) {
    const node = member(name!);
    need(caller, `/nodes/${node.name}`, 'Sys.PowerMgmt');
    const command = oneOf(params, 'command', ['reboot', 'shutdown']);
    node.online = false; // this request is still answered: it arrived before the node went down
    if (command === 'reboot') setImmediate(() => options.onReboot?.(node.name));
    return null;
  }
  function migrateAll(caller: Caller, params: Params, [name]: string[]) {
    const node = member(name!);
    need(caller, '/', 'VM.Migrate');
    if (params.target === undefined) throw fail(400, 'Parameter verification failed.', { target: 'property is missing and it is not optional' });
    return cluster.migrateAll(node.name, params.target, caller.user);
  }
  function taskStatus(caller: Caller, _params: Params, [name, upid]: string[]) {
    member(name!);
    const task = cluster.tasks.get(upid!);
    if (!task) throw fail(500, `no such task '${upid}'`);
    if (task.user !== caller.user) need(caller, `/nodes/${name}`, 'Sys.Audit');
    const [, , pid, pstart, starttime] = task.upid.split(':');
    return { upid: task.upid, node: task.node, pid: parseInt(pid!, 16), pstart: parseInt(pstart!, 16), starttime: parseInt(starttime!, 16), type: 'migrateall', id: '', user: task.user, status: task.status, ...(task.exitstatus === undefined ? {} : { exitstatus: task.exitstatus }) };
  }
  async function addNode(caller: Caller, params: Params, [name]: string[]) {
    rootOnly(caller);
    const ip = params.new_node_ip ?? params.link0?.split(',')[0]?.replace(/^address=/, '');
    if (!ip) throw fail(400, 'Parameter verification failed.', { new_node_ip: 'property is missing and it is not optional' });
    await cluster.addNode(name!, ip);
    return { corosync_authkey: randomBytes(32).toString('base64'), corosync_conf: `totem {\n  cluster_name: ${cluster.name}\n  config_version: ${cluster.configVersion}\n}\n`, warnings: [] };
  }
  function requireClusterless(): never {
    if (cluster.name !== null) throw fail(500, "cluster config '/etc/pve/corosync.conf' already exists");
    throw fail(501, 'POST /cluster/config/join is not modeled by the stand-in');
  }

  function login(params: Params) {
    if (params.username !== 'root@pam' || params.password !== cluster.rootPassword) throw fail(401, 'authentication failure');
    const now = Date.now();
    const ticket = `PVE:root@pam:${hex8(Math.floor(now / 1000))}::${randomBytes(64).toString('base64')}`;
    const csrf = `${hex8(Math.floor(now / 1000))}:${randomBytes(32).toString('base64').replace(/=+$/, '')}`;
    tickets.set(ticket, { user: 'root@pam', csrf, expires: now + (options.ticketLifetimeMs ?? 7_200_000) });
    return { ticket, CSRFPreventionToken: csrf, username: 'root@pam', cap: {} };
  }

  function authenticate(req: IncomingMessage): Caller {
    const header = req.headers.authorization;
    if (header !== undefined) {
      const m = /^PVEAPIToken=([^=\s]+)=(\S+)$/.exec(header);
      const token = m && cluster.tokens.find((t) => t.id === m[1] && t.secret === m[2]);
      if (!token) throw fail(401, 'authentication failure');
      return { user: token.id, token: true, privileges: token.privileges };
    }
    const cookie = /(?:^|;\s*)PVEAuthCookie=([^;]+)/.exec(req.headers.cookie ?? '');
    if (!cookie) throw fail(401, 'No ticket');
    const ticket = tickets.get(decodeURIComponent(cookie[1]!));
    if (!ticket || ticket.expires < Date.now()) throw fail(401, 'authentication failure');
    if (req.method !== 'GET' && req.headers.csrfpreventiontoken !== ticket.csrf) throw fail(401, 'Permission denied - invalid csrf token');
    return { user: ticket.user, token: false, privileges: 'all' };
  }

  async function answer(req: IncomingMessage, res: ServerResponse, body: string): Promise<number> {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const params: Params = Object.fromEntries(url.searchParams);
    try {
      if (body !== '') {
        const json = (req.headers['content-type'] ?? '').includes('json');
        Object.assign(params, json ? (JSON.parse(body) as Params) : Object.fromEntries(new URLSearchParams(body)));
        for (const [k, v] of Object.entries(params)) params[k] = String(v); // JSON numbers arrive as Proxmox sees them
      }
      const path = url.pathname.startsWith('/api2/json/') ? url.pathname.slice('/api2/json'.length) : null;
      if (path === '/access/ticket' && req.method === 'POST') return reply(res, 200, login(params));
      const route = path === null ? undefined : routes.find((r) => r.method === req.method && r.path.test(path));
      if (!route || path === null) throw fail(501, `Method '${req.method} ${url.pathname}' not implemented`);
      const caller = authenticate(req);
      const match = route.path.exec(path)!.slice(1).map(decodeURIComponent);
      return reply(res, 200, await route.handler(caller, params, match));
    } catch (error) {
      const e = error instanceof ProxmoxStandInError ? error : fail(error instanceof SyntaxError ? 400 : 500, `stand-in: ${(error as Error).message}`);
      res.statusMessage = e.message;
      return reply(res, e.status, e.errors ? { data: null, errors: e.errors } : { data: null, message: `${e.message}\n` }, true);
    }
  }
  function reply(res: ServerResponse, status: number, data: unknown, whole = false): number {
    res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8' }).end(JSON.stringify(whole ? data : { data }));
    return status;
  }

  const server: Server = createServer({ key, cert }, (req, res) => {
    if (!local.online) return req.socket.destroy(); // a rebooting member does not answer at all
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const auth = req.headers.authorization !== undefined ? 'token' : /PVEAuthCookie=/.test(req.headers.cookie ?? '') ? 'ticket' : 'none';
      const entry: ApiRequest = { method: req.method ?? '', path: req.url ?? '', auth, status: 0 };
      requests.push(entry);
      void answer(req, res, Buffer.concat(chunks).toString('utf8')).then((status) => (entry.status = status));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    fingerprint,
    cluster,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
