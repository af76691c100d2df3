// Real: Temporal dev server, SQLite, Fastify, sshd stand-in, and the worker as a separate OS process
// (test/fixtures/worker-process.js, from dist/) that the test kills with SIGKILL mid-rebuild.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { rebuildWorkflowId } from '../../src/domain/rebuild-ids';
import { answerServedSignal, installedSignal, phonedHomeSignal, pxeBootedSignal } from '../../workflows/messages';
import { activityRunCounts } from '../helpers/history';
import { startStandInNode, type StandInNode } from '../helpers/sshd-node';
import { buildTestApp, shortTimeouts, type TestApp } from '../helpers/test-app';
import { testFingerprint } from '../helpers/test-worker';

const password = 'peer-root-pw-durable';
let t: TestApp | undefined;
let node: StandInNode | undefined;
const children: ChildProcess[] = [];

beforeAll(() => {
  if (!existsSync(resolve('dist/activities/index.js'))) {
    expect(spawnSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' }).status).toBe(0);
  }
}, 120_000);

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await node?.stop();
  await t?.close();
});

function startWorkerProcess(settings: Record<string, unknown>): Promise<ChildProcess> {
  const child = spawn(process.execPath, [resolve('test/fixtures/worker-process.js')], {
    env: { ...process.env, WORKER_SETTINGS: JSON.stringify(settings) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Promise((resolveReady, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => line === 'worker ready' && resolveReady(child));
    child.once('exit', (code) => reject(new Error(`worker process exited with ${code} before it was ready`)));
  });
}

describe('rebuild durability', () => {
  it('completes after the worker is killed mid-install and a signal arrives while no worker runs, running no step twice', async () => {
    const keyEncryptionKey = randomBytes(32);
    // No stage may time out while the worker is down and a new one starts: on a loaded machine (the full suite runs
    // QEMU beside this) that can take longer than the one-minute shortTimeouts.
    t = await buildTestApp({ timeouts: { ...shortTimeouts, install: '10m', phoneHome: '10m', join: '2m' }, keyEncryptionKey });
    node = await startStandInNode(password);
    const bundlePath = join(t.dir, 'workflow-bundle.js');
    writeFileSync(bundlePath, inject('workflowCode'));
    const settings = {
      address: inject('temporalAddress'),
      namespace: t.namespace,
      taskQueue: t.taskQueue,
      bundlePath,
      dbPath: t.dbPath,
      keyHex: keyEncryptionKey.toString('hex'),
      join: { existingNode: '192.0.2.10', fingerprint: testFingerprint, password, sshPort: node.port, layout: node.layout },
    };
    const first = await startWorkerProcess(settings);

    const id: number = (await t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname: 'pve-ms-09', mac: 'aa:bb:cc:dd:ee:09', server_type: 'minisforum-ms-01' } })).json().id;
    const { operation_id: operationId } = (await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild` })).json();
    const handle = t.client.workflow.getHandle(rebuildWorkflowId(id));
    // The worker writes from its own process, so the test reads the shared SQLite file.
    await expect.poll(() => t!.operations.find(operationId)?.stage, { timeout: 20_000 }).toBe('pxe_ready');
    node.authorize(t.keys.list()[0]!.publicKey);
    const at = () => new Date().toISOString();
    await handle.signal(pxeBootedSignal, { at: at() });
    await handle.signal(answerServedSignal, { at: at() });
    await expect.poll(() => t!.operations.find(operationId)?.stage, { timeout: 20_000 }).toBe('installing');

    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    await handle.signal(installedSignal, { at: at(), managementAddress: '127.0.0.1/8', sshHostKeys: { ed25519: node.hostKey }, machineId: 'm-9' });
    await handle.signal(phonedHomeSignal, { at: at(), remoteAddress: '127.0.0.1', ip: '127.0.0.1', hardwareId: 'hw-9' });
    expect(t.hosts.get(id).state).toBe('installing'); // nothing moved while no worker ran

    await startWorkerProcess(settings);
    const result = await handle.result();
    expect(result, 'the rebuild result (its failure says why)').toMatchObject({ state: 'ready', failure: null });

    const events = t.operations.events(operationId);
    expect(events.filter((e) => e.kind === 'state').map((e) => e.state)).toEqual([
      'pxe_ready', 'pxe_booted', 'installing', 'installed', 'first_boot', 'joining', 'ready',
    ]);
    expect(node.pvecmArgs()).toHaveLength(1);
    const history = await handle.fetchHistory();
    const count = activityRunCounts(history);
    expect(count('generateRebuildKey')).toBe(1);
    expect(count('joinCluster')).toBe(1);
    expect(count('recordHostState')).toBe(6);
    expect(t.keys.list()).toEqual([]);
  }, 180_000);
});
