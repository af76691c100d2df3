// Gateway and worker as separate processes (`--role gateway`, `--role worker`) against the suite's Temporal server,
// sharing the SQLite file; a simulated host and the sshd stand-in take a rebuild to ready through them.
// Real: everything (two service processes from dist/, Temporal, SQLite, sshd, sh).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stringify } from 'yaml';
import { freePort, testNamespace } from '../setup/temporal-dev-server';
import { Resources } from '../helpers/release';
import { startService, stopService, type ServiceProcess } from '../helpers/service-process';
import { pxeAndInstall, reportInstalled, runFirstBoot } from '../helpers/simulated-host';
import { startStandInNode, type StandInNode } from '../helpers/sshd-node';
import { tempDir } from '../helpers/temp-dir';
import { testPasswordHash } from '../helpers/test-app';
import { testFingerprint } from '../helpers/test-worker';
import { renderLocalBootScript } from '../../src/boot/ipxe-script';

const resources = new Resources();
let dir: string;
let node: StandInNode;
let gateway: ServiceProcess;
let worker: ServiceProcess;
let base: string;
let workerBase: string;

beforeAll(async () => {
  if (!existsSync(resolve('dist/src/main.js'))) expect(spawnSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' }).status).toBe(0);
  dir = resources.add(tempDir(), async (d) => d.remove()).path;
  node = resources.add(await startStandInNode('roles-peer-pw'), (n) => n.stop());
  const [gatewayPort, workerPort] = [await freePort(), await freePort()];
  base = `http://127.0.0.1:${gatewayPort}`;
  workerBase = `http://127.0.0.1:${workerPort}`;
  mkdirSync(join(dir, 'data/images/pve-9.1'), { recursive: true });
  for (const f of ['vmlinuz', 'initrd.img', 'proxmox-ve_9.1.iso']) writeFileSync(join(dir, 'data/images/pve-9.1', f), f);
  writeFileSync(join(dir, 'server-types.yaml'), readFileSync(resolve('deploy/server-types.example.yaml')));
  const config = join(dir, 'provisioning.yaml');
  writeFileSync(
    config,
    stringify({
      data_dir: './data',
      server: { listen: `127.0.0.1:${gatewayPort}`, public_url: base },
      proxmox: {
        existing_node: '192.0.2.10',
        join_fingerprint: testFingerprint,
        join_password: 'roles-peer-pw',
        ssh_port: node.port,
        corosync_conf: node.layout.corosyncConf,
        authorized_keys_files: node.layout.authorizedKeysFiles,
      },
      credentials: { root_password_hash: testPasswordHash },
      temporal: { address: inject('temporalAddress'), namespace: testNamespace(), task_queue: `roles-${randomBytes(4).toString('hex')}` },
      timeouts: { join: '30s' },
    }),
  );
  gateway = resources.add(startService(['--config', config, '--role', 'gateway']), stopService);
  worker = resources.add(startService(['--config', config, '--role', 'worker', '--listen', `127.0.0.1:${workerPort}`]), stopService);
  await Promise.all([gateway.waitFor(/Role: +gateway/), worker.waitFor(/Worker on task queue/)]);
}, 120_000);
afterAll(() => resources.releaseAll());

async function json(url: string, init?: RequestInit): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, init);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('split roles', () => {
  it('reports readiness per role', async () => {
    expect(await json(`${base}/readyz`)).toEqual({ status: 200, body: { status: 'ready', checks: { database: 'ok', temporal: 'ok' } } });
    expect(await json(`${workerBase}/readyz`)).toEqual({ status: 200, body: { status: 'ready', checks: { database: 'ok', temporal: 'ok', worker: 'ok' } } });
    expect((await fetch(`${workerBase}/api/hosts`)).status).toBe(404); // a worker serves no API
  });

  it('completes a rebuild with the gateway and the worker in separate processes', async () => {
    const mac = 'b4:2e:99:ac:ad:c1';
    const created = await json(`${base}/api/hosts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ hostname: 'pve-split', mac, server_type: 'minisforum-ms-01' }) });
    expect(created.status).toBe(201);
    const id = created.body.id as number;
    expect((await fetch(`${base}/api/hosts/${id}/rebuild`, { method: 'POST' })).status).toBe(202);
    const state = async () => (await json(`${base}/api/hosts/${id}`)).body.state;
    await expect.poll(state, { timeout: 20_000 }).toBe('pxe_ready');

    const trace = await pxeAndInstall(base, mac, node);
    await expect.poll(state, { timeout: 10_000 }).toBe('installing');
    expect(await reportInstalled(trace, mac, node)).toBe(200);
    await expect.poll(state, { timeout: 10_000 }).toBe('installed');
    // The worker revoked PXE in the shared database; the gateway now sends the disk-boot script.
    expect(await (await fetch(`${base}/ipxe/${mac}`)).text()).toBe(renderLocalBootScript());
    expect((await runFirstBoot(trace, dir)).code).toBe(0);
    await expect.poll(state, { timeout: 30_000 }).toBe('ready');
    expect(node.pvecmArgs()).toEqual([`add 192.0.2.10 --fingerprint ${testFingerprint}`]);
  }, 90_000);

  it('stops both processes cleanly', async () => {
    await stopService(worker);
    await stopService(gateway);
    expect(await worker.exit).toEqual({ code: 0, signal: null });
    expect(await gateway.exit).toEqual({ code: 0, signal: null });
  }, 30_000);
});
