// GET /api/hosts/{id}/preview: what a host's next rebuild would serve it, secrets redacted, validated, changing nothing.
// Real: Fastify (inject), SQLite file, the image folder, the renderers and the answer validator, Temporal client (a
// rebuild this file starts by hand, with no worker, to compare the preview with what the boot endpoints serve).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from '@iarna/toml';
import { WorkflowNotFoundError } from '@temporalio/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { previewHost, redactedPasswordHash, redactedToken } from '../../src/boot/preview';
import { renderLocalBootScript } from '../../src/boot/ipxe-script';
import { parseMac } from '../../src/domain/mac-address';
import { rebuildKeyId, rebuildWorkflowId } from '../../src/domain/rebuild-ids';
import { buildTestApp, testPasswordHash, type TestApp } from '../helpers/test-app';
import { answerRequest } from '../helpers/installer-payloads';
import { Resources } from '../helpers/release';

const resources = new Resources();
afterEach(() => resources.releaseAll());
let t: TestApp;

beforeEach(async () => {
  t = resources.add(await buildTestApp({ rebuildBlockers: () => blockers }), (a) => a.close());
  blockers = [];
  mkdirSync(join(t.images.dir, 'pve-9.1'));
  for (const f of ['vmlinuz', 'initrd.img', 'proxmox-ve_9.1-auto-from-http.iso']) writeFileSync(join(t.images.dir, 'pve-9.1', f), f);
});
let blockers: string[] = [];

async function register(hostname: string, mac: string): Promise<number> {
  const res = await t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname, mac, server_type: 'minisforum-ms-01' } });
  expect(res.statusCode).toBe(201);
  return res.json().id;
}

const preview = (id: number | string) => t.app.inject({ method: 'GET', url: `/api/hosts/${id}/preview` });
const publicKey = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests0000000000000000000000000000 provisioning-rebuild-pve-ms-03';

