// A stand-in Proxmox node: Debian's real sshd on a loopback port with its own host key, an authorized_keys file
// in a temp dir, and the scripted `pvecm` (test/fixtures/pvecm) first on its PATH. Attached to a cluster (the
// `cluster` option or joinsThrough), its `pvecm add` joins the Proxmox API stand-in's model for real.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import type { RemoteLayout } from '../../activities/cluster-join';
import { freePort } from '../setup/temporal-dev-server';
import { tempDir } from './temp-dir';

export type PvecmMode = 'success' | 'fingerprint' | 'existing-node' | 'no-quorum' | 'wrong-password' | 'claims-success';

/** The cluster a node's `pvecm add` joins through the API stand-in (test/helpers/proxmox-api-standin.ts). */
export interface ClusterAttachment {
  apiUrl: string; // https://127.0.0.1:<port>: every member's API, since the model's member IPs are not routable here
  hostname: string; // pve-ms-03: the name addnode gets, and the comment of the node's root key
  ip: string; // 192.0.2.23: the new_node_ip addnode gets
  authorizedKeys?: readonly string[]; // the cluster's /etc/pve/priv/authorized_keys before the join (old members' root keys)
}
export interface StandInNodeOptions {
  cluster?: ClusterAttachment; // none: `pvecm add` plays the scripted mode
  // Where sshd listens: 127.0.0.1 on a free port by default. Several nodes may share one port on different
  // loopback addresses (127.0.0.11, .12, …), as machines share port 22 (proxmox.ssh_port).
  listen?: { address: string; port: number };
}

/** The fixed fake root key a node attached to a cluster has in /root/.ssh/id_rsa.pub: `ssh-rsa AAAA…new root@<hostname>`. */
export function standInRootPublicKey(hostname: string): string {
  const blob = 'AAAAB3NzaC1yc2EAAAADAQABAAABAQCstandInNodeRootKeyOfTheRebuiltNodeIsnew';
  return `ssh-rsa ${blob}${'0'.repeat(372 - blob.length)} root@${hostname}`;
}

export interface StandInNode {
  port: number;
  dir: string;
  hostKey: string; // "ssh-ed25519 AAAA…" as the installer's webhook would report it
  layout: RemoteLayout;
  authorizedKeys(): string[]; // lines of /root/.ssh/authorized_keys (through the symlink after a join)
  privAuthorizedKeys(): string[];
  authorize(publicKey: string): void; // what the installer does with root-ssh-keys
  setMode(mode: PvecmMode): void; // the scripted mode; ignored while the node is attached to a cluster
  /** Attaches the node to a cluster: writes cluster-api, hostname, ip, root/.ssh/id_rsa.pub [, cluster-authorized-keys]. */
  joinsThrough(cluster: ClusterAttachment): void;
  rootPublicKey(): string | null; // the line of /root/.ssh/id_rsa.pub
  pvecmArgs(): string[];
  pvecmPassword(): string | null;
  stop(): Promise<void>;
}

const sshd = ['/usr/sbin/sshd', '/usr/bin/sshd'].find(existsSync);

