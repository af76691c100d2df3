// The boot API over HTTPS, fetched by an installer-like client that pins the leaf certificate. Real: the gateway role
// as the service starts it (startGatewayRole: config, storage, a self-signed certificate in the data dir, the HTTPS
// listener), Temporal (the suite's dev server), the worker with the real activities, SQLite. Fake: nothing; no SSH
// join is reached.
import { createConnection } from 'node:net';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NativeConnection } from '@temporalio/worker';
import { parse } from 'smol-toml';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createActivities } from '../../activities';
import { proxmoxLayout } from '../../activities/cluster-join';
import { loadConfig } from '../../src/config/load-config';
import { rebuildWorkflowId } from '../../src/domain/rebuild-ids';
import { createLogger } from '../../src/logging';
import { startGatewayRole, type RunningHttp } from '../../src/service/gateway-role';
import { openStorage, type Storage } from '../../src/service/storage';
import { startTemporal } from '../../src/service/temporal';
import { selfSignedFiles } from '../../src/service/tls';
import { imageMetadataFile, imageMetadataJson } from '../../src/images/image-library';
import { imageTokenSha256 } from '../../src/images/image-token';
import { createWorker } from '../../src/temporal/worker';
import { certificateFingerprint } from '../../src/tls/certificate';
import { fetchAnswer, FingerprintMismatchError, installerRequest } from '../helpers/installer-client';
import { answerRequest, installedWebhook } from '../helpers/installer-payloads';
import { Resources } from '../helpers/release';
import { tempDir } from '../helpers/temp-dir';
import { testPasswordHash, testServerTypes } from '../helpers/test-app';
import { testFingerprint } from '../helpers/test-worker';
import { freePort, testNamespace } from '../setup/temporal-dev-server';
import { waitForState } from '../helpers/wait-for';

const resources = new Resources();
afterEach(() => resources.releaseAll());
const log = createLogger('silent');

interface Service {
  storage: Storage;
  http: RunningHttp;
  httpsUrl: string; // https://127.0.0.1:<port>
  dataDir: string;
}

/** Starts the gateway role with server.tls on a free loopback port, and a worker on the same stores. */
async function startService(dir: string, r: Resources = resources): Promise<Service> {
  const port = await freePort();
  const httpsUrl = `https://127.0.0.1:${port}`;
  const taskQueue = `test-https-${port}`;
  writeFileSync(join(dir, 'server-types.yaml'), testServerTypes);
  writeFileSync(
    join(dir, 'provisioning.yaml'),
    [
      'data_dir: ./data',
      'server:',
      '  listen: "127.0.0.1:8080"',
      '  public_url: "http://127.0.0.1:8080"',
      '  tls:',
      `    listen: "127.0.0.1:${port}"`,
      `    public_url: "${httpsUrl}"`,
      'proxmox:',
      '  existing_node: 192.0.2.10',
      `  join_fingerprint: "${testFingerprint}"`,
      '  join_password: join-secret-https',
      'credentials:',
      `  root_password_hash: "${testPasswordHash}"`,
      'install:',
      '  domain: lab.example',
      'temporal:',
      `  address: "${inject('temporalAddress')}"`,
      `  namespace: ${testNamespace()}`,
      `  task_queue: ${taskQueue}`,
    ].join('\n'),
  );
  const config = loadConfig(join(dir, 'provisioning.yaml'), {});
  const storage = openStorage(config, log);
  r.add(storage, async (s) => s.close());
  mkdirSync(join(config.images.dir, 'pve-9.2'), { recursive: true });
  for (const f of ['vmlinuz', 'initrd.img', 'proxmox-ve_9.2-1-auto-from-http.iso']) writeFileSync(join(config.images.dir, 'pve-9.2', f), f);
  const temporal = r.add(await startTemporal(config, { registerSearchAttributes: false, log }), (t) => t.close());
  const connection = r.add(await NativeConnection.connect({ address: temporal.address }), (c) => c.close());
  const worker = await createWorker({
    connection,
    namespace: config.temporal.namespace,
    taskQueue,
    maxParallelJoins: 1,
    workflowBundle: { code: inject('workflowCode') },
    operations: storage.operations,
    activities: createActivities({
      ...storage,
      join: { existingNode: '192.0.2.10', fingerprint: testFingerprint, password: 'join-secret-https', sshPort: 22, layout: proxmoxLayout },
      infrastructure: { baseUrl: '', serverTypeMap: {} },
      power: { driver: () => { throw new Error('no power control in this test'); } },
    }),
  });
  const running = worker.run();
  r.add(worker, async (w) => {
    w.shutdown();
    await running;
  });
  const http = r.add(await startGatewayRole({ config, storage, temporal, readiness: {}, log }), async (h) => {
    // Leave no rebuild of this test running in the shared namespace.
    for (const host of storage.hosts.list()) await temporal.client.workflow.getHandle(rebuildWorkflowId(host.id)).terminate('test finished').catch(() => undefined);
    await h.close();
  });
  // As prepareImage leaves a 9.2 image for this listener: its ISO carries imageToken, image.json its SHA-256.
  writeFileSync(
    join(config.images.dir, 'pve-9.2', imageMetadataFile),
    imageMetadataJson({
      product: 'pve', productLong: 'Proxmox VE', release: '9.2', isorelease: '1', isoUuid: null,
      source: { file: 'proxmox-ve_9.2-1.iso', size: 1, sha256: '0'.repeat(64) }, preparedAt: new Date().toISOString(),
      answerUrl: `${httpsUrl}/api/boot/answer`, certFingerprint: certificateFingerprint(readFileSync(selfSignedFiles(config.dataDir).cert)), tokenSha256: imageTokenSha256(imageToken),
      files: { kernel: 'vmlinuz', initrd: 'initrd.img', iso: 'proxmox-ve_9.2-1-auto-from-http.iso' },
    }),
  );
  storage.images.invalidate();
  return { storage, http, httpsUrl, dataDir: config.dataDir };
}