describe('GET /api/hosts/:id/preview', () => {
  it('shows the iPXE script, the answer file and the first-boot script of the next rebuild, valid', async () => {
    const id = await register('pve-ms-03', 'aa:bb:cc:dd:ee:03');
    const res = await preview(id);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ host: { id, hostname: 'pve-ms-03', mac: 'aa:bb:cc:dd:ee:03', state: 'registered', server_type: 'minisforum-ms-01' }, image: 'pve-9.1', valid: true, problems: [] });
    expect(body.ipxe).toContain('kernel http://127.0.0.1:8080/images/pve-9.1/vmlinuz ramdisk_size=16777216 rw quiet splash=silent proxmox-start-auto-installer\n');
    const answer = parse(body.answer);
    expect(answer.global).toMatchObject({ fqdn: 'pve-ms-03.lab.example', 'root-password-hashed': redactedPasswordHash, 'reboot-on-error': false });
    expect(answer['disk-setup']).toEqual({ filesystem: 'zfs', 'disk-list': ['nvme0n1'], zfs: { raid: 'raid0' } });
    expect(answer['post-installation-webhook']).toEqual({ url: `http://127.0.0.1:8080/api/hosts/${id}/installed?token=<redacted>` });
    expect(body.first_boot).toContain(`URL='http://127.0.0.1:8080/api/hosts/${id}/phone-home?token=<redacted>'`);
    expect(body.redacted).toEqual(['global.root-password-hashed (credentials.root_password_hash)', "the boot token in the webhook, first-boot and phone-home URLs (a rebuild's own token, made when it starts)"]);
  });

  it('never shows the root password hash or a running rebuild\'s boot token', async () => {
    const id = await register('pve-ms-03', 'aa:bb:cc:dd:ee:03');
    const handle = await t.client.workflow.start('rebuildHostWorkflow', { workflowId: rebuildWorkflowId(id), taskQueue: t.taskQueue, args: [] });
    t.operations.ensure(id, rebuildWorkflowId(id), handle.firstExecutionRunId);
    const res = await preview(id);
    const token = t.tokens.tokenFor(handle.firstExecutionRunId);
    expect(res.body).not.toContain(testPasswordHash);
    expect(res.body).not.toContain(testPasswordHash.split('$')[3]); // not even the hash's digest part
    expect(res.body).not.toContain(token);
    expect(res.body).toContain('token=<redacted>');
  });

  it('renders what the boot endpoints serve, but for the placeholders', async () => {
    const id = await register('pve-ms-03', 'aa:bb:cc:dd:ee:03');
    const body = (await preview(id)).json();
    // The same host in a rebuild awaiting PXE, as the workflow leaves it, then booting for real.
    const handle = await t.client.workflow.start('rebuildHostWorkflow', { workflowId: rebuildWorkflowId(id), taskQueue: t.taskQueue, args: [] });
    const runId = handle.firstExecutionRunId;
    const operation = t.operations.ensure(id, rebuildWorkflowId(id), runId);
    t.keys.save({ id: rebuildKeyId(runId), workflowId: rebuildWorkflowId(id), operationId: operation.id, publicKey, privateKey: 'x' });
    t.hosts.transition(id, 'pxe_ready');
    t.pxeAllowList.allow(parseMac('aa:bb:cc:dd:ee:03'), id, rebuildWorkflowId(id));
    const token = t.tokens.tokenFor(runId);
    const fill = (text: string) => text.replaceAll(redactedToken, token).replace(redactedPasswordHash, testPasswordHash).replace(/ssh-ed25519 <[^>]+> provisioning-rebuild-pve-ms-03/, publicKey);

    expect((await t.app.inject({ method: 'GET', url: '/ipxe/aa:bb:cc:dd:ee:03' })).body).toBe(body.ipxe);
    t.hosts.transition(id, 'pxe_booted');
    const served = await t.app.inject({ method: 'POST', url: '/api/boot/answer', payload: answerRequest(['aa:bb:cc:dd:ee:03'], false) });
    expect(served.statusCode).toBe(200);
    expect(served.body).toBe(fill(body.answer));
    const script = await t.app.inject({ method: 'GET', url: `/api/hosts/${id}/first-boot-script?token=${token}` });
    expect(script.body).toBe(fill(body.first_boot));
  });

  it('changes nothing: no rebuild started, no event, state and allow-list as they were', async () => {
    const id = await register('pve-ms-03', 'aa:bb:cc:dd:ee:03');
    const events = () => t.operations.hostEvents(id).length + t.operations.listForHost(id).length;
    const before = events();
    for (let i = 0; i < 3; i++) expect((await preview(id)).statusCode).toBe(200);
    expect(events()).toBe(before);
    expect(t.hosts.get(id).state).toBe('registered');
    expect(t.pxeAllowList.find(parseMac('aa:bb:cc:dd:ee:03'))).toBeUndefined();
    // The namespace is shared: a rebuild-<id> of another test may exist, but none on this app's task queue.
    const started = await t.client.workflow.getHandle(rebuildWorkflowId(id)).describe().catch((err: unknown) => {
      if (err instanceof WorkflowNotFoundError) return null;
      throw err;
    });
    expect(started?.taskQueue === t.taskQueue).toBe(false);
  });

  it('says the answer cannot be built when the server type is no longer defined', async () => {
    const id = await register('pve-ms-03', 'aa:bb:cc:dd:ee:03');
    t.db.prepare("UPDATE hosts SET server_type = 'gone-type' WHERE id = ?").run(id);
    const body = (await preview(id)).json();
    expect(body.valid).toBe(false);
    expect(body.answer).toBeNull();
    expect(body.problems).toEqual([{ part: 'answer', message: 'server type gone-type is not defined in server-types.yaml: no answer file can be built (the installer would be refused one)' }]);
  });

  it('says there is no boot image and shows the local-disk script the host would get', async () => {
    const id = await register('pve-ms-03', 'aa:bb:cc:dd:ee:03');
    rmSync(join(t.images.dir, 'pve-9.1'), { recursive: true });
    const body = (await preview(id)).json();
    expect(body.image).toBeNull();
    expect(body.ipxe).toBe(renderLocalBootScript());
    expect(body.problems).toEqual([{ part: 'ipxe', message: `no boot image in ${t.images.dir}: the host would get the local-disk script and boot its old system` }]);
  });

  it('lists the installer\'s objection to an invalid answer (an all-digit hostname)', async () => {
    const id = await register('12345', 'aa:bb:cc:dd:ee:03');
    const body = (await preview(id)).json();
    expect(body.valid).toBe(false);
    expect(body.problems).toEqual([{ part: 'answer', message: 'global.fqdn: the hostname label must not be purely numeric' }]);
    expect(body.answer).toContain('fqdn = "12345.lab.example"');
  });

  it('says a rebuild would be refused while settings it needs are missing', async () => {
    const id = await register('pve-ms-03', 'aa:bb:cc:dd:ee:03');
    blockers = ['proxmox.existing_node', 'credentials.join_password'];
    expect((await preview(id)).json().problems).toEqual([{ part: 'rebuild', message: 'a rebuild would be refused now (409 not_configured): proxmox.existing_node, credentials.join_password not set (the Setup page, /setup, says how)' }]);
  });

  it('answers an unknown host id with 404 host_not_found', async () => {
    const res = await preview(999);
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('host_not_found');
  });

  it('is in the OpenAPI document under the rebuilds tag', async () => {
    const doc = (await t.app.inject({ method: 'GET', url: '/docs/json' })).json();
    const op = doc.paths['/api/hosts/{id}/preview'].get;
    expect(op.tags).toEqual(['rebuilds']);
    expect(Object.keys(op.responses['200'].content['application/json'].schema.properties)).toEqual(['host', 'image', 'ipxe', 'answer', 'first_boot', 'valid', 'problems', 'redacted', 'notes']);
  });
});

