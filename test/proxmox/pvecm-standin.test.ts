// Medium: the sshd stand-in node's scripted pvecm (test/fixtures/pvecm) attached to the Proxmox API stand-in, so
// `pvecm add` logs in, reads the peer's pve_fp and calls addnode on the shared cluster model as real pvecm does
// (proxmox.md §6.2–6.3, proxmox-cluster.md §1–2). Real: sshd, bash, the HTTPS stand-in and its model's rules (quorum,
// existing names, the corosync.conf lock). The fixture runs over SSH in one case and directly (STANDIN set) in the rest.
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { generateEd25519KeyPair } from '../../activities/rebuild-key';
import { SshSession, type CommandResult } from '../../activities/ssh-session';
import { ProxmoxApi } from '../../src/proxmox/api-client';
import { auditorToken, startProxmoxApiStandIn, type ProxmoxApiStandIn, type ProxmoxApiStandInOptions } from '../helpers/proxmox-api-standin';
import { Resources } from '../helpers/release';
import { standInRootPublicKey, startStandInNode, type ClusterAttachment, type StandInNode } from '../helpers/sshd-node';

const resources = new Resources();
afterEach(() => resources.releaseAll());

const oldNodeKey = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCstandInOldPve2RootKey000000000000000000000000000000 root@pve2';

async function cluster(options: ProxmoxApiStandInOptions = {}): Promise<ProxmoxApiStandIn> {
  return resources.add(await startProxmoxApiStandIn(options), (s) => s.close());
}
async function node(attachment?: Omit<ClusterAttachment, 'apiUrl'> & { api: ProxmoxApiStandIn }): Promise<StandInNode> {
  const options = attachment ? { cluster: { apiUrl: attachment.api.url, hostname: attachment.hostname, ip: attachment.ip, authorizedKeys: attachment.authorizedKeys } } : {};
  return resources.add(await startStandInNode('scripted-password', options), (n) => n.stop());
}

/** Runs the node's pvecm as its sshd would (STANDIN set, bin/ first), with `stdin` as the password line. */
function pvecm(n: StandInNode, args: string[], stdin = ''): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(n.dir, 'bin/pvecm'), args, { env: { ...process.env, STANDIN: n.dir, STANDIN_NODE: process.execPath } });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => stdout.push(c));
    child.stderr.on('data', (c: Buffer) => stderr.push(c));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') }));
    child.stdin.end(stdin);
  });
}
const add = (n: StandInNode, peer: string, fingerprint: string, password: string) => pvecm(n, ['add', peer, '--fingerprint', fingerprint], `${password}\n`);
const fingerprintOf = (api: ProxmoxApiStandIn, name: string) => api.cluster.nodes.find((m) => m.name === name)!.fingerprint;
const names = (api: ProxmoxApiStandIn) => api.cluster.nodes.map((m) => m.name);
const addnodeCalls = (api: ProxmoxApiStandIn) => api.requests.filter((r) => r.method === 'POST' && r.path.startsWith('/api2/json/cluster/config/nodes/'));

