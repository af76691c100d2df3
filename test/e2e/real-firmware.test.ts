// Real firmware against the real service: QEMU (software emulation) boots SeaBIOS with its iPXE ROM, and OVMF with
// its own PXE chainloading ipxe.efi over TFTP, on a LAN inside network namespaces this test creates. A plain DHCP
// server plays the LAN router; the service runs in the LAN namespace with pxe.enabled, so its own supervised
// dnsmasq answers as proxy-DHCP. The boot image is prepared by the service from an uploaded Proxmox-like ISO that
// carries a real kernel (Debian's cloud kernel) and an initramfs whose /init reports on ttyS0 and powers off. Both
// VMs must request /ipxe/<their MAC>, download the image's files as the script says, and run that /init with the
// script's command line and the ISO as /proxmox.iso.
//
// pxe.tftp_root is Debian trixie's ipxe package (helpers/ipxe-build.ts), not bookworm's 1.0.0+git-20190125 from
// /usr/lib/ipxe: the script's kernel line names no initrd= (the installer copies kernel parameters into the installed
// system), and on UEFI iPXE starts the kernel through its EFI stub, which the 2019 build hands no initrd at all: the
// kernel finds no initramfs, never runs /init, and /proxmox.iso never exists (the previous version of this case
// pinned that with a 20 s wait; not kept). Builds since 2023 (iPXE PR #895) serve every initrd, proxmox.iso as a
// cpio entry of that name, on the Linux initrd device path, which kernels >= 5.7 load with no initrd= argument. An
// install server on bookworm therefore needs a newer ipxe.efi for UEFI hosts. BIOS is unaffected: the ROM's bzImage
// loader places the initrds itself.
import { copyFileSync, chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { bootKernel, parseInitReport, writeMarkerInitramfs } from '../helpers/boot-kernel';
import { trixieIpxe, trixieIpxeDeb } from '../helpers/ipxe-build';
import { bootVm, createPxeLab, type PxeLab } from '../helpers/pxe-lab';
import { startService, stopService, type ServiceProcess } from '../helpers/service-process';
import { buildSyntheticIso } from '../helpers/synthetic-iso';
import { tempDir } from '../helpers/temp-dir';
import { testPasswordHash } from '../helpers/test-app';
import { testFingerprint } from '../helpers/test-worker';

let lab: PxeLab;
let service: ServiceProcess;
let dir: ReturnType<typeof tempDir>;
const api = 'http://10.78.0.1:8080';
const marker = `provisioning-e2e-init-${randomBytes(4).toString('hex')}`; // what the initramfs's /init prints
let preparedIsoBytes: number;
let preparedFiles: string[]; // the request paths of the prepared image's kernel, initrd and ISO
let tftpRoot: string; // trixie's iPXE builds, as pxe.tftp_root

/** Calls the service's API from inside the LAN namespace. */
function call(method: string, path: string, body?: unknown, upload?: string): { status: number; json: Record<string, unknown> } {
  const data = upload
    ? ['-H', 'content-type: application/octet-stream', '--data-binary', `@${upload}`]
    : body
      ? ['-H', 'content-type: application/json', '-d', JSON.stringify(body)]
      : [];
  const out = lab.run('curl', '-s', '-o', '-', '-w', '\n%{http_code}', '-X', method, ...data, `${api}${path}`);
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

interface PreparedImage {
  kernel_url: string;
  initrd_url: string;
  iso_url: string;
  sizes: { iso: number };
}

/** Polls GET /api/images/<name> until its preparation job has ended or `ms` passed (beforeAll has no expect.poll). */
async function preparation(name: string, ms: number): Promise<{ image: PreparedImage | null; job: { state: string } | null }> {
  for (const end = Date.now() + ms; ; await sleep(500)) {
    const body = call('GET', `/api/images/${name}`).json as Awaited<ReturnType<typeof preparation>>;
    if (['ready', 'failed'].includes(body.job?.state ?? '') || Date.now() > end) return body;
  }
}

beforeAll(async () => {
  if (!existsSync(resolve('dist/src/main.js'))) expect(spawnSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' }).status).toBe(0);
  dir = tempDir();
  chmodSync(dir.path, 0o755); // dnsmasq reads its hosts dir as nobody
  const kernel = bootKernel();
  const initramfs = join(dir.path, 'marker-initramfs.cpio');
  writeMarkerInitramfs(initramfs, kernel.busybox, marker);
  const iso = buildSyntheticIso(dir.path, { kernel: kernel.kernel, initrd: initramfs });
  // dnsmasq serves TFTP as nobody: a copy in our world-readable folder, since the checkout (the cache's home) may sit
  // under a private one (a clone in mktemp -d), where dnsmasq could not read it and would not start.
  const cached = await trixieIpxe();
  tftpRoot = join(dir.path, 'tftp');
  mkdirSync(tftpRoot, { mode: 0o755 });
  for (const f of readdirSync(cached).filter((n) => n.endsWith('.efi') || n.endsWith('.kpxe'))) copyFileSync(join(cached, f), join(tftpRoot, f));
  writeFileSync(join(dir.path, 'server-types.yaml'), readFileSync(resolve('deploy/server-types.example.yaml')));
  writeFileSync(
    join(dir.path, 'provisioning.yaml'),
    stringify({
      data_dir: './data',
      server: { listen: '0.0.0.0:8080', public_url: api },
      pxe: { enabled: true, interface: 'br0', subnet: '10.78.0.0/24', tftp_root: tftpRoot },
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

  // Prepared as an operator would: the ISO uploaded to the API, then the job watched until it ends.
  expect(call('POST', '/api/images?name=pve-test', undefined, iso.path).status).toBe(202);
  const prepared = await preparation('pve-test', 60_000);
  expect(prepared.job).toMatchObject({ state: 'ready', error: null });
  const image = prepared.image!;
  preparedIsoBytes = image.sizes.iso;
  preparedFiles = [image.kernel_url, image.initrd_url, image.iso_url].map((u) => new URL(u).pathname);
  expect(preparedFiles.slice(0, 2)).toEqual(['/images/pve-test/vmlinuz', '/images/pve-test/initrd.img']);
}, 180_000);

afterAll(async () => {
  if (service) await stopService(service);
  await lab?.remove();
  dir?.remove();
});

describe.each([
  ['BIOS (SeaBIOS + iPXE option ROM)', 'bios', '52:54:00:12:34:56', 'pve-bios'],
  ['UEFI (OVMF PXE → TFTP trixie\'s ipxe.efi → iPXE)', 'uefi', '52:54:00:12:34:57', 'pve-uefi'],
] as const)('%s', (_name, firmware, mac, hostname) => {
  it('requests /ipxe/<its MAC> through our proxy-DHCP and runs the prepared image with the script\'s command line', async () => {
    const host = call('POST', '/api/hosts', { hostname, mac, server_type: 'minisforum-um790' });
    expect(host.status).toBe(201);
    const id = host.json.id as number;
    expect(call('POST', `/api/hosts/${id}/rebuild`).status).toBe(202);
    await expect.poll(() => call('GET', `/api/hosts/${id}`).json.state, { timeout: 30_000 }).toBe('pxe_ready');

    const vars = join(dir.path, `${firmware}-vars.fd`);
    copyFileSync('/usr/share/OVMF/OVMF_VARS_4M.fd', vars);
    const vm = bootVm(lab, firmware, mac, vars);
    const done = new RegExp(`${marker} done\\r?$`, 'm');
    try {
      const hexhyp = mac.replace(/:/g, '-');
      await expect.poll(() => requested(), { timeout: 150_000, interval: 500 }).toContain(`/ipxe/${hexhyp}`);
      await expect.poll(() => requested(), { timeout: 60_000, interval: 500 }).toEqual(expect.arrayContaining(preparedFiles));
      await vm.waitForSerial(done, 60_000);
      if (firmware === 'uefi') {
        // OVMF chainloaded trixie's ipxe.efi from pxe.tftp_root, and that iPXE ran the script.
        expect(service.output.some((l) => l.includes(`sent ${join(tftpRoot, 'ipxe.efi')} to `))).toBe(true);
        expect(vm.serial()).toContain(`iPXE ${trixieIpxeDeb.version}`); // the banner, colour escapes around it
      }
      // The kernel ran /init from our gzip initrd with the script's command line, and the ISO is /proxmox.iso.
      const report = parseInitReport(vm.serial(), marker);
      expect(report.cmdline).toContain('proxmox-start-auto-installer');
      expect(report.isoBytes).toBe(preparedIsoBytes);
      expect(call('GET', `/api/hosts/${id}`).json.state).toBe('pxe_booted');
    } finally {
      vm.kill();
    }
    const cancel = call('POST', `/api/hosts/${id}/rebuild/cancel`);
    expect(cancel.status).toBe(202);
    await expect.poll(() => call('GET', `/api/hosts/${id}`).json.state, { timeout: 30_000 }).toBe('failed');
  }, 240_000);
});
