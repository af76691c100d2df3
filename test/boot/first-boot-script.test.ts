// Runs the served first-boot script for real with sh, against a local HTTP endpoint that records what it receives.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { renderFirstBootScript } from '../../src/boot/first-boot-script';
import { tempDir } from '../helpers/temp-dir';

let server: Server | undefined;
let dir: ReturnType<typeof tempDir> | undefined;
afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
  dir?.remove();
  dir = undefined;
});

/** A phone-home endpoint answering `status`; records every body. */
async function endpoint(status: number): Promise<{ url: string; bodies: Array<{ url: string; type: string | undefined; body: unknown }> }> {
  const bodies: Array<{ url: string; type: string | undefined; body: unknown }> = [];
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push({ url: req.url ?? '', type: req.headers['content-type'], body: JSON.parse(Buffer.concat(chunks).toString() || 'null') });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/api/hosts/7/phone-home?token=tok-123`, bodies };
}

function run(script: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  dir = dir ?? tempDir();
  const file = join(dir.path, 'proxmox-first-boot');
  writeFileSync(file, script, { mode: 0o700 });
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', [file], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b));
    child.stderr.on('data', (b: Buffer) => (stderr += b));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

function expectedHardwareId(): string {
  for (const f of ['/sys/class/dmi/id/product_uuid', '/etc/machine-id']) {
    try {
      return readFileSync(f, 'utf8').replace(/[\s]/g, '');
    } catch {
      continue;
    }
  }
  return '';
}

describe('first-boot script', () => {
  it('phones home once with the address it uses to reach the server and a hardware id, then exits 0', async () => {
    const { url, bodies } = await endpoint(200);
    const result = await run(renderFirstBootScript({ hostname: 'pve-ms-03', phoneHomeUrl: url, serverHost: '127.0.0.1', deadlineSeconds: 30 }), { PATH: process.env.PATH! });
    expect(result).toMatchObject({ code: 0, stdout: 'provisioning: phoned home as 127.0.0.1\n' });
    expect(bodies).toEqual([{ url: '/api/hosts/7/phone-home?token=tok-123', type: 'application/json', body: { ip: '127.0.0.1', hardware_id: expectedHardwareId() } }]);
  });

  it('uses wget when curl is not installed', async () => {
    const { url, bodies } = await endpoint(200);
    dir = tempDir();
    const bin = join(dir.path, 'bin');
    mkdirSync(bin);
    for (const tool of ['ip', 'sed', 'head', 'tr', 'date', 'sleep', 'getent', 'awk', 'wget', 'cat']) {
      const found = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'].map((d) => join(d, tool)).find(existsSync);
      if (found) symlinkSync(found, join(bin, tool));
    }
    const result = await run(renderFirstBootScript({ hostname: 'pve-ms-03', phoneHomeUrl: url, serverHost: '127.0.0.1', deadlineSeconds: 30 }), { PATH: bin });
    expect(result.code).toBe(0);
    expect(bodies.map((b) => b.body)).toEqual([{ ip: '127.0.0.1', hardware_id: expectedHardwareId() }]);
  });

  it('retries with backoff and exits 1 when it cannot phone home in time, so systemd runs it again next boot', async () => {
    const { url, bodies } = await endpoint(503);
    const result = await run(renderFirstBootScript({ hostname: 'pve-ms-03', phoneHomeUrl: url, serverHost: '127.0.0.1', deadlineSeconds: 900 }), {
      PATH: process.env.PATH!,
      PHONE_HOME_DEADLINE: '5',
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('provisioning: could not phone home within 5s; will try again at the next boot');
    expect(bodies.length).toBe(2); // at 0 s and after 2 s; the next try (4 s later) would pass the deadline
  }, 20_000);
});
