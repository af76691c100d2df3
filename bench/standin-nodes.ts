// Stand-in Proxmox nodes for the rebuild benchmark: ONE real sshd (Debian's openssh-server) answering for many
// freshly installed hosts, each at its own loopback address (127.1.x.y). Runs only inside the benchmark's own
// network namespace, where sshd may listen on 0.0.0.0 (the namespace has nothing but lo).
//
// Each host has its own folder hosts/<ip>/ with root/.ssh/authorized_keys, etc/pve/, the scripted pvecm's mode
// and expected password. sshd picks the host's authorized_keys by the address it was reached at (a Match
// LocalAddress block per host), and every command runs in a private mount namespace in which the host's folder
// is bind-mounted at node/, so the absolute paths of proxmox.corosync_conf and proxmox.authorized_keys_files
// (node/etc/pve/corosync.conf, …) mean "this host's" files, as they would on separate machines.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { setPriority } from 'node:os';
import { join, resolve } from 'node:path';

export interface StandInNodes {
  pid: number; // sshd (the sessions are its children)
  port: number;
  hostKey: string; // "ssh-ed25519 AAAA…", as each host's installer webhook reports it
  nodeDir: string; // the bind-mount point: config paths point below it
  /** What the installer does with root-ssh-keys. */
  authorize(ip: string, publicKey: string): void;
  joined(ip: string): boolean; // the scripted pvecm wrote the host's corosync.conf
  authorizedKeys(ip: string): string[];
  stop(): Promise<void>;
}

/** Address of simulated host `i` (1-based): 127.1.x.y with y in 1..250. */
export const hostAddress = (i: number) => `127.1.${Math.floor((i - 1) / 250)}.${((i - 1) % 250) + 1}`;

// ForceCommand: run the client's command with this host's folder mounted at node/ (a private mount namespace).
const session = `#!/bin/bash
set -eu
read -r _ _ local_ip _ <<<"$SSH_CONNECTION"
host_dir="$BENCH_ROOT/hosts/$local_ip"
exec unshare --mount --propagation private /bin/bash -c '
  mount --bind "$1" "$2" && cd "$2" && export STANDIN="$1" PATH="$3/bin:$PATH" && exec /bin/sh -c "$4"
' _ "$host_dir" "$BENCH_ROOT/node" "$BENCH_ROOT" "\${SSH_ORIGINAL_COMMAND:-true}"
`;

/**
 * `nice` (0..19) lowers sshd's CPU priority, and with it every session it forks: on real hardware each node's sshd
 * and pvecm run on that node, not on the provisioning server's cores.
 */
export async function startStandInNodes(root: string, addresses: string[], port: number, expectedPassword: string, nice = 0): Promise<StandInNodes> {
  const sshd = ['/usr/sbin/sshd', '/usr/bin/sshd'].find(existsSync);
  if (!sshd) throw new Error('sshd not found: install openssh-server');
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, 'node'), { recursive: true });
  chmodSync(root, 0o755);
  copyFileSync(resolve(__dirname, '../../test/fixtures/pvecm'), join(root, 'bin/pvecm'));
  chmodSync(join(root, 'bin/pvecm'), 0o755);
  writeFileSync(join(root, 'bin/session'), session, { mode: 0o755 });
  for (const ip of addresses) {
    const dir = join(root, 'hosts', ip);
    mkdirSync(join(dir, 'root/.ssh'), { recursive: true });
    mkdirSync(join(dir, 'etc/pve/priv'), { recursive: true });
    writeFileSync(join(dir, 'mode'), 'success');
    writeFileSync(join(dir, 'expected-password'), expectedPassword);
    writeFileSync(join(dir, 'root/.ssh/authorized_keys'), '');
  }
  const keygen = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'standin-host', '-f', join(root, 'ssh_host_ed25519_key')]);
  if (keygen.status !== 0) throw new Error(`ssh-keygen failed: ${keygen.stderr.toString()}`);
  const hostKey = readFileSync(join(root, 'ssh_host_ed25519_key.pub'), 'utf8').trim();
  writeFileSync(
    join(root, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 0.0.0.0', // only inside the benchmark's network namespace
      `HostKey ${root}/ssh_host_ed25519_key`,
      `PidFile ${root}/sshd.pid`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'MaxStartups 2000',
      'MaxSessions 100',
      'LogLevel ERROR',
      // SHLVL > 1: Debian's bash sources ~/.bashrc when sshd runs it; this machine's root .bashrc runs pyenv
      // (~150 ms of CPU per command), which a Proxmox node does not have.
      `SetEnv BENCH_ROOT=${root} SHLVL=5`,
      `ForceCommand ${root}/bin/session`,
      'AuthorizedKeysFile none',
      ...addresses.flatMap((ip) => [`Match LocalAddress ${ip}`, `  AuthorizedKeysFile ${root}/hosts/${ip}/root/.ssh/authorized_keys`]),
    ].join('\n') + '\n',
  );
  mkdirSync('/run/sshd', { recursive: true });
  const child: ChildProcess = spawn(sshd, ['-D', '-e', '-f', join(root, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (nice !== 0 && child.pid !== undefined) setPriority(child.pid, nice);
  const stderr: string[] = [];
  child.stderr!.on('data', (b: Buffer) => stderr.push(b.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await Promise.race([waitForBanner(port), exited.then(() => Promise.reject(new Error(`sshd exited: ${stderr.join('')}`)))]);
  const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);
  return {
    pid: child.pid!,
    port,
    hostKey,
    nodeDir: join(root, 'node'),
    authorize: (ip, publicKey) => writeFileSync(join(root, 'hosts', ip, 'root/.ssh/authorized_keys'), `${publicKey.trim()}\n`, { flag: 'a' }),
    joined: (ip) => existsSync(join(root, 'hosts', ip, 'etc/pve/corosync.conf')),
    authorizedKeys: (ip) => lines(join(root, 'hosts', ip, 'root/.ssh/authorized_keys')),
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

function waitForBanner(port: number, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolveReady, reject) => {
    const attempt = () => {
      const socket = connect(port, '127.0.0.1');
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