describe('scripted pvecm attached to the API stand-in', () => {
  it('joins over SSH: addnode puts the node in the model with its IP, and /cluster/config/nodes lists it', async () => {
    const api = await cluster();
    const n = await node({ api, hostname: 'pve-ms-03', ip: '192.0.2.23', authorizedKeys: [oldNodeKey] });
    const key = generateEd25519KeyPair('pvecm-standin-test');
    n.authorize(key.public);
    const session = await SshSession.connect({ host: '127.0.0.1', port: n.port, username: 'root', privateKey: key.private, hostKeys: [n.hostKey] });
    const result = await session.exec(`pvecm add 192.0.2.11 --fingerprint ${api.fingerprint}`, `${api.cluster.rootPassword}\n`).finally(() => session.close());

    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toContain("No cluster network links passed explicitly, fallback to local node IP '192.0.2.23'");
    expect(result.stdout).toContain("successfully added node 'pve-ms-03' to cluster.");
    expect(api.cluster.nodes.find((m) => m.name === 'pve-ms-03')).toMatchObject({ ip: '192.0.2.23', nodeid: 4, online: true, votes: 1 });
    const reader = new ProxmoxApi({ host: '127.0.0.1', port: api.port, fingerprint: api.fingerprint, apiToken: `${auditorToken.id}=${auditorToken.secret}` });
    expect(await reader.clusterNodes()).toContainEqual({ node: 'pve-ms-03', name: 'pve-ms-03', nodeid: '4', quorum_votes: '1', ring0_addr: '192.0.2.23' });
    expect(addnodeCalls(api)).toEqual([{ method: 'POST', path: '/api2/json/cluster/config/nodes/pve-ms-03', auth: 'ticket', status: 200 }]);
    expect(n.pvecmPassword()).toBe(api.cluster.rootPassword);

    // /etc/pve is the cluster's now: its corosync.conf, and its priv/authorized_keys with the old members' keys first.
    expect(readFileSync(n.layout.corosyncConf, 'utf8')).toContain('cluster_name: lab');
    expect(n.privAuthorizedKeys()).toEqual([oldNodeKey, expect.stringContaining('operator@laptop'), key.public.trim(), standInRootPublicKey('pve-ms-03')]);
    expect(n.rootPublicKey()).toBe(standInRootPublicKey('pve-ms-03'));
    expect(lstatSync(n.layout.authorizedKeysFiles[0]!).isSymbolicLink()).toBe(true);
  });

  it('refuses a wrong password with 401 and leaves the model unchanged', async () => {
    const api = await cluster();
    const n = await node({ api, hostname: 'pve-ms-03', ip: '192.0.2.23' });
    const result = await add(n, '192.0.2.11', api.fingerprint, 'not-the-root-password');
    expect(result).toEqual({ code: 0, stdout: "Establishing API connection with host '192.0.2.11'\n", stderr: '401 authentication failure\n' });
    expect(n.pvecmPassword()).toBe('not-the-root-password');
    expect(names(api)).toEqual(['pve1', 'pve2', 'pve3']);
    expect(addnodeCalls(api)).toEqual([]);
    expect(existsSync(n.layout.corosyncConf)).toBe(false);
  });

  it("refuses a fingerprint that is not the peer's pve_fp, without calling addnode", async () => {
    const api = await cluster();
    const n = await node({ api, hostname: 'pve-ms-03', ip: '192.0.2.23' });
    const otherMembers = fingerprintOf(api, 'pve2');
    const result = await add(n, '192.0.2.11', otherMembers, api.cluster.rootPassword);
    expect(result.stderr).toBe(`fingerprint '${otherMembers}' not verified, abort!\n`);
    expect(result.stdout).not.toContain('Login succeeded.');
    expect(addnodeCalls(api)).toEqual([]);
    expect(names(api)).toEqual(['pve1', 'pve2', 'pve3']);
  });

  it('cannot connect to an address that is no member of the cluster', async () => {
    const api = await cluster();
    const n = await node({ api, hostname: 'pve-ms-03', ip: '192.0.2.23' });
    const result = await add(n, '192.0.2.99', api.fingerprint, api.cluster.rootPassword);
    expect(result).toMatchObject({ code: 0, stderr: "500 Can't connect to 192.0.2.99:8006 (No route to host)\n" });
    expect(addnodeCalls(api)).toEqual([]);
  });

  it("refuses a name already in the cluster with can't add existing node", async () => {
    const api = await cluster();
    const n = await node({ api, hostname: 'pve3', ip: '192.0.2.33' });
    const result = await add(n, '192.0.2.11', api.fingerprint, api.cluster.rootPassword);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Request addition of this node');
    expect(result.stdout).not.toContain('successfully added node');
    expect(result.stderr).toBe("An error occurred on the cluster node: can't add existing node 'pve3'\nCluster join aborted!\n");
    expect(api.cluster.nodes.find((m) => m.name === 'pve3')).toMatchObject({ ip: '192.0.2.13', nodeid: 3 });
    expect(existsSync(n.layout.corosyncConf)).toBe(false);
  });

  it('refuses to join a 2-node cluster with one member offline: no quorum', async () => {
    const api = await cluster({ layout: 'two-node' });
    api.cluster.setOnline('pve2', false);
    const n = await node({ api, hostname: 'pve-ms-03', ip: '192.0.2.23' });
    const result = await add(n, '192.0.2.11', api.fingerprint, api.cluster.rootPassword);
    expect(result.stderr).toBe('An error occurred on the cluster node: cluster not ready - no quorum?\nCluster join aborted!\n');
    expect(names(api)).toEqual(['pve1', 'pve2']);
  });

  it('lets only one of two overlapping joins have the corosync.conf lock: the other times out and is not added', async () => {
    // The first join holds the lock long enough for the second to start its pvecm even on a loaded machine.
    const api = await cluster({ joinDurationMs: 6000, lockTimeoutMs: 100 });
    const first = await node({ api, hostname: 'pve-ms-03', ip: '192.0.2.23' });
    const second = await node({ api, hostname: 'pve-ms-04', ip: '192.0.2.24' });
    const winner = add(first, '192.0.2.11', api.fingerprint, api.cluster.rootPassword);
    // The second join starts while the first one's addnode holds the lock (its answer is still pending).
    await vi.waitFor(() => expect(addnodeCalls(api).some((r) => r.status === 0)).toBe(true), { timeout: 10_000, interval: 10 });
    const loser = await add(second, '192.0.2.11', api.fingerprint, api.cluster.rootPassword);
    expect(loser.stderr).toBe("An error occurred on the cluster node: cfs-lock 'file-corosync_conf' error: got lock request timeout\nCluster join aborted!\n");
    expect(names(api)).not.toContain('pve-ms-04');
    expect(existsSync(second.layout.corosyncConf)).toBe(false);

    expect((await winner).stdout).toContain("successfully added node 'pve-ms-03' to cluster.");
    expect(names(api)).toEqual(['pve1', 'pve2', 'pve3', 'pve-ms-03']);
    expect(addnodeCalls(api).map((r) => [r.path, r.status])).toEqual([
      ['/api2/json/cluster/config/nodes/pve-ms-03', 200],
      ['/api2/json/cluster/config/nodes/pve-ms-04', 500],
    ]);
  });

  it('lets joins one after another both succeed, the second through the first new member (fingerprint in any case)', async () => {
    const api = await cluster();
    const first = await node({ api, hostname: 'pve-ms-03', ip: '192.0.2.23' });
    const second = await node({ api, hostname: 'pve-ms-04', ip: '192.0.2.24' });
    expect((await add(first, '192.0.2.11', api.fingerprint, api.cluster.rootPassword)).stdout).toContain("successfully added node 'pve-ms-03'");
    const throughNew = await add(second, '192.0.2.23', fingerprintOf(api, 'pve-ms-03').toLowerCase(), api.cluster.rootPassword);
    expect(throughNew).toMatchObject({ code: 0, stderr: '' });
    expect(throughNew.stdout).toContain("successfully added node 'pve-ms-04' to cluster.");
    expect(api.cluster.nodes.slice(3).map((m) => [m.name, m.ip, m.nodeid])).toEqual([
      ['pve-ms-03', '192.0.2.23', 4],
      ['pve-ms-04', '192.0.2.24', 5],
    ]);
    expect(api.cluster.configVersion).toBe(5);
  });

  it('runs pvecm updatecerts: moves authorized_keys into /etc/pve/priv behind a symlink and merges the root key once', async () => {
    const api = await cluster();
    const n = await node({ api, hostname: 'pve-ms-03', ip: '192.0.2.23' });
    const result = await pvecm(n, ['updatecerts']);
    expect(result).toEqual({ code: 0, stdout: '(re)generate node files\nmerge authorized SSH keys\n', stderr: '' });
    expect(await pvecm(n, ['updatecerts', '--silent'])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(n.pvecmArgs()).toEqual(['updatecerts', 'updatecerts --silent']);
    expect(n.privAuthorizedKeys()).toEqual([expect.stringContaining('operator@laptop'), standInRootPublicKey('pve-ms-03')]);
    expect(lstatSync(n.layout.authorizedKeysFiles[0]!).isSymbolicLink()).toBe(true);
    expect(n.authorizedKeys()).toEqual(n.privAuthorizedKeys());
  });

  it('keeps the scripted mode for a node attached to no cluster', async () => {
    const n = await node();
    n.setMode('no-quorum');
    const result = await add(n, '192.0.2.11', 'AB:CD', 'scripted-password');
    expect(result.stderr).toBe('An error occurred on the cluster node: cluster not ready - no quorum?\nCluster join aborted!\n');
    expect(n.rootPublicKey()).toBeNull();
  });
});