function waitForPort(port: number, address: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolveReady, reject) => {
    const attempt = () => {
      const socket = connect(port, address);
      socket.once('data', () => {
        socket.destroy();
        resolveReady();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`sshd did not listen on ${port} within ${ms} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/**
 * Starts the stand-in; `expectedPassword` is the peer root password the scripted pvecm accepts (attached to a cluster,
 * the API stand-in's rootPassword decides instead).
 */
export async function startStandInNode(expectedPassword: string, options: StandInNodeOptions = {}): Promise<StandInNode> {
  if (!sshd) throw new Error('sshd not found: install openssh-server (make test does it when run as root)');
  const tmp = tempDir('standin-');
  const dir = tmp.path;
  chmodSync(dir, 0o755);
  for (const d of ['bin', 'root/.ssh', 'etc/pve/priv']) mkdirSync(join(dir, d), { recursive: true });
  copyFileSync(resolve('test/fixtures/pvecm'), join(dir, 'bin/pvecm'));
  copyFileSync(resolve('test/fixtures/pvecm-api.mjs'), join(dir, 'bin/pvecm-api.mjs'));
  chmodSync(join(dir, 'bin/pvecm'), 0o755);
  writeFileSync(join(dir, 'expected-password'), expectedPassword);
  writeFileSync(join(dir, 'mode'), 'success');
  writeFileSync(join(dir, 'root/.ssh/authorized_keys'), 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherOperatorKeyStaysPut00000000000000000 operator@laptop\n');

  // OpenSSH's own ssh-keygen, so sshd always loads the key it made.
  const keygen = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'standin-host', '-f', join(dir, 'ssh_host_ed25519_key')]);
  if (keygen.status !== 0) throw new Error(`ssh-keygen failed: ${keygen.stderr.toString()}`);
  const hostPublicKey = readFileSync(join(dir, 'ssh_host_ed25519_key.pub'), 'utf8').trim();
  const port = options.listen?.port ?? (await freePort());
  const address = options.listen?.address ?? '127.0.0.1';
  writeFileSync(
    join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      `ListenAddress ${address}`,
      `HostKey ${dir}/ssh_host_ed25519_key`,
      `PidFile ${dir}/sshd.pid`,
      `AuthorizedKeysFile ${dir}/root/.ssh/authorized_keys`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      `SetEnv PATH=${dir}/bin:/usr/local/bin:/usr/bin:/bin STANDIN=${dir} STANDIN_NODE=${process.execPath}`,
      'LogLevel ERROR',
    ].join('\n') + '\n',
  );
  mkdirSync('/run/sshd', { recursive: true });
  const child: ChildProcess = spawn(sshd, ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr: string[] = [];
  child.stderr!.on('data', (b: Buffer) => stderr.push(b.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    await Promise.race([waitForPort(port, address), exited.then(() => Promise.reject(new Error(`sshd exited: ${stderr.join('')}`)))]);
  } catch (err) {
    child.kill('SIGKILL');
    tmp.remove();
    throw err;
  }
  const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);
  const joinsThrough = (cluster: ClusterAttachment) => {
    writeFileSync(join(dir, 'cluster-api'), cluster.apiUrl);
    writeFileSync(join(dir, 'hostname'), cluster.hostname);
    writeFileSync(join(dir, 'ip'), cluster.ip);
    writeFileSync(join(dir, 'root/.ssh/id_rsa.pub'), `${standInRootPublicKey(cluster.hostname)}\n`);
    if (cluster.authorizedKeys) writeFileSync(join(dir, 'cluster-authorized-keys'), cluster.authorizedKeys.map((k) => `${k}\n`).join(''));
    else rmSync(join(dir, 'cluster-authorized-keys'), { force: true });
  };
  if (options.cluster) joinsThrough(options.cluster);
  return {
    port,
    dir,
    hostKey: hostPublicKey,
    layout: {
      corosyncConf: join(dir, 'etc/pve/corosync.conf'),
      authorizedKeysFiles: [join(dir, 'root/.ssh/authorized_keys'), join(dir, 'etc/pve/priv/authorized_keys')],
    },
    authorizedKeys: () => lines(join(dir, 'root/.ssh/authorized_keys')),
    privAuthorizedKeys: () => lines(join(dir, 'etc/pve/priv/authorized_keys')),
    authorize: (publicKey) => writeFileSync(join(dir, 'root/.ssh/authorized_keys'), `${publicKey.trim()}\n`, { flag: 'a' }),
    setMode: (mode) => writeFileSync(join(dir, 'mode'), mode),
    joinsThrough,
    rootPublicKey: () => lines(join(dir, 'root/.ssh/id_rsa.pub'))[0] ?? null,
    pvecmArgs: () => lines(join(dir, 'pvecm.args')),
    pvecmPassword: () => (existsSync(join(dir, 'pvecm.password')) ? readFileSync(join(dir, 'pvecm.password'), 'utf8').trim() : null),
    async stop() {
      child.kill('SIGTERM');
      await exited;
      tmp.remove();
    },
  };
}
