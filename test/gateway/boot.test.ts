// Real: Fastify (inject), SQLite file, Temporal client (signals go to rebuilds this file starts by hand, with no
// worker: the signal lands in the workflow's history, which the test reads back).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from '@iarna/toml';
import { createLogger } from '../../src/logging';
import { parseMac } from '../../src/domain/mac-address';
import { rebuildKeyId, rebuildWorkflowId } from '../../src/domain/rebuild-ids';
import { validateAnswer } from '../../src/boot/answer-validator';
import { renderLocalBootScript } from '../../src/boot/ipxe-script';
import type { HostState } from '../../src/domain/host-state-machine';
import { buildTestApp, testPasswordHash, type TestApp } from '../helpers/test-app';
import { answerRequest, installedWebhook } from '../helpers/installer-payloads';
import { Resources } from '../helpers/release';
import { buildSyntheticIso, isoFileText } from '../helpers/synthetic-iso';
import { tempDir } from '../helpers/temp-dir';

const resources = new Resources();
afterEach(() => resources.releaseAll());
let t: TestApp;
let logLines: string[];

beforeEach(async () => {
  logLines = [];
  const sink = new Writable({ write: (chunk, _enc, done) => { logLines.push(chunk.toString()); done(); } });
  t = resources.add(await buildTestApp({ logger: createLogger('debug', sink) }), (a) => a.close());
  mkdirSync(join(t.images.dir, 'pve-9.1'));
  for (const f of ['vmlinuz', 'initrd.img', 'proxmox-ve_9.1-auto-from-http.iso']) writeFileSync(join(t.images.dir, 'pve-9.1', f), f);
});

async function register(hostname: string, mac: string): Promise<number> {
  const res = await t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname, mac, server_type: 'minisforum-ms-01' } });
  expect(res.statusCode).toBe(201);
  return res.json().id;
}

/** A host in a running rebuild at `state`, as the workflow would leave it; the rebuild is a real workflow with no worker. */
async function rebuilding(hostname: string, mac: string, state: HostState = 'pxe_ready') {
  const id = await register(hostname, mac);
  const { runId } = await t.client.workflow.start('rebuildHostWorkflow', { workflowId: rebuildWorkflowId(id), taskQueue: t.taskQueue, args: [] }).then((h) => ({ runId: h.firstExecutionRunId }));
  const operation = t.operations.ensure(id, rebuildWorkflowId(id), runId);
  t.keys.save({ id: rebuildKeyId(runId), workflowId: rebuildWorkflowId(id), operationId: operation.id, publicKey: `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests0000000000000000000000000000 provisioning-rebuild-${hostname}`, privateKey: 'x' });
  t.hosts.transition(id, 'pxe_ready');
  const path: HostState[] = ['pxe_booted', 'installing', 'installed', 'first_boot'];
  for (const s of path.slice(0, path.indexOf(state) + 1)) t.hosts.transition(id, s);
  if (state === 'pxe_ready' || state === 'pxe_booted') t.pxeAllowList.allow(parseMac(mac), id, rebuildWorkflowId(id));
  return { id, runId, token: t.tokens.tokenFor(runId) };
}

/** The names of the signals the rebuild received, from its history. */
async function signalsOf(id: number): Promise<string[]> {
  const history = await t.client.workflow.getHandle(rebuildWorkflowId(id)).fetchHistory();
  return (history.events ?? []).map((e) => e.workflowExecutionSignaledEventAttributes?.signalName).filter((n): n is string => Boolean(n));
}