describe('previewHost over HTTPS', () => {
  it('pins the certificate and, for a 9.2 image, redacts the webhook\'s auth-token', async () => {
    const id = await register('pve-ms-03', 'aa:bb:cc:dd:ee:03');
    mkdirSync(join(t.images.dir, 'pve-9.2-1'));
    for (const f of ['vmlinuz', 'initrd.img', 'proxmox-ve_9.2-1-auto-from-http.iso']) writeFileSync(join(t.images.dir, 'pve-9.2-1', f), f);
    const fingerprint = Array.from({ length: 32 }, () => 'AB').join(':');
    const metadata = { format: 1, product: 'pve', release: '9.2', source: { file: 'proxmox-ve_9.2-1.iso', size: 1, sha256: '0'.repeat(64) }, prepared_at: '2026-06-01T00:00:00.000Z', answer_url: 'https://127.0.0.1:8443/api/boot/answer', cert_fingerprint: fingerprint, token_sha256: null, files: { kernel: 'vmlinuz', initrd: 'initrd.img', iso: 'proxmox-ve_9.2-1-auto-from-http.iso' } };
    writeFileSync(join(t.images.dir, 'pve-9.2-1', 'image.json'), JSON.stringify(metadata));
    const p = previewHost(
      {
        serverTypes: { get: (key) => (key === 'minisforum-ms-01' ? { key, displayName: 'MS-01', bootDisks: ['/dev/nvme0n1'], managementNic: 'enp2s0', gpu: false, hostnamePrefix: 'pve-ms', filesystem: 'zfs', raid: null, image: null } : undefined) },
        images: t.images,
        answerSettings: () => ({ answerUrl: 'https://127.0.0.1:8443/api/boot/answer', certFingerprint: fingerprint, plainAnswerUrl: 'http://127.0.0.1:8080/api/boot/answer' }),
        publicUrl: 'http://127.0.0.1:8080',
        https: { publicUrl: 'https://127.0.0.1:8443', certFingerprint: fingerprint },
        install: { domain: 'lab.example', country: 'us', keyboard: 'en-us', timezone: 'UTC', mailto: 'ops@lab.example' },
        rootPasswordHash: testPasswordHash,
        firstBootDeadlineSeconds: 60,
      },
      t.hosts.get(id),
    );
    expect(p.problems).toEqual([]);
    const answer = parse(p.answer!);
    expect(answer['post-installation-webhook']).toEqual({ url: `https://127.0.0.1:8443/api/hosts/${id}/installed`, 'cert-fingerprint': fingerprint, 'auth-token': redactedToken });
    expect(answer['first-boot']).toMatchObject({ url: `https://127.0.0.1:8443/api/hosts/${id}/first-boot-script?token=${redactedToken}`, 'cert-fingerprint': fingerprint });
    expect(p.redacted[1]).toContain('post-installation-webhook.auth-token');
    expect(JSON.stringify(p)).not.toContain(testPasswordHash);
  });
});
