// GET /api/boot/explain: what a MAC would get if it booted now, and why.
// Real: Fastify (inject), SQLite file, the image folder, Temporal client (rebuilds this file starts by hand, with no
// worker, so a signal lands in the workflow's history). Nothing is faked.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { renderLocalBootScript } from '../../src/boot/ipxe-script';
import type { HostState } from '../../src/domain/host-state-machine';
import { parseMac } from '../../src/domain/mac-address';
import { rebuildWorkflowId } from '../../src/domain/rebuild-ids';
import { imageMetadataJson } from '../../src/images/image-library';
import { buildTestApp, type TestApp } from '../helpers/test-app';
import { Resources } from '../helpers/release';

const resources = new Resources();
afterEach(() => resources.releaseAll());
let t: TestApp;

beforeEach(async () => {
  t = resources.add(await buildTestApp(), (a) => a.close());
  addImage('pve-9.1');
});

function addImage(name: string, files = ['vmlinuz', 'initrd.img', 'proxmox-ve_9.1-auto-from-http.iso']) {
  mkdirSync(join(t.images.dir, name), { recursive: true });
  for (const f of files) writeFileSync(join(t.images.dir, name, f), f);
}

async function register(hostname: string, mac: string, serverType = 'minisforum-ms-01'): Promise<number> {
  const res = await t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname, mac, server_type: serverType } });
  expect(res.statusCode).toBe(201);
  return res.json().id;
}

/** A host in a running rebuild at `state`, as the workflow leaves it (allowed to PXE while it may boot the installer). */
async function rebuilding(hostname: string, mac: string, state: HostState = 'pxe_ready') {
  const id = await register(hostname, mac);
  const handle = await t.client.workflow.start('rebuildHostWorkflow', { workflowId: rebuildWorkflowId(id), taskQueue: t.taskQueue, args: [] });
  const operation = t.operations.ensure(id, rebuildWorkflowId(id), handle.firstExecutionRunId);
  t.operations.setStage(operation.id, state);
  t.hosts.transition(id, 'pxe_ready');
  const path: HostState[] = ['pxe_booted', 'installing', 'installed', 'first_boot'];
  for (const s of path.slice(0, path.indexOf(state) + 1)) t.hosts.transition(id, s);
  if (state === 'pxe_ready' || state === 'pxe_booted') t.pxeAllowList.allow(parseMac(mac), id, rebuildWorkflowId(id));
  return { id, operationId: operation.id };
}

const explain = async (mac: string) => t.app.inject({ method: 'GET', url: `/api/boot/explain?mac=${encodeURIComponent(mac)}` });

/** Every event of a host, in and outside its operations. */
const eventsOf = (id: number) => t.operations.listForHost(id).flatMap((o) => t.operations.events(o.id)).concat(t.operations.hostEvents(id)).map((e) => e.message);

/** The reason the boot endpoint records when it answers with the local disk. */
async function bootEndpointReason(id: number, mac: string): Promise<string | undefined> {
  const before = new Set(eventsOf(id));
  const res = await t.app.inject({ method: 'GET', url: `/ipxe/${mac}` });
  expect(res.body).toBe(renderLocalBootScript());
  const recorded = eventsOf(id).find((m) => !before.has(m));
  return recorded?.replace(/^PXE request from \S+ answered with "boot from local disk": /, '');
}