describe('GET /ipxe/:mac', () => {
  it('serves the installer to a host whose rebuild awaits PXE, in any MAC notation, and signals pxeBooted', async () => {
    const { id } = await rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03');
    for (const form of ['aa:bb:cc:dd:ee:03', 'aa%3Abb%3Acc%3Add%3Aee%3A03', 'aa-bb-cc-dd-ee-03', 'AABBCCDDEE03']) {
      const res = await t.app.inject({ method: 'GET', url: `/ipxe/${form}` });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(res.body).toContain('kernel http://127.0.0.1:8080/images/pve-9.1/vmlinuz ramdisk_size=16777216 rw quiet splash=silent proxmox-start-auto-installer');
      expect(res.body).toContain('initrd http://127.0.0.1:8080/images/pve-9.1/proxmox-ve_9.1-auto-from-http.iso proxmox.iso');
    }
    expect(await signalsOf(id)).toEqual(['pxeBooted', 'pxeBooted', 'pxeBooted', 'pxeBooted']);
  });

  it.each<[string, HostState | 'unknown' | 'registered']>([
    ['an unknown MAC', 'unknown'],
    ['a registered host with no rebuild', 'registered'],
    ['a host whose rebuild is installing', 'installing'],
    ['a host whose rebuild finished installing', 'installed'],
  ])('answers %s with the local-boot script and changes nothing', async (_name, situation) => {
    let id: number | undefined;
    if (situation === 'registered') id = await register('pve-idle', 'aa:bb:cc:dd:ee:10');
    else if (situation !== 'unknown') id = (await rebuilding('pve-busy', 'aa:bb:cc:dd:ee:10', situation)).id;
    const before = id ? t.hosts.get(id).state : undefined;
    const res = await t.app.inject({ method: 'GET', url: '/ipxe/aa:bb:cc:dd:ee:10' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe(renderLocalBootScript());
    if (id) {
      expect(t.hosts.get(id).state).toBe(before);
      if (situation !== 'registered') expect(await signalsOf(id)).toEqual([]);
      expect(t.operations.listForHost(id).flatMap((o) => t.operations.events(o.id)).concat(t.operations.hostEvents(id)).map((e) => e.kind)).toContain('boot_local');
    }
  });

  it.each<HostState>(['ready', 'failed'])('answers a %s host with the local-boot script', async (state) => {
    const id = await register(`pve-${state}`, 'aa:bb:cc:dd:ee:11');
    t.hosts.transition(id, 'pxe_ready');
    if (state === 'failed') t.hosts.transition(id, 'failed');
    else for (const s of ['pxe_booted', 'installing', 'installed', 'first_boot', 'joining', 'ready'] as const) t.hosts.transition(id, s);
    const res = await t.app.inject({ method: 'GET', url: '/ipxe/aa:bb:cc:dd:ee:11' });
    expect(res.body).toBe(renderLocalBootScript());
    expect(t.hosts.get(id).state).toBe(state);
  });

  it('answers with the local-boot script when the rebuild cannot be told about the boot', async () => {
    const { id } = await rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03');
    await t.client.workflow.getHandle(rebuildWorkflowId(id)).terminate('gone'); // the signal now fails
    const res = await t.app.inject({ method: 'GET', url: '/ipxe/aa:bb:cc:dd:ee:03' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe(renderLocalBootScript());
  });

  it('answers a malformed MAC with the local-boot script, never a 404', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/ipxe/not-a-mac' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe(renderLocalBootScript());
  });

  it('answers with the local-boot script when there is no boot image, and records why', async () => {
    const { id } = await rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03');
    const empty = join(t.dir, 'images', 'pve-9.1');
    for (const f of ['vmlinuz', 'initrd.img', 'proxmox-ve_9.1-auto-from-http.iso']) writeFileSync(join(empty, f), '');
    const { rmSync } = await import('node:fs');
    rmSync(empty, { recursive: true });
    const res = await t.app.inject({ method: 'GET', url: '/ipxe/aa:bb:cc:dd:ee:03' });
    expect(res.body).toBe(renderLocalBootScript());
    const events = t.operations.events(t.operations.running(id)!.id);
    expect(events.at(-1)?.message).toMatch(/answered with "boot from local disk": no boot image in /);
  });
});

describe('POST /api/boot/answer', () => {
  it('serves a valid TOML answer with the rebuild key, disk, webhook and first-boot URLs carrying the token', async () => {
    const { id, token } = await rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03', 'pxe_booted');
    const res = await t.app.inject({ method: 'POST', url: '/api/boot/answer', payload: answerRequest(['58:47:ca:00:00:01', 'aa:bb:cc:dd:ee:03']) });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/toml; charset=utf-8');
    const answer = parse(res.body);
    expect(validateAnswer(JSON.parse(JSON.stringify(answer)))).toEqual([]);
    expect(answer.global).toMatchObject({
      fqdn: 'pve-ms-03.lab.example',
      'root-password-hashed': testPasswordHash,
      'root-ssh-keys': ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests0000000000000000000000000000 provisioning-rebuild-pve-ms-03'],
      'reboot-on-error': false,
    });
    expect(answer['disk-setup']).toEqual({ filesystem: 'zfs', 'disk-list': ['nvme0n1'], zfs: { raid: 'raid0' } });
    expect(answer['post-installation-webhook']).toEqual({ url: `http://127.0.0.1:8080/api/hosts/${id}/installed?token=${token}` });
    expect(answer['first-boot']).toEqual({ source: 'from-url', ordering: 'network-online', url: `http://127.0.0.1:8080/api/hosts/${id}/first-boot-script?token=${token}` });
    expect(await signalsOf(id)).toEqual(['answerServed']);
  });

  it.each<[string, HostState | 'registered' | 'unknown']>([
    ['an unknown machine', 'unknown'],
    ['a registered host with no rebuild', 'registered'],
    ['a host already installing', 'installing'],
    ['a host already installed', 'installed'],
  ])('answers %s with 404 and a plain reason, and changes nothing', async (_name, situation) => {
    let id: number | undefined;
    if (situation === 'registered') id = await register('pve-idle', 'aa:bb:cc:dd:ee:20');
    else if (situation !== 'unknown') id = (await rebuilding('pve-busy', 'aa:bb:cc:dd:ee:20', situation)).id;
    const res = await t.app.inject({ method: 'POST', url: '/api/boot/answer', payload: answerRequest(['aa:bb:cc:dd:ee:20']) });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(res.body).toMatch(/^provisioning: no rebuild is waiting for an answer file for aa:bb:cc:dd:ee:20: /);
    if (id && situation !== 'registered') expect(await signalsOf(id)).toEqual([]);
  });

  it('requires the answer token of the prepared 9.2 image the host was served, and says only "refused" without it', async () => {
    const work = resources.add(tempDir(), async (d) => d.remove());
    const iso = buildSyntheticIso(work.path, { release: '9.2', file: 'proxmox-ve_9.2-1.iso' });
    const upload = await t.app.inject({ method: 'POST', url: '/api/images?filename=proxmox-ve_9.2-1.iso', headers: { 'content-type': 'application/octet-stream' }, payload: readFileSync(iso.path) });
    expect((await t.imageJobs.settled(upload.json().job.id))?.state).toBe('ready');
    const mode = parse(isoFileText(join(t.images.dir, 'pve-9.2-1', 'proxmox-ve_9.2-1-auto-from-http.iso'), '/auto-installer-mode.toml')) as { http: { token: string } };
    const { id } = await rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03');
    expect((await t.app.inject({ method: 'GET', url: '/ipxe/aa:bb:cc:dd:ee:03' })).body).toContain('/images/pve-9.2-1/vmlinuz');
    t.hosts.transition(id, 'pxe_booted');
    const body = { ...answerRequest(['58:47:CA:00:00:01', 'AA:BB:CC:DD:EE:03']), iso: { release: '9.2', isorelease: '1' } };
    for (const authorization of [undefined, 'Bearer provisioning:guessed', `Basic ${mode.http.token}`]) {
      const refused = await t.app.inject({ method: 'POST', url: '/api/boot/answer', payload: body, headers: authorization ? { authorization } : {} });
      expect({ status: refused.statusCode, body: refused.body }).toEqual({ status: 403, body: 'refused\n' });
    }
    expect(await signalsOf(id)).toEqual(['pxeBooted']);
    const res = await t.app.inject({ method: 'POST', url: '/api/boot/answer', payload: body, headers: { authorization: `Bearer ${mode.http.token}` } });
    expect(res.statusCode).toBe(200);
    expect(await signalsOf(id)).toEqual(['pxeBooted', 'answerServed']);
    expect(logLines.join('')).not.toContain(mode.http.token.split(':')[1]);
  }, 60_000);

  it('answers 404 naming the missing rebuild key, and delivers nothing', async () => {
    const { id, runId } = await rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03', 'pxe_booted');
    t.keys.delete(rebuildKeyId(runId));
    const res = await t.app.inject({ method: 'POST', url: '/api/boot/answer', payload: answerRequest(['aa:bb:cc:dd:ee:03']) });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(res.body).toBe('provisioning: cannot build an answer file for pve-ms-03: its rebuild key is missing\n');
    expect(await signalsOf(id)).toEqual([]);
  });

  it('refuses with 500 an answer the installer would reject (an all-digit hostname), records why and delivers nothing', async () => {
    const { id } = await rebuilding('12345', 'aa:bb:cc:dd:ee:03', 'pxe_booted'); // a valid DNS label, but not an installer hostname
    const res = await t.app.inject({ method: 'POST', url: '/api/boot/answer', payload: answerRequest(['aa:bb:cc:dd:ee:03']) });
    const problem = 'global.fqdn: the hostname label must not be purely numeric';
    expect(res.statusCode).toBe(500);
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(res.body).toBe(`provisioning: the answer file for 12345 is invalid: ${problem}\n`);
    const history = t.operations.events(t.operations.running(id)!.id).map((e) => ({ kind: e.kind, message: e.message }));
    expect(history).toContainEqual({ kind: 'answer_invalid', message: `answer file for 12345 failed validation: ${problem}` });
    expect(await signalsOf(id)).toEqual([]);
  });

  it('rejects a body that is not the installer\'s system info with 400', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/boot/answer', payload: { hello: 'world' } });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'invalid_request', field: 'network_interfaces' });
  });
});

describe('boot tokens', () => {
  it('accepts the post-installation webhook with its token, stores the facts and signals installed', async () => {
    const { id, token } = await rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03', 'installing');
    const hostKeys = { ed25519: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKey0000000000000000000000000000000000 root@pve-ms-03' };
    const res = await t.app.inject({
      method: 'POST',
      url: `/api/hosts/${id}/installed?token=${token}`,
      payload: installedWebhook({ mac: 'aa:bb:cc:dd:ee:03', address: '10.0.0.53/24', hostKeys, machineId: '3f2a0c9d8e7b6a5f4e3d2c1b0a998877' }),
    });
    expect(res.statusCode).toBe(200);
    expect(t.hosts.get(id)).toMatchObject({ ipAddress: '10.0.0.53', machineId: '3f2a0c9d8e7b6a5f4e3d2c1b0a998877', hardwareId: '4c4c4544-0042-3510-8052-b4c04f4e3732' });
    expect(await signalsOf(id)).toEqual(['installed']);
  });

  it('stops serving the installer as soon as the installer reports success, even before the worker processes it', async () => {
    const { id, token } = await rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03', 'pxe_booted'); // the worker lags behind
    expect(t.pxeAllowList.list()).toHaveLength(1);
    const res = await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/installed?token=${token}`, payload: installedWebhook({ mac: 'aa:bb:cc:dd:ee:03', address: '10.0.0.53/24', hostKeys: {}, machineId: 'm' }) });
    expect(res.statusCode).toBe(200);
    expect(t.pxeAllowList.list()).toEqual([]);
    expect((await t.app.inject({ method: 'GET', url: '/ipxe/aa:bb:cc:dd:ee:03' })).body).toBe(renderLocalBootScript());
  });

  it.each([
    ['a missing token', '', 401, 'invalid_boot_token'],
    ['a wrong token', '?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 401, 'invalid_boot_token'],
  ])('rejects %s and changes nothing', async (_name, query, status, code) => {
    const { id } = await rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03', 'first_boot');
    for (const req of [
      { method: 'POST' as const, url: `/api/hosts/${id}/phone-home${query}`, payload: { ip: '10.0.0.53', hardware_id: 'x' } },
      { method: 'GET' as const, url: `/api/hosts/${id}/first-boot-script${query}` },
      { method: 'POST' as const, url: `/api/hosts/${id}/installed${query}`, payload: {} },
    ]) {
      const res = await t.app.inject(req);
      expect(res.statusCode).toBe(status);
      expect(res.json().error.code).toBe(code);
    }
    expect(t.hosts.get(id).ipAddress).toBeNull();
    expect(await signalsOf(id)).toEqual([]);
  });

  it("rejects another host's token", async () => {
    const a = await rebuilding('pve-a', 'aa:bb:cc:dd:ee:0a', 'first_boot');
    const b = await rebuilding('pve-b', 'aa:bb:cc:dd:ee:0b', 'first_boot');
    const res = await t.app.inject({ method: 'POST', url: `/api/hosts/${a.id}/phone-home?token=${b.token}`, payload: { ip: '10.0.0.53' } });
    expect(res.statusCode).toBe(401);
    expect(await signalsOf(a.id)).toEqual([]);
  });

  it('rejects a boot token from a finished rebuild with 409 no_active_rebuild', async () => {
    const { id, token } = await rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03', 'first_boot');
    t.operations.finish(t.operations.running(id)!.id, { status: 'failed', reason: 'cancelled', message: 'x' });
    const res = await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/phone-home?token=${token}`, payload: { ip: '10.0.0.53' } });
    expect(res.statusCode).toBe(409);
    expect(res.json().error.code).toBe('no_active_rebuild');
  });

  it('rejects a phone-home whose ip is not an IP address', async () => {
    const { id, token } = await rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03', 'first_boot');
    const res = await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/phone-home?token=${token}`, payload: { ip: 'pve.lan' } });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'invalid_request', field: 'ip' });
  });

  it('serves the first-boot script with the phone-home URL and token baked in, and never logs the token', async () => {
    const { id, token } = await rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03', 'installing');
    const res = await t.app.inject({ method: 'GET', url: `/api/hosts/${id}/first-boot-script?token=${token}` });
    expect(res.statusCode).toBe(200);
    expect(res.body.startsWith('#!/bin/sh\n')).toBe(true);
    expect(res.body).toContain(`URL='http://127.0.0.1:8080/api/hosts/${id}/phone-home?token=${token}'`);
    expect(Buffer.byteLength(res.body)).toBeLessThan(1024 * 1024);
    expect(logLines.join('')).toContain(`/api/hosts/${id}/first-boot-script`);
    expect(logLines.join('')).not.toContain(token);
  });
});
