// Real: Temporal dev server, worker with the real activities, SQLite, Fastify, sshd stand-in Proxmox node,
// and an HTTP stand-in for the Infrastructure service on loopback.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rebuildWorkflowId } from '../../src/domain/rebuild-ids';
import { answerServedSignal, installedSignal, phonedHomeSignal, pxeBootedSignal } from '../../workflows/messages';
import { startInfrastructureStandIn, type InfrastructureStandIn } from '../helpers/infrastructure-standin';
import { startStandInNode, type StandInNode } from '../helpers/sshd-node';
import { Resources } from '../helpers/release';
import { buildTestApp, shortTimeouts, type TestApp } from '../helpers/test-app';
import { startTestWorker, testFingerprint } from '../helpers/test-worker';
import { waitForState } from '../helpers/wait-for';

const password = 'peer-root-pw-77aa';
let t: TestApp;
let node: StandInNode;
let infra: InfrastructureStandIn;

beforeEach(async () => {
  t = resources.add(await buildTestApp({ timeouts: { ...shortTimeouts, join: '20s' } }), (app) => app.close());
  node = resources.add(await startStandInNode(password), (n) => n.stop());
  infra = resources.add(await startInfrastructureStandIn(), (i) => i.stop());
  resources.add(await startTestWorker(t, {
      join: { password, sshPort: node.port, layout: node.layout, existingNode: '192.0.2.10', fingerprint: testFingerprint },
      infrastructure: { baseUrl: infra.baseUrl, serverTypeMap: { 'minisforum-ms-01': 'ms-01' } },
    }), (w) => w.stop());
});
const resources = new Resources();
afterEach(() => resources.releaseAll());

async function rebuildToResult(serverType = 'minisforum-ms-01') {
  const res = await t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname: 'pve-ms-07', mac: 'aa:bb:cc:dd:ee:07', server_type: serverType } });
  const id: number = res.json().id;
  await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild` });
  await waitForState(t.operations, id, 'pxe_ready');
  node.authorize(t.keys.list()[0]!.publicKey);
  const handle = t.client.workflow.getHandle(rebuildWorkflowId(id));
  const at = new Date().toISOString();
  await handle.signal(pxeBootedSignal, { at });
  await handle.signal(answerServedSignal, { at });
  await handle.signal(installedSignal, { at, managementAddress: '127.0.0.1/8', sshHostKeys: { ed25519: node.hostKey }, machineId: 'ab12' });
  await handle.signal(phonedHomeSignal, { at, remoteAddress: '127.0.0.1', ip: '127.0.0.1', hardwareId: 'uuid-7' });
  return { id, result: await handle.result() };
}

describe('Infrastructure registration', () => {
  it('registers the ready host with its type id, IP and ids', async () => {
    const { id, result } = await rebuildToResult();
    expect(result.state).toBe('ready');
    expect(infra.records.get('aa:bb:cc:dd:ee:07')).toEqual({
      hostname: 'pve-ms-07',
      mac: 'aa:bb:cc:dd:ee:07',
      ip_address: '127.0.0.1',
      server_type_id: 'ms-01',
      machine_id: 'ab12',
      hardware_id: 'uuid-7',
      managed_by: 'provisioning',
    });
    expect(t.hosts.get(id).state).toBe('ready');
  });

  it('keeps retrying while the service is down and ends ready with one record', async () => {
    infra.failNext(2, 503, true); // the first attempt even stores before failing: the retry must not duplicate
    const { id, result } = await rebuildToResult();
    expect(result.state).toBe('ready');
    expect(infra.requests).toBe(3);
    expect([...infra.records.keys()]).toEqual(['aa:bb:cc:dd:ee:07']);
    const failures = t.operations.events(t.operations.listForHost(id)[0]!.id).filter((e) => e.kind === 'activity_failed');
    expect(failures.map((e) => e.message)).toEqual([
      `registerInInfrastructure attempt 1 failed (will retry): Infrastructure answered 503 to PUT ${infra.baseUrl}/api/servers/aa%3Abb%3Acc%3Add%3Aee%3A07: stand-in says 503`,
      `registerInInfrastructure attempt 2 failed (will retry): Infrastructure answered 503 to PUT ${infra.baseUrl}/api/servers/aa%3Abb%3Acc%3Add%3Aee%3A07: stand-in says 503`,
    ]);
  });

  it('fails with infrastructure_failed on a definite 4xx answer', async () => {
    infra.failNext(1, 422);
    const { id, result } = await rebuildToResult();
    expect(result.failure).toMatchObject({ stage: 'joining', reason: 'infrastructure_failed' });
    expect(result.failure!.message).toContain('Infrastructure answered 422');
    expect(infra.requests).toBe(1);
    expect(t.hosts.get(id).state).toBe('failed');
  });

  it('fails naming the missing server_type_map entry', async () => {
    const { result } = await rebuildToResult('minisforum-um790');
    expect(result.failure).toMatchObject({
      reason: 'infrastructure_failed',
      message: 'Infrastructure registration failed: infrastructure.server_type_map has no entry for server type minisforum-um790',
    });
    expect(infra.requests).toBe(0);
  });
});