describe('GET /api/boot/explain', () => {
  it('answers an unknown MAC with local-disk, no host, and says it is not registered', async () => {
    const res = await explain('AA-BB-CC-DD-EE-99');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      mac: 'aa:bb:cc:dd:ee:99',
      action: 'local-disk',
      reason: 'unknown MAC',
      host: null,
      rebuild: null,
      image: null,
      chain: [{ check: 'registered', ok: false, detail: 'no registered host has MAC aa:bb:cc:dd:ee:99: it boots its local disk (register it with POST /api/hosts, then start a rebuild)' }],
    });
  });

  it('explains a registered host with no rebuild: not on the allow-list, the reason the boot endpoint records', async () => {
    const id = await register('pve-idle', 'aa:bb:cc:dd:ee:10');
    const body = (await explain('aa:bb:cc:dd:ee:10')).json();
    expect(body).toMatchObject({ action: 'local-disk', reason: 'no rebuild allows PXE for pve-idle (state registered)', host: { id, hostname: 'pve-idle', state: 'registered', server_type: 'minisforum-ms-01' }, rebuild: null, image: null });
    expect(body.chain).toEqual([
      { check: 'registered', ok: true, detail: `host ${id}, pve-idle (server type minisforum-ms-01)` },
      { check: 'rebuild', ok: false, detail: `no rebuild running for pve-idle (start one with POST /api/hosts/${id}/rebuild)` },
      { check: 'pxe_allowed', ok: false, detail: 'aa:bb:cc:dd:ee:10 is not on the PXE allow-list (a rebuild puts it there at pxe_ready and takes it off when the installer reports or the rebuild ends)' },
      { check: 'state', ok: false, detail: 'pve-idle is registered; the installer boots only at pxe_ready or pxe_booted' },
      { check: 'server_type', ok: true, detail: 'minisforum-ms-01 boots the newest image' },
      { check: 'image', ok: true, detail: `pve-9.1 in ${t.images.dir}: vmlinuz, initrd.img, proxmox-ve_9.1-auto-from-http.iso (made by hand: not checked for staleness)` },
    ]);
    expect(await bootEndpointReason(id, 'aa:bb:cc:dd:ee:10')).toBe(body.reason);
  });

  it('explains an allowance that belongs to another rebuild, naming its workflow and host', async () => {
    const other = await register('pve-other', 'aa:bb:cc:dd:ee:20');
    const id = await register('pve-ms-03', 'aa:bb:cc:dd:ee:03');
    t.pxeAllowList.allow(parseMac('aa:bb:cc:dd:ee:03'), other, rebuildWorkflowId(other));
    const body = (await explain('aa:bb:cc:dd:ee:03')).json();
    expect(body.action).toBe('local-disk');
    expect(body.reason).toBe(`PXE allowance belongs to rebuild-${other}, not to pve-ms-03's rebuild`);
    const allowed = body.chain.find((c: { check: string }) => c.check === 'pxe_allowed');
    expect(allowed).toEqual({ check: 'pxe_allowed', ok: false, detail: expect.stringMatching(new RegExp(`^on the PXE allow-list since \\S+ for rebuild-${other} \\(host ${other}, pve-other\\), not for pve-ms-03's rebuild rebuild-${id}$`)) });
    expect(await bootEndpointReason(id, 'aa:bb:cc:dd:ee:03')).toBe(body.reason);
  });

  it('explains a host past the install: its rebuild runs and allows PXE, but the installer may not boot again', async () => {
    const { id, operationId } = await rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03', 'installing');
    t.pxeAllowList.allow(parseMac('aa:bb:cc:dd:ee:03'), id, rebuildWorkflowId(id)); // still allowed until the installer reports
    const body = (await explain('aa:bb:cc:dd:ee:03')).json();
    expect(body).toMatchObject({ action: 'local-disk', reason: 'pve-ms-03 is installing: past the point where the installer may boot', rebuild: { operation_id: operationId, workflow_id: `rebuild-${id}`, stage: 'installing' } });
    expect(body.chain.map((c: { check: string; ok: boolean }) => [c.check, c.ok])).toEqual([['registered', true], ['rebuild', true], ['pxe_allowed', true], ['state', false], ['server_type', true], ['image', true]]);
    expect(body.chain[1].detail).toBe(`rebuild running: operation ${operationId}, workflow rebuild-${id}, stage installing`);
    expect(body.chain[3].detail).toBe('pve-ms-03 is installing: past the point where the installer may boot (its answer file was served); the installer boots only at pxe_ready or pxe_booted');
    expect(await bootEndpointReason(id, 'aa:bb:cc:dd:ee:03')).toBe(body.reason);
  });

  it('explains an install: every check passes and it names the image the boot endpoint then serves', async () => {
    const { id } = await rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03');
    const body = (await explain('aa:bb:cc:dd:ee:03')).json();
    expect(body).toMatchObject({ action: 'install', reason: `pve-ms-03 is pxe_ready and its own rebuild (rebuild-${id}) allows PXE: it gets the installer of image pve-9.1`, image: 'pve-9.1' });
    expect(body.chain.every((c: { ok: boolean }) => c.ok)).toBe(true);
    const served = await t.app.inject({ method: 'GET', url: '/ipxe/aa:bb:cc:dd:ee:03' });
    expect(served.body).toContain('/images/pve-9.1/vmlinuz');
  });

  it('explains a rebuild with no complete boot image: local disk, with the boot endpoint\'s reason', async () => {
    const { id } = await rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03');
    rmSync(join(t.images.dir, 'pve-9.1'), { recursive: true });
    addImage('pve-9.1', ['vmlinuz']); // a folder without initrd or ISO is no image
    const body = (await explain('aa:bb:cc:dd:ee:03')).json();
    expect(body).toMatchObject({ action: 'local-disk', reason: `no boot image in ${t.images.dir}`, image: null });
    expect(body.chain.at(-1)).toEqual({ check: 'image', ok: false, detail: `no boot image in ${t.images.dir}: the host would boot its local disk` });
    expect(await bootEndpointReason(id, 'aa:bb:cc:dd:ee:03')).toBe(body.reason);
  });

  it('flags a stale image in the chain while the decision stays install', async () => {
    await rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03');
    const files = { kernel: 'vmlinuz', initrd: 'initrd.img', iso: 'proxmox-ve_9.1-auto-from-http.iso' };
    writeFileSync(join(t.images.dir, 'pve-9.1', 'image.json'), imageMetadataJson({ product: 'pve', productLong: 'Proxmox VE', release: '9.1', isorelease: '1', isoUuid: null, source: { file: 'proxmox-ve_9.1-1.iso', size: 1, sha256: '0'.repeat(64) }, preparedAt: '2026-01-01T00:00:00.000Z', answerUrl: 'http://10.9.9.9:8080/api/boot/answer', certFingerprint: null, tokenSha256: null, files }));
    const body = (await explain('aa:bb:cc:dd:ee:03')).json();
    expect(body.action).toBe('install');
    expect(body.chain.at(-1)).toEqual({
      check: 'image',
      ok: false,
      detail: `pve-9.1 in ${t.images.dir}: vmlinuz, initrd.img, proxmox-ve_9.1-auto-from-http.iso; stale: its installer asks http://10.9.9.9:8080/api/boot/answer for the answer, but answers are now at http://127.0.0.1:8080/api/boot/answer (its installer cannot fetch an answer file; prepare it again)`,
    });
  });

  it('says when the host\'s server type is no longer defined', async () => {
    const id = await register('pve-ms-03', 'aa:bb:cc:dd:ee:03');
    t.db.prepare("UPDATE hosts SET server_type = 'gone-type' WHERE id = ?").run(id);
    const body = (await explain('aa:bb:cc:dd:ee:03')).json();
    expect(body.chain.find((c: { check: string }) => c.check === 'server_type')).toEqual({ check: 'server_type', ok: false, detail: 'server type gone-type is not defined in server-types.yaml: the installer would boot the newest image, but its answer file would be refused' });
  });

  it('changes nothing: no event, no signal to the rebuild, the allow-list and state as they were', async () => {
    const { id } = await rebuilding('pve-ms-03', 'aa:bb:cc:dd:ee:03');
    const before = { events: eventsOf(id), state: t.hosts.get(id).state, allowed: t.pxeAllowList.find(parseMac('aa:bb:cc:dd:ee:03')) };
    for (let i = 0; i < 3; i++) expect((await explain('aa:bb:cc:dd:ee:03')).json().action).toBe('install');
    expect({ events: eventsOf(id), state: t.hosts.get(id).state, allowed: t.pxeAllowList.find(parseMac('aa:bb:cc:dd:ee:03')) }).toEqual(before);
    const history = await t.client.workflow.getHandle(rebuildWorkflowId(id)).fetchHistory();
    expect((history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes)).toEqual([]);
  });

  it('answers a malformed MAC with 400 naming the field mac', async () => {
    const res = await explain('not-a-mac');
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: { code: 'invalid_request', field: 'mac', message: 'mac: expected a MAC address like aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF, aabb.ccdd.eeff or aabbccddeeff, got "not-a-mac"' } });
  });

  it('answers a missing mac with 400 naming the field mac', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/boot/explain' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'invalid_request', field: 'mac' });
  });

  it('needs the operator token when one is set', async () => {
    const locked = resources.add(await buildTestApp({ apiToken: 'explain-token' }), (a) => a.close());
    const res = await locked.app.inject({ method: 'GET', url: '/api/boot/explain?mac=aa:bb:cc:dd:ee:03' });
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe('unauthorized');
  });

  it('is in the OpenAPI document under the boot tag, with its query and response', async () => {
    const doc = (await t.app.inject({ method: 'GET', url: '/docs/json' })).json();
    const op = doc.paths['/api/boot/explain'].get;
    expect(op.tags).toEqual(['boot']);
    expect(op.parameters).toEqual([expect.objectContaining({ name: 'mac', in: 'query', required: true })]);
    expect(Object.keys(op.responses['200'].content['application/json'].schema.properties)).toEqual(['mac', 'action', 'reason', 'host', 'rebuild', 'image', 'chain']);
  });
});
