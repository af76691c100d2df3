// The Setup checklist: GET /api/setup and the /setup page, from a real config file and a real TCP probe of the
// cluster member (a loopback listener, or a closed port). Real: config loader, Fastify, sockets.
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config';
import { checkSetup, missingForRebuild } from '../../src/config/setup-checks';
import { Resources } from '../helpers/release';
import { tempDir } from '../helpers/temp-dir';
import { buildTestApp, testPasswordHash } from '../helpers/test-app';
import { testFingerprint } from '../helpers/test-worker';

const resources = new Resources();
afterEach(() => resources.releaseAll());

function configFile(lines: string[]) {
  const dir = resources.add(tempDir(), async (d) => d.remove());
  const file = join(dir.path, 'provisioning.yaml');
  writeFileSync(file, ['data_dir: ./data', ...lines].join('\n'));
  return loadConfig(file, {});
}

async function listening(): Promise<number> {
  const server = createServer((s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  resources.add(server, (s) => new Promise<void>((r) => s.close(() => r())));
  return (server.address() as { port: number }).port;
}

describe('setup', () => {
  it('lists what a new install lacks, with the key, an example and where to set it', async () => {
    const config = configFile([]);
    const t = resources.add(await buildTestApp({ setup: () => checkSetup(config, []) }), (a) => a.close());
    const res = await t.app.inject({ method: 'GET', url: '/api/setup' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.ready).toBe(false);
    expect(body.items.map((i: { id: string; ok: boolean; required: boolean }) => [i.id, i.ok, i.required])).toEqual([
      ['root_password_hash', false, true],
      ['existing_node', false, true],
      ['join_fingerprint', false, true],
      ['join_password', false, true],
      ['cluster_reachable', false, false],
      ['boot_image', false, true],
      ['pxe', false, false],
    ]);
    expect(body.items[0]).toEqual({
      id: 'root_password_hash',
      title: 'Root password of the installed system',
      required: true,
      ok: false,
      detail: 'empty: the installer needs a root password hash',
      key: 'credentials.root_password_hash',
      example: '$6$…  (make one with: mkpasswd -m sha-512)',
      where: config.file,
    });
    expect(body.items[3].where).toBe(`the environment variable PROVISIONING_JOIN_PASSWORD (preferred), or ${config.file}`);
    expect(body.items[4].detail).toBe('not checked: proxmox.existing_node is empty');

    const page = await t.app.inject({ method: 'GET', url: '/setup' });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('5 of the required items are missing.');
    expect(page.body).toContain('Set <code>credentials.root_password_hash</code>, for example <code>$6$…  (make one with: mkpasswd -m sha-512)</code>');
    expect(page.body).toContain('<a href="/images">the Images page</a>');
    // No boot image yet: the form that prepares one is right there.
    expect(page.body).toContain('<form id="prepare-image" method="post" action="/api/images" novalidate>');
  });

  it('is ready when everything required is set, and says whether the cluster member answers', async () => {
    const port = await listening();
    const lines = (sshPort: number) => [
      'credentials:',
      `  root_password_hash: '${testPasswordHash}'`,
      'proxmox:',
      '  existing_node: 127.0.0.1',
      `  join_fingerprint: '${testFingerprint}'`,
      '  join_password: secret-pw',
      `  ssh_port: ${sshPort}`,
    ];
    const up = await checkSetup(configFile(lines(port)), ['pve-9.1-1']);
    expect(up.every((i) => i.ok || !i.required)).toBe(true);
    expect(up.find((i) => i.id === 'cluster_reachable')).toMatchObject({ ok: true, detail: `127.0.0.1 accepts connections on port ${port}` });
    expect(up.find((i) => i.id === 'boot_image')).toMatchObject({ ok: true, detail: 'pve-9.1-1' });
    expect(JSON.stringify(up)).not.toContain('secret-pw');

    await resources.releaseAll(); // the listener goes away: nothing answers on that port now
    const down = await checkSetup(configFile(lines(port)), ['pve-9.1-1']);
    expect(down.find((i) => i.id === 'cluster_reachable')).toMatchObject({ ok: false, detail: `127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}` });
  });

  it('counts only images prepared for the answer URL of now: with every image stale, a rebuild is refused and says why', async () => {
    const config = configFile([]);
    const dir = config.images.dir;
    const oneStale = await checkSetup(config, ['pve-9.1-1', 'pve-9.2-1'], undefined, ['pve-9.1-1']);
    expect(oneStale.find((i) => i.id === 'boot_image')).toMatchObject({
      ok: true,
      label: `a boot image in ${dir}`,
      detail: 'pve-9.1-1, pve-9.2-1; stale (prepared for another answer URL or certificate, so their installers cannot fetch an answer): pve-9.1-1: prepare it again on the Images page',
    });
    const allStale = await checkSetup(config, ['pve-9.1-1'], undefined, ['pve-9.1-1']);
    expect(allStale.find((i) => i.id === 'boot_image')?.ok).toBe(false);
    expect(missingForRebuild(allStale).map((i) => i.label)).toContain('a boot image prepared for the answer URL and certificate of now (pve-9.1-1: prepare again on the Images page)');
  });

  it('with PXE on, says whether the ipxe.efi UEFI hosts chainload can start the installer', async () => {
    const tftp = resources.add(tempDir(), async (d) => d.remove());
    const pxe = ['pxe:', '  enabled: true', '  interface: br0', '  subnet: 10.78.0.0/24', `  tftp_root: ${tftp.path}`];
    writeFileSync(join(tftp.path, 'ipxe.efi'), Buffer.from('MZ\u0000iPXE\u00001.0.0+git-20190125.36a4c85-5.1\u0000', 'latin1'));
    const old = (await checkSetup(configFile(pxe), [])).find((i) => i.id === 'uefi_ipxe');
    expect(old).toMatchObject({ ok: false, required: false, key: 'pxe.tftp_root' });
    expect(old?.detail).toContain(`${join(tftp.path, 'ipxe.efi')} is iPXE 1.0.0+git-20190125.36a4c85-5.1, which boots UEFI hosts\u2019 kernels without their initrd`);
    writeFileSync(join(tftp.path, 'ipxe.efi'), Buffer.from('MZ\u0000iPXE\u00001.21.1+git20250501.dad20602+dfsg-1\u0000', 'latin1'));
    expect((await checkSetup(configFile(pxe), [])).find((i) => i.id === 'uefi_ipxe')).toMatchObject({ ok: true, detail: `${join(tftp.path, 'ipxe.efi')} hands UEFI kernels their initrds` });
    expect((await checkSetup(configFile([]), [])).some((i) => i.id === 'uefi_ipxe')).toBe(false); // PXE off: not ours to serve
  });
});
