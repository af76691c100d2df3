// Real firmware against the real service: QEMU (software emulation) boots SeaBIOS with its iPXE ROM, and OVMF with
// its own PXE chainloading ipxe.efi over TFTP, on a LAN inside network namespaces this test creates. A plain DHCP
// server plays the LAN router; the service runs in the LAN namespace with pxe.enabled, so its own supervised
// dnsmasq answers as proxy-DHCP. Both VMs must request /ipxe/<their MAC> and then download what the script says.
import { copyFileSync, chmodSync, existsSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { bootVm, createPxeLab, type PxeLab } from '../helpers/pxe-lab';
import { startService, stopService, type ServiceProcess } from '../helpers/service-process';
import { tempDir } from '../helpers/temp-dir';
import { testPasswordHash } from '../helpers/test-app';
import { testFingerprint } from '../helpers/test-worker';

let lab: PxeLab;
let service: ServiceProcess;
let dir: ReturnType<typeof tempDir>;
const api = 'http://10.78.0.1:8080';

/** Calls the service's API from inside the LAN namespace. */
function call(method: string, path: string, body?: unknown): { status: number; json: Record<string, unknown> } {
  const out = lab.run('curl', '-s', '-o', '-', '-w', '\n%{http_code}', '-X', method, ...(body ? ['-H', 'content-type: application/json', '-d', JSON.stringify(body)] : []), `${api}${path}`);
  const lines = out.trimEnd().split('\n');
  const status = Number(lines.pop());
  return { status, json: lines.join('\n') ? JSON.parse(lines.join('\n')) : {} };
}

/** Request URLs the service logged (its request log, tokens redacted). */
function requested(): string[] {
  return service.output.flatMap((line) => {
    try {
      const entry = JSON.parse(line) as { msg?: string; req?: { url?: string } };
      return entry.msg === 'incoming request' && entry.req?.url ? [entry.req.url] : [];
    } catch {
      return [];
    }
  });
}

beforeAll(async () => {
  if (!existsSync(resolve('dist/src/main.js'))) expect(spawnSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' }).status).toBe(0);
  dir = tempDir();
  chmodSync(dir.path, 0o755); // dnsmasq reads its hosts dir as nobody
  const image = join(dir.path, 'data/images/pve-test');
  mkdirSync(image, { recursive: true });
  for (const f of ['vmlinuz', 'initrd.img', 'proxmox-ve_test.iso']) writeFileSync(join(image, f), `not really ${f}\n`);
  writeFileSync(join(dir.path, 'server-types.yaml'), readFileSync(resolve('deploy/server-types.example.yaml')));
  writeFileSync(
    join(dir.path, 'provisioning.yaml'),
    stringify({
      data_dir: './data',
      server: { listen: '0.0.0.0:8080', public_url: api },
      pxe: { enabled: true, interface: 'br0', subnet: '10.78.0.0/24' },
      proxmox: { existing_node: '10.78.0.250', join_fingerprint: testFingerprint, join_password: 'lab-password' },
      credentials: { root_password_hash: testPasswordHash },
      temporal: { dev_server: { ui_port: 8233 } },
      timeouts: { pxe_boot: '10m' },
    }),
  );
  lab = await createPxeLab();
  service = startService(['--config', join(dir.path, 'provisioning.yaml')], { prefix: lab.inLan });
  await service.waitFor(/Temporal Web UI:/, 90_000);
  await service.waitFor(/PXE proxy-DHCP running/);
}, 120_000);

afterAll(async () => {
  if (service) await stopService(service);
  await lab?.remove();
  dir?.remove();
});

describe.each([
  ['BIOS (SeaBIOS + iPXE option ROM)', 'bios', '52:54:00:12:34:56', 'pve-bios'],
  ['UEFI (OVMF PXE → TFTP ipxe.efi → iPXE)', 'uefi', '52:54:00:12:34:57', 'pve-uefi'],
] as const)('%s', (_name, firmware, mac, hostname) => {
  it('requests /ipxe/<its MAC> through our proxy-DHCP and downloads what the script tells it', async () => {
    const host = call('POST', '/api/hosts', { hostname, mac, server_type: 'minisforum-um790' });
    expect(host.status).toBe(201);
    const id = host.json.id as number;
    expect(call('POST', `/api/hosts/${id}/rebuild`).status).toBe(202);
    await expect.poll(() => call('GET', `/api/hosts/${id}`).json.state, { timeout: 30_000 }).toBe('pxe_ready');

    const vars = join(dir.path, `${firmware}-vars.fd`);
    copyFileSync('/usr/share/OVMF/OVMF_VARS_4M.fd', vars);
    const vm = bootVm(lab, firmware, mac, vars);
    try {
      const hexhyp = mac.replace(/:/g, '-');
      await expect.poll(() => requested(), { timeout: 150_000, interval: 500 }).toContain(`/ipxe/${hexhyp}`);
      await expect.poll(() => requested(), { timeout: 60_000, interval: 500 }).toContain('/images/pve-test/vmlinuz');
      expect(call('GET', `/api/hosts/${id}`).json.state).toBe('pxe_booted');
    } finally {
      vm.kill('SIGKILL');
    }
    const cancel = call('POST', `/api/hosts/${id}/rebuild/cancel`);
    expect(cancel.status).toBe(202);
    await expect.poll(() => call('GET', `/api/hosts/${id}`).json.state, { timeout: 30_000 }).toBe('failed');
  }, 240_000);
});
