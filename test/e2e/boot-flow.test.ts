// A simulated host walks the whole HTTP order of a real install (proxmox.md §9) against the real gateway on a
// loopback listener: iPXE script → answer file → first-boot script (during the install) → installer webhook →
// first-boot script run for real with sh → phone-home; the rebuild workflow (real worker) joins it to the cluster
// on the sshd stand-in and it ends ready. Real: Temporal, worker, SQLite, Fastify, sshd, sh/curl.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from '@iarna/toml';
import { afterEach, describe, expect, it } from 'vitest';
import { renderLocalBootScript } from '../../src/boot/ipxe-script';
import { rebuildWorkflowId } from '../../src/temporal/rebuild-client';
import { freePort } from '../setup/temporal-dev-server';
import { answerRequest, installedWebhook } from '../helpers/installer-payloads';
import { Resources } from '../helpers/release';
import { startStandInNode } from '../helpers/sshd-node';
import { buildTestApp, shortTimeouts } from '../helpers/test-app';
import { startTestWorker, testFingerprint } from '../helpers/test-worker';
import { waitForState } from '../helpers/wait-for';

const resources = new Resources();
afterEach(() => resources.releaseAll());
const password = 'peer-root-pw-bootflow';

function runSh(script: string, dir: string): Promise<{ code: number | null; output: string }> {
  const file = join(dir, 'proxmox-first-boot');
  writeFileSync(file, script, { mode: 0o700 });
  return new Promise((resolve) => {
    const child = spawn(file, [], { env: { PATH: process.env.PATH! } }); // systemd execs it directly: needs its shebang
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b));
    child.stderr.on('data', (b: Buffer) => (output += b));
    child.on('exit', (code) => resolve({ code, output }));
  });
}

describe('boot flow of a simulated host', () => {
  it('goes from rebuild to ready through every boot endpoint, and boots its disk afterwards', async () => {
    const port = await freePort();
    const publicUrl = `http://127.0.0.1:${port}`;
    const t = resources.add(await buildTestApp({ publicUrl, timeouts: { ...shortTimeouts, join: '30s' } }), (a) => a.close());
    const node = resources.add(await startStandInNode(password), (n) => n.stop());
    resources.add(await startTestWorker(t, { join: { password, sshPort: node.port, layout: node.layout, existingNode: '192.0.2.10', fingerprint: testFingerprint } }), (w) => w.stop());
    mkdirSync(join(t.images.dir, 'pve-9.1'));
    for (const f of ['vmlinuz', 'initrd.img', 'proxmox-ve_9.1-auto-from-http.iso']) writeFileSync(join(t.images.dir, 'pve-9.1', f), `contents of ${f}`);
    await t.app.listen({ host: '127.0.0.1', port });

    const mac = 'b4:2e:99:ac:ad:b4';
    const id: number = (await t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname: 'pve-ms-03', mac, server_type: 'minisforum-ms-01' } })).json().id;
    expect((await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild` })).statusCode).toBe(202);
    await waitForState(t.operations, id, 'pxe_ready');

    // 1. Firmware: iPXE asks for its script (here with ${mac:hexhyp}) and loads what it says.
    const script = await (await fetch(`${publicUrl}/ipxe/b4-2e-99-ac-ad-b4`)).text();
    const urls = [...script.matchAll(/^(?:kernel|initrd) (\S+)/gm)].map((m) => m[1]!);
    expect(urls).toEqual([`${publicUrl}/images/pve-9.1/vmlinuz`, `${publicUrl}/images/pve-9.1/initrd.img`, `${publicUrl}/images/pve-9.1/proxmox-ve_9.1-auto-from-http.iso`]);
    for (const url of urls) expect((await fetch(url)).status).toBe(200);
    await waitForState(t.operations, id, 'pxe_booted');

    // 2. The installer fetches its answer, identifying itself by every NIC (upper-case MACs, 9.2+).
    const answerRes = await fetch(`${publicUrl}/api/boot/answer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', accept: 'application/json, application/toml;q=0.5' },
      body: JSON.stringify(answerRequest(['58:47:ca:00:00:01', mac, '58:47:ca:00:00:02'])),
    });
    expect(answerRes.status).toBe(200);
    const answer = parse(await answerRes.text()) as { global: { 'root-ssh-keys': string[] }; 'post-installation-webhook': { url: string }; 'first-boot': { url: string } };
    await waitForState(t.operations, id, 'installing');

    // 3. Still in the installer: it downloads the first-boot script and writes root-ssh-keys to authorized_keys.
    const firstBoot = await fetch(answer['first-boot'].url);
    expect(firstBoot.status).toBe(200);
    const firstBootScript = await firstBoot.text();
    node.authorize(answer.global['root-ssh-keys'][0]!);

    // 4. The post-installation webhook, then the reboot: PXE now says "local disk".
    const webhook = await fetch(answer['post-installation-webhook'].url, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify(installedWebhook({ mac, address: '127.0.0.1/8', hostKeys: { ed25519: node.hostKey }, machineId: '3f2a0c9d8e7b6a5f4e3d2c1b0a998877' })),
    });
    expect(webhook.status).toBe(200);
    await waitForState(t.operations, id, 'installed');
    await expect.poll(() => t.pxeAllowList.list().length).toBe(0);
    expect(await (await fetch(`${publicUrl}/ipxe/${mac}`)).text()).toBe(renderLocalBootScript());

    // 5. First boot: systemd runs the script, which phones home.
    const run = await runSh(firstBootScript, t.dir);
    expect(run).toEqual({ code: 0, output: 'provisioning: phoned home as 127.0.0.1\n' });

    // 6. The workflow joins the node over SSH and finishes.
    const result = await t.client.workflow.getHandle(rebuildWorkflowId(id)).result();
    expect(result).toEqual({ hostId: id, state: 'ready', failure: null });
    expect(t.hosts.get(id)).toMatchObject({ state: 'ready', ipAddress: '127.0.0.1', machineId: '3f2a0c9d8e7b6a5f4e3d2c1b0a998877' });
    expect(node.pvecmArgs()).toEqual([`add 192.0.2.10 --fingerprint ${testFingerprint}`]);
    expect(node.authorizedKeys().join('\n')).not.toContain(answer.global['root-ssh-keys'][0]);
    expect(t.keys.list()).toEqual([]);

    // Afterwards the old tokens are worthless.
    const late = await fetch(answer['post-installation-webhook'].url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(late.status).toBe(409);
  }, 90_000);
});
