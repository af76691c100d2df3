// The Dockerfile's steps without Docker: the `make build` output with production dependencies only
// (`npm prune --omit=dev`, as the image does), started with the example config; /readyz must answer 200.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { parseDocument } from 'yaml';
import { freePort } from '../setup/temporal-dev-server';
import { startService, stopService, type ServiceProcess } from '../helpers/service-process';
import { tempDir } from '../helpers/temp-dir';

const dir = tempDir('provisioning-bundle-');
let service: ServiceProcess | undefined;
afterAll(async () => {
  if (service) await stopService(service);
  dir.remove();
});

describe('production bundle', () => {
  it('starts from dist/ with production dependencies only and reports ready', async () => {
    if (!existsSync(resolve('dist/src/main.js'))) expect(spawnSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' }).status).toBe(0);
    const app = join(dir.path, 'app');
    for (const part of ['dist', 'deploy', 'package.json', 'package-lock.json', 'node_modules']) cpSync(resolve(part), join(app, part), { recursive: true, verbatimSymlinks: true });
    execFileSync('npm', ['prune', '--omit=dev', '--offline', '--no-audit', '--no-fund'], { cwd: app, stdio: 'pipe' });
    expect(existsSync(join(app, 'node_modules/vitest'))).toBe(false);
    expect(existsSync(join(app, 'node_modules/typescript'))).toBe(false);
    expect(existsSync(join(app, 'node_modules/@temporalio/worker'))).toBe(true);

    const [http, grpc, ui] = [await freePort(), await freePort(), await freePort()];
    const doc = parseDocument(readFileSync(resolve('deploy/provisioning.example.yaml'), 'utf8'));
    doc.setIn(['server', 'listen'], `127.0.0.1:${http}`);
    doc.setIn(['temporal', 'dev_server', 'port'], grpc);
    doc.setIn(['temporal', 'dev_server', 'ui_port'], ui);
    const config = join(dir.path, 'provisioning.yaml');
    writeFileSync(config, doc.toString());

    // As in the image: the entry point from /app, data in PROVISIONING_DATA_DIR, the CLI from TEMPORAL_CLI.
    service = startService(['--config', config], { entry: join(app, 'dist/src/main.js'), env: { PROVISIONING_DATA_DIR: join(dir.path, 'data'), TEMPORAL_CLI: inject('temporalCli'), NODE_ENV: 'production' } });
    await service.waitFor(/Temporal Web UI:/, 90_000);
    const ready = await fetch(`http://127.0.0.1:${http}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { database: 'ok', temporal: 'ok', worker: 'ok' } });
    expect((await fetch(`http://127.0.0.1:${http}/healthz`)).status).toBe(200);
    expect(existsSync(join(dir.path, 'data/provisioning.db'))).toBe(true);

    await stopService(service);
    expect(await service.exit).toEqual({ code: 0, signal: null });
  }, 180_000);
});