/** Registers a host and starts its rebuild; resolves once it waits for PXE. */
async function rebuildingHost(s: Service, hostname: string, mac: string): Promise<number> {
  const created = await s.http.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname, mac, server_type: 'minisforum-ms-01' } });
  expect(created.statusCode).toBe(201);
  const id: number = created.json().id;
  const rebuild = await s.http.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild` });
  expect(rebuild.statusCode, rebuild.body).toBe(202);
  await waitForState(s.storage.operations, id, 'pxe_ready');
  return id;
}

type Answer = Record<string, Record<string, unknown>>;
const imageToken = 'provisioning:image-secret-0042';

describe('boot API over HTTPS', () => {
  it('serves a 9.2 installer its answer over the pinned certificate, with auth-token, and takes its webhook with the token in the body', async () => {
    const dir = tempDir();
    resources.add(dir, async (d) => d.remove());
    const s = await startService(dir.path);
    const served = certificateFingerprint(readFileSync(selfSignedFiles(s.dataDir).cert));
    expect(s.http.https?.address.port).toBe(Number(new URL(s.httpsUrl).port));

    const mac = 'b4:2e:99:ac:ad:b4';
    const id = await rebuildingHost(s, 'pve-ms-03', mac);
    // What a 9.2 installer posts: every NIC, MACs upper-case, its release, the image's Bearer token.
    const systemInfo92 = { ...answerRequest(['58:47:ca:00:00:01', mac]), iso: { release: '9.2', isorelease: '1' } };
    const wrongToken = await fetchAnswer(`${s.httpsUrl}/api/boot/answer`, systemInfo92, { fingerprint: served, imageToken: 'provisioning:not-the-image-token' });
    expect([wrongToken.status, wrongToken.body]).toEqual([403, 'refused\n']);
    const res = await fetchAnswer(`${s.httpsUrl}/api/boot/answer`, { ...answerRequest(['58:47:ca:00:00:01', mac]), iso: { release: '9.2', isorelease: '1' } }, { fingerprint: served.replace(/:/g, '').toLowerCase(), imageToken });
    expect(res.status, res.body).toBe(200);
    expect(res.contentType).toBe('application/toml; charset=utf-8');
    expect(res.peerFingerprint).toBe(served);
    const answer = parse(res.body) as Answer;
    const firstBootUrl = String(answer['first-boot']!.url);
    const token = new URL(firstBootUrl).searchParams.get('token')!;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(answer['post-installation-webhook']).toEqual({ url: `${s.httpsUrl}/api/hosts/${id}/installed`, 'cert-fingerprint': served, 'auth-token': token });
    expect(answer['first-boot']).toEqual({ source: 'from-url', ordering: 'network-online', url: `${s.httpsUrl}/api/hosts/${id}/first-boot-script?token=${token}`, 'cert-fingerprint': served });
    expect(answer.global).toMatchObject({ fqdn: 'pve-ms-03.lab.example', 'root-password-hashed': testPasswordHash });
    await waitForState(s.storage.operations, id, 'installing');

    // Still in the installer: the first-boot script over the pinned certificate; its phone-home stays on plain HTTP.
    const script = await installerRequest(firstBootUrl, { method: 'GET', fingerprint: served });
    expect(script.status).toBe(200);
    expect(script.body).toContain(`URL='http://127.0.0.1:8080/api/hosts/${id}/phone-home?token=${token}'`);

    // proxmox-post-hook: no Authorization header, no query token, the auth-token as the body's "token".
    const webhookUrl = String(answer['post-installation-webhook']!.url);
    const body = installedWebhook({ mac, address: '10.0.0.53/24', hostKeys: {}, machineId: '3f2a0c9d8e7b6a5f4e3d2c1b0a998877' });
    const forged = await installerRequest(webhookUrl, { fingerprint: served, body: { ...body, token: 'A'.repeat(43) } });
    expect(forged.status).toBe(401);
    expect(JSON.parse(forged.body).error.code).toBe('invalid_boot_token');
    expect(s.storage.hosts.get(id)).toMatchObject({ state: 'installing', machineId: null });
    const webhook = await installerRequest(webhookUrl, { fingerprint: served, body: { ...body, token } });
    expect(webhook.status, webhook.body).toBe(200);
    await waitForState(s.storage.operations, id, 'installed');
    expect(s.storage.hosts.get(id).machineId).toBe('3f2a0c9d8e7b6a5f4e3d2c1b0a998877');
  }, 60_000);

  it('ends the handshake of a client pinning another fingerprint before it sends anything, and serves an older installer the query token', async () => {
    const dir = tempDir();
    resources.add(dir, async (d) => d.remove());
    const s = await startService(dir.path);
    const served = certificateFingerprint(readFileSync(selfSignedFiles(s.dataDir).cert));
    const mac = '58:47:ca:00:00:0b';
    const id = await rebuildingHost(s, 'pve-ms-04', mac);
    const systemInfo = answerRequest([mac], false); // 9.1: raw sysfs MACs, lower-case

    const other = served.replace(/^(.)/, (c) => (c === 'A' ? 'B' : 'A'));
    await expect(fetchAnswer(`${s.httpsUrl}/api/boot/answer`, systemInfo, { fingerprint: other, imageToken })).rejects.toThrow(FingerprintMismatchError);
    expect(s.storage.hosts.get(id).state).toBe('pxe_ready'); // nothing was asked, nothing changed

    const res = await fetchAnswer(`${s.httpsUrl}/api/boot/answer`, systemInfo, { fingerprint: served, imageToken });
    expect(res.status, res.body).toBe(200);
    const answer = parse(res.body) as Answer;
    const token = new URL(String(answer['first-boot']!.url)).searchParams.get('token');
    expect(answer['post-installation-webhook']).toEqual({ url: `${s.httpsUrl}/api/hosts/${id}/installed?token=${token}`, 'cert-fingerprint': served });
    await waitForState(s.storage.operations, id, 'installing');
    const webhook = await installerRequest(String(answer['post-installation-webhook']!.url), {
      fingerprint: served,
      body: installedWebhook({ mac, address: '10.0.0.54/24', hostKeys: {}, machineId: '0123456789abcdef0123456789abcdef' }),
    });
    expect(webhook.status, webhook.body).toBe(200);
    await waitForState(s.storage.operations, id, 'installed');
  }, 60_000);

  it('refuses over HTTPS what it refuses over HTTP: a MAC with no rebuild gets a 404 that gives nothing away', async () => {
    const dir = tempDir();
    resources.add(dir, async (d) => d.remove());
    const s = await startService(dir.path);
    const served = certificateFingerprint(readFileSync(selfSignedFiles(s.dataDir).cert));
    await rebuildingHost(s, 'pve-ms-05', 'aa:bb:cc:dd:ee:05');
    const res = await fetchAnswer(`${s.httpsUrl}/api/boot/answer`, answerRequest(['AA:BB:CC:DD:EE:99']), { fingerprint: served, imageToken });
    expect(res.status).toBe(404);
    expect(res.contentType).toBe('text/plain; charset=utf-8');
    expect(res.body).toBe('provisioning: no rebuild is waiting for an answer file for aa:bb:cc:dd:ee:99: no registered host has any of these MACs\n');
    const http = await s.http.app.inject({ method: 'POST', url: '/api/boot/answer', payload: answerRequest(['AA:BB:CC:DD:EE:99']) });
    expect([http.statusCode, http.body]).toEqual([res.status, res.body]);
  }, 60_000);

  it('keeps its certificate across a restart, and stops listening when the gateway closes', async () => {
    const dir = tempDir();
    resources.add(dir, async (d) => d.remove());
    const firstRun = new Resources();
    resources.add(firstRun, (r) => r.releaseAll());
    const first = await startService(dir.path, firstRun);
    const fingerprint = certificateFingerprint(readFileSync(selfSignedFiles(first.dataDir).cert));
    await expect(installerRequest(`${first.httpsUrl}/healthz`, { method: 'GET', fingerprint: '00'.repeat(32) })).rejects.toThrow(FingerprintMismatchError);
    expect((await installerRequest(`${first.httpsUrl}/healthz`, { method: 'GET', fingerprint })).status).toBe(200);
    await firstRun.releaseAll(); // the whole service stops
    const port = Number(new URL(first.httpsUrl).port);
    const refused = await new Promise<string>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port });
      socket.on('connect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');

    const again = await startService(dir.path); // the same data dir, another port
    const res = await installerRequest(`${again.httpsUrl}/healthz`, { method: 'GET', fingerprint });
    expect(res.status).toBe(200);
    expect(res.peerFingerprint).toBe(fingerprint);
  }, 60_000);
});
