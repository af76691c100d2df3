// An upgrade in the middle of a rebuild, the way a user does it with `make run`: the previous version's build
// (UPGRADE_FROM, default HEAD~1; built once into .cache/upgrade/<sha>/) starts a rebuild, is stopped with SIGTERM
// while the host installs, and the current build (dist/src/main.js) starts on the same config, SQLite file and
// embedded Temporal database and takes the rebuild to ready.
// Real: everything (two builds of the service with their embedded Temporal dev server, SQLite, sshd, sh).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stringify } from 'yaml';
import { freePort } from '../setup/temporal-dev-server';
import { buildPreviousVersion, resolvePreviousVersion, type PreviousBuild } from '../helpers/previous-build';
import { Resources } from '../helpers/release';
import { startService, stopService, type ServiceProcess } from '../helpers/service-process';
import { pxeAndInstall, reportInstalled, runFirstBoot } from '../helpers/simulated-host';
import { startStandInNode, type StandInNode } from '../helpers/sshd-node';
import { tempDir } from '../helpers/temp-dir';
import { testPasswordHash } from '../helpers/test-app';
import { testFingerprint } from '../helpers/test-worker';

// Resolved while collecting, so the test's name says which commit it upgrades from (and a clone without that
// commit fails here, saying so).
const version = resolvePreviousVersion();
const resources = new Resources();
let previous: PreviousBuild;
let dir: string;
let config: string;
let node: StandInNode;
let base: string;

beforeAll(async () => {
  if (!existsSync(resolve('dist/src/main.js'))) expect(spawnSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' }).status).toBe(0);
  previous = await buildPreviousVersion(version);
  console.log(
    `upgrade test: from ${previous.sha} "${previous.subject}" (UPGRADE_FROM=${previous.rev}) to the working tree; ` +
      (previous.builtNow ? `built into ${previous.dir} in ${previous.seconds.toFixed(1)} s (node_modules ${previous.nodeModules === 'linked' ? 'linked: same dependencies' : `from npm ci: ${previous.installSeconds.toFixed(1)} s`})` : `cached in ${previous.dir}`),
  );
  dir = resources.add(tempDir('provisioning-upgrade-'), async (d) => d.remove()).path;
  node = resources.add(await startStandInNode('upgrade-peer-pw'), (n) => n.stop());
  const [http, grpc, ui] = [await freePort(), await freePort(), await freePort()];
  base = `http://127.0.0.1:${http}`;
  mkdirSync(join(dir, 'data/images/pve-9.1'), { recursive: true });
  for (const f of ['vmlinuz', 'initrd.img', 'proxmox-ve_9.1.iso']) writeFileSync(join(dir, 'data/images/pve-9.1', f), f);
  writeFileSync(join(dir, 'server-types.yaml'), readFileSync(resolve('deploy/server-types.example.yaml')));
  config = join(dir, 'provisioning.yaml');
  writeFileSync(
    config,
    stringify({
      data_dir: './data', // relative to this file, as in a user's provisioning.yaml
      server: { listen: `127.0.0.1:${http}`, public_url: base },
      proxmox: {
        existing_node: '192.0.2.10',
        join_fingerprint: testFingerprint,
        join_password: 'upgrade-peer-pw',
        ssh_port: node.port,
        corosync_conf: node.layout.corosyncConf,
        authorized_keys_files: node.layout.authorizedKeysFiles,
      },
      credentials: { root_password_hash: testPasswordHash },
      // No address: each build starts the embedded dev server on data/temporal.db. The old build's own tree has no
      // .tools/, so both get the CLI this checkout uses.
      temporal: { dev_server: { port: grpc, ui_port: ui, cli_path: inject('temporalCli') } },
      // Nothing may time out while the service is down.
      timeouts: { pxe_boot: '10m', answer_fetch: '10m', install: '10m', phone_home: '10m', join: '2m' },
    }),
  );
}, 900_000); // a commit whose lock file differs needs `npm ci` first
afterAll(() => resources.releaseAll());

interface HostDetail {
  state: string;
  current_operation: { workflow_id: string; run_id: string; status: string; stage: string } | null;
  operations: Array<{ workflow_id: string; run_id: string; status: string; failure_reason: string | null; finished_at: string | null }>;
}

async function start(entry: string | undefined): Promise<ServiceProcess> {
  const service = resources.add(startService(['--config', config], entry ? { entry } : {}), stopService);
  await service.waitFor(/Temporal Web UI:/, 90_000);
  return service;
}

describe('upgrade', () => {
  it(`upgrades from ${version.short} (${version.subject.slice(0, 60)}) mid-rebuild and finishes the rebuild to ready`, async () => {
    const mac = 'b4:2e:99:ac:ad:d7';
    const host = async (id: number) => (await (await fetch(`${base}/api/hosts/${id}`)).json()) as HostDetail;

    const old = await start(previous.entry);
    const created = await fetch(`${base}/api/hosts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ hostname: 'pve-upgrade', mac, server_type: 'minisforum-ms-01' }) });
    expect(created.status).toBe(201);
    const id = ((await created.json()) as { id: number }).id;
    expect((await fetch(`${base}/api/hosts/${id}/rebuild`, { method: 'POST' })).status).toBe(202);
    await expect.poll(async () => (await host(id)).state, { timeout: 20_000 }).toBe('pxe_ready');
    const trace = await pxeAndInstall(base, mac, node);
    await expect.poll(async () => (await host(id)).state, { timeout: 10_000 }).toBe('installing');
    const before = (await host(id)).current_operation!;
    expect(before.status).toBe('running');

    await stopService(old);
    expect(await old.exit).toEqual({ code: 0, signal: null });

    const current = await start(undefined);
    const after = await host(id);
    expect(after.state).toBe('installing');
    expect(after.current_operation).toMatchObject({ status: 'running', workflow_id: before.workflow_id, run_id: before.run_id });

    expect(await reportInstalled(trace, mac, node)).toBe(200);
    await expect.poll(async () => (await host(id)).state, { timeout: 20_000 }).toBe('installed');
    expect((await runFirstBoot(trace, dir)).code).toBe(0);
    await expect.poll(async () => (await host(id)).state, { timeout: 60_000 }).toBe('ready');

    expect(node.pvecmArgs()).toEqual([`add 192.0.2.10 --fingerprint ${testFingerprint}`]);
    const rebuildKey = trace.answer.global['root-ssh-keys'][0]!.trim();
    expect(node.authorizedKeys()).not.toContain(rebuildKey);
    expect(node.privAuthorizedKeys()).not.toContain(rebuildKey);
    const done = await host(id);
    expect(done.current_operation).toBeNull();
    expect(done.operations).toEqual([expect.objectContaining({ workflow_id: before.workflow_id, run_id: before.run_id, status: 'succeeded', failure_reason: null })]);
    expect(done.operations[0]!.finished_at).not.toBeNull();

    await stopService(current);
    expect(await current.exit).toEqual({ code: 0, signal: null });
  }, 120_000);
});
