// The whole service from its entry point (`make run` runs `node dist/src/main.js --config …`), as a child
// process with the example config (ports and data dir moved to a temp dir). Real: everything, including its
// own embedded Temporal dev server.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { freePort } from '../setup/temporal-dev-server';
import { tempDir } from '../helpers/temp-dir';
import { startService, type ServiceProcess } from '../helpers/service-process';

const root = resolve('.');
const entry = join(root, 'dist/src/main.js');


beforeAll(() => {
  const stale = !existsSync(entry);
  if (stale) {
    const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
    expect(build.status).toBe(0);
  }
}, 120_000);

/** Processes whose command line mentions `needle` (to prove no orphan is left). */
function processesMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

let running: ServiceProcess | undefined;
let dir: { path: string; remove: () => void } | undefined;
afterEach(async () => {
  if (running && running.child.exitCode === null && running.child.signalCode === null) {
    running.child.kill('SIGKILL');
    await running.exit;
  }
  dir?.remove();
});

describe('provisioning entry point', () => {
  it('starts with the example config, serves the API and the Web UI, prints the URLs and stops cleanly on SIGTERM', async () => {
    dir = tempDir();
    const [http, grpc, ui] = [await freePort(), await freePort(), await freePort()];
    const doc = parseDocument(readFileSync(join(root, 'deploy/provisioning.example.yaml'), 'utf8'));
    doc.set('data_dir', join(dir.path, 'data'));
    doc.setIn(['server', 'listen'], `127.0.0.1:${http}`);
    doc.setIn(['temporal', 'dev_server', 'port'], grpc);
    doc.setIn(['temporal', 'dev_server', 'ui_port'], ui);
    const config = join(dir.path, 'provisioning.yaml');
    writeFileSync(config, doc.toString());

    running = startService(['--config', config]);
    await running.waitFor(/Temporal Web UI:/, 90_000);
    const printed = running.output.join('\n');
    expect(printed).toContain(`Dashboard:        http://127.0.0.1:${http}/`);
    expect(printed).toContain(`API:              http://127.0.0.1:${http}/api`);
    expect(printed).toContain(`Temporal Web UI:  http://127.0.0.1:${ui}`);
    expect(printed).toMatch(/created .*server-types\.yaml from deploy\/server-types\.example\.yaml/);

    const hosts = await fetch(`http://127.0.0.1:${http}/api/hosts`);
    expect(hosts.status).toBe(200);
    expect(await hosts.json()).toEqual({ hosts: [] });
    const types = (await (await fetch(`http://127.0.0.1:${http}/api/server-types`)).json()) as { server_types: Array<{ key: string }> };
    expect(types.server_types.map((t) => t.key)).toEqual(['minisforum-ms-01', 'minisforum-um790']);
    const dashboard = await fetch(`http://127.0.0.1:${http}/`);
    expect(dashboard.status).toBe(200);
    expect(await dashboard.text()).toContain('No hosts yet.');
    const webUi = await fetch(`http://127.0.0.1:${ui}/`);
    expect(webUi.status).toBe(200);
    expect(processesMentioning(join(dir.path, 'data/temporal.db')).length).toBe(1);

    running.child.kill('SIGTERM');
    const exit = await running.exit;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(running.output.join('\n')).toContain('"msg":"stopped"');
    expect(processesMentioning(join(dir.path, 'data/temporal.db'))).toEqual([]);
    await expect(fetch(`http://127.0.0.1:${http}/api/hosts`)).rejects.toThrow();
  }, 120_000);

  it('refuses to start on an invalid config, naming the file and key, and starts nothing', async () => {
    dir = tempDir();
    const config = join(dir.path, 'provisioning.yaml');
    copyFileSync(join(root, 'deploy/provisioning.example.yaml'), config);
    writeFileSync(config, readFileSync(config, 'utf8').replace('subnet: "192.168.1.0/24"', 'subnet: "192.168.1"').replace('data_dir: ./data', `data_dir: ${join(dir.path, 'data')}`));
    running = startService(['--config', config]);
    const exit = await running.exit;
    expect(exit.code).toBe(2);
    expect(running.output).toContain(`${config}: pxe.subnet: expected a CIDR like 192.168.1.0/24, got "192.168.1"`);
    expect(existsSync(join(dir.path, 'data'))).toBe(false);
  });
});
