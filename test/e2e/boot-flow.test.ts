// A simulated host walks the whole HTTP order of a real install (proxmox.md §9) against the real gateway on a
// loopback listener: iPXE script → answer file → first-boot script (during the install) → installer webhook →
// first-boot script run for real with sh → phone-home; the rebuild workflow (real worker) joins it to the cluster
// on the sshd stand-in and it ends ready. Real: Temporal, worker, SQLite, Fastify, sshd, sh/curl.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { renderLocalBootScript } from '../../src/boot/ipxe-script';
import { rebuildWorkflowId } from '../../src/domain/rebuild-ids';
import { freePort } from '../setup/temporal-dev-server';
import { pxeAndInstall, reportInstalled, runFirstBoot } from '../helpers/simulated-host';
import { Resources } from '../helpers/release';
import { startStandInNode } from '../helpers/sshd-node';
import { buildTestApp, shortTimeouts } from '../helpers/test-app';
import { startTestWorker, testFingerprint } from '../helpers/test-worker';
import { waitForState } from '../helpers/wait-for';

const resources = new Resources();
afterEach(() => resources.releaseAll());
const password = 'peer-root-pw-bootflow';

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

    // 1-3. Firmware, installer and its downloads: iPXE script (with ${mac:hexhyp}), kernel/initrd/ISO, the answer
    // (every NIC, upper-case MACs), the first-boot script (still in the installer), root-ssh-keys authorised.
    const trace = await pxeAndInstall(publicUrl, mac, node);
    expect([...trace.ipxeScript.matchAll(/^(?:kernel|initrd) (\S+)/gm)].map((m) => m[1])).toEqual([
      `${publicUrl}/images/pve-9.1/vmlinuz`, `${publicUrl}/images/pve-9.1/initrd.img`, `${publicUrl}/images/pve-9.1/proxmox-ve_9.1-auto-from-http.iso`,
    ]);
    await waitForState(t.operations, id, 'installing');

    // 4. The post-installation webhook, then the reboot: PXE now says "local disk".
    expect(await reportInstalled(trace, mac, node)).toBe(200);
    await waitForState(t.operations, id, 'installed');
    await expect.poll(() => t.pxeAllowList.list().length).toBe(0);
    expect(await (await fetch(`${publicUrl}/ipxe/${mac}`)).text()).toBe(renderLocalBootScript());

    // 5. First boot: systemd runs the script, which phones home.
    expect(await runFirstBoot(trace, t.dir)).toEqual({ code: 0, output: 'provisioning: phoned home as 127.0.0.1\n' });

    // 6. The workflow joins the node over SSH and finishes.
    const result = await t.client.workflow.getHandle(rebuildWorkflowId(id)).result();
    expect(result).toEqual({ hostId: id, state: 'ready', failure: null });
    expect(t.hosts.get(id)).toMatchObject({ state: 'ready', ipAddress: '127.0.0.1', machineId: '3f2a0c9d8e7b6a5f4e3d2c1b0a998877' });
    expect(node.pvecmArgs()).toEqual([`add 192.0.2.10 --fingerprint ${testFingerprint}`]);
    expect(node.authorizedKeys().join('\n')).not.toContain(trace.answer.global['root-ssh-keys'][0]);
    expect(t.keys.list()).toEqual([]);

    // Afterwards the old tokens are worthless.
    const late = await fetch(trace.answer['post-installation-webhook'].url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(late.status).toBe(409);
  }, 90_000);
});
