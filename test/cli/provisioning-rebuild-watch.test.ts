// `provisioning rebuild HOST --watch` as an operator runs it: the built CLI as a child process follows a real rebuild
// through GET /api/events while a simulated host walks the install order (iPXE script, answer, webhook, first boot);
// it exits 0 when the host is ready and 1 naming the stage, reason and message when the rebuild fails.
// Real: the built CLI, Temporal, worker, SQLite, Fastify, sshd (the stand-in node), sh/curl.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RebuildTimeouts } from '../../src/domain/rebuild';
import { freePort } from '../setup/temporal-dev-server';
import { pxeAndInstall, reportInstalled, runFirstBoot } from '../helpers/simulated-host';
import { Resources } from '../helpers/release';
import { startStandInNode, type StandInNode } from '../helpers/sshd-node';
import { buildTestApp, shortTimeouts, type TestApp } from '../helpers/test-app';
import { startTestWorker, testFingerprint } from '../helpers/test-worker';

const bin = resolve('bin/provisioning.js');
const password = 'peer-root-pw-cli-watch';
const token = 'cli-watch-token-7c2e';
const resources = new Resources();
afterEach(() => resources.releaseAll());

beforeAll(() => {
  const built = resolve('dist/src/cli/provisioning.js');
  const sources = readdirSync('src/cli').map((f) => join('src/cli', f));
  if (!existsSync(built) || sources.some((s) => statSync(s).mtimeMs > statSync(built).mtimeMs)) {
    expect(spawnSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' }).status).toBe(0);
  }
}, 180_000);

async function lab(timeouts: Partial<RebuildTimeouts> = {}): Promise<{ t: TestApp; publicUrl: string; node: StandInNode }> {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const t = resources.add(await buildTestApp({ apiToken: token, publicUrl, timeouts: { ...shortTimeouts, join: '30s', ...timeouts }, streamOptions: { pollMs: 10 } }), (a) => a.close());
  const node = resources.add(await startStandInNode(password), (n) => n.stop());
  resources.add(await startTestWorker(t, { join: { password, sshPort: node.port, layout: node.layout, existingNode: '192.0.2.10', fingerprint: testFingerprint } }), (w) => w.stop());
  mkdirSync(join(t.images.dir, 'pve-9.1'));
  for (const f of ['vmlinuz', 'initrd.img', 'proxmox-ve_9.1-auto-from-http.iso']) writeFileSync(join(t.images.dir, 'pve-9.1', f), `contents of ${f}`);
  await t.app.listen({ host: '127.0.0.1', port });
  return { t, publicUrl, node };
}

interface CliProcess {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  exit: Promise<number | null>;
  /** Resolves with the first stdout line matching `pattern`, printed already or to come. */
  line(pattern: RegExp): Promise<string>;
}

/** Starts `provisioning …args` against `url`, its output collected line by line. */
function startCli(url: string, args: string[]): CliProcess {
  const env: NodeJS.ProcessEnv = { ...process.env, PROVISIONING_URL: url, PROVISIONING_API_TOKEN: token };
  delete env.NO_COLOR;
  delete env.FORCE_COLOR;
  const child = spawn(process.execPath, [bin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiters: Array<{ pattern: RegExp; resolve: (l: string) => void }> = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    stdout.push(l);
    for (const w of waiters.filter((w) => w.pattern.test(l))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(l);
    }
  });
  createInterface({ input: child.stderr! }).on('line', (l) => stderr.push(l));
  const exit = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
  resources.add(child, async (c) => {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await exit;
  });
  return {
    child,
    stdout,
    stderr,
    exit,
    line: (pattern) => {
      const seen = stdout.find((l) => pattern.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((r, reject) => {
        waiters.push({ pattern, resolve: r });
        void exit.then((code) => reject(new Error(`provisioning exited (${code}) before printing ${pattern}; stdout:\n${stdout.join('\n')}\nstderr:\n${stderr.join('\n')}`)));
      });
    },
  };
}

async function register(t: TestApp, hostname: string, mac: string): Promise<number> {
  return (await t.app.inject({ method: 'POST', url: '/api/hosts', headers: { authorization: `Bearer ${token}` }, payload: { hostname, mac, server_type: 'minisforum-ms-01' } })).json().id;
}

describe('provisioning rebuild --watch', () => {
  it('drives a rebuild to ready, a line per stage, and exits 0', async () => {
    const { t, publicUrl, node } = await lab();
    const mac = 'b4:2e:99:ac:c1:01';
    const id = await register(t, 'pve-cli-watch', mac);
    const cli = startCli(publicUrl, ['rebuild', 'pve-cli-watch', '--watch']);

    await cli.line(/^\d\d:\d\d:\d\d {2}pxe_ready /); // the stream was open before the rebuild started
    const trace = await pxeAndInstall(publicUrl, mac, node);
    expect(await reportInstalled(trace, mac, node)).toBe(200);
    expect((await runFirstBoot(trace, t.dir)).code).toBe(0);

    expect(await cli.exit).toBe(0);
    const operation = t.operations.listForHost(id)[0]!;
    expect(operation.status).toBe('succeeded');
    expect(cli.stdout[0]).toBe(`rebuild of pve-cli-watch started (operation ${operation.id}, workflow rebuild-${id})`);
    const stages = cli.stdout.slice(1, -1).map((l) => /^\d\d:\d\d:\d\d {2}(\S+) +(.*)$/.exec(l)?.slice(1));
    expect(stages.map((s) => s?.[0])).toEqual(['pxe_ready', 'pxe_booted', 'installing', 'installed', 'first_boot', 'joining']);
    // each line says what the host's history says of that stage
    const history = t.operations.events(operation.id).filter((e) => e.kind === 'state' && e.state !== 'ready');
    expect(stages.map((s) => s?.[1])).toEqual(history.map((e) => e.message));
    expect(cli.stdout.at(-1)).toMatch(/^pve-cli-watch is ready \(rebuild took \d+s\)$/);
    expect(cli.stderr).toEqual([]);
  }, 90_000);

  it('exits 1 naming the stage, the reason and the message of a failed rebuild, and prints the events with --json', async () => {
    const { t, publicUrl } = await lab({ pxeBoot: '1s' });
    const id = await register(t, 'pve-cli-fail', 'b4:2e:99:ac:c1:02');
    const cli = startCli(publicUrl, ['rebuild', String(id), '--watch']);
    expect(await cli.exit).toBe(1);
    expect(cli.stdout.map((l) => l.replace(/^\d\d:\d\d:\d\d {2}/, ''))).toEqual([expect.stringMatching(/^rebuild of pve-cli-fail started \(operation \d+, workflow rebuild-\d+\)$/), expect.stringMatching(/^pxe_ready {2}/)]);
    expect(cli.stderr).toEqual(['rebuild of pve-cli-fail failed at pxe_ready: stage_timeout: no PXE request from b4:2e:99:ac:c1:02 within 1s']);

    const id2 = await register(t, 'pve-cli-fail-json', 'b4:2e:99:ac:c1:03');
    const json = startCli(publicUrl, ['--json', 'rebuild', 'pve-cli-fail-json', '--watch']);
    expect(await json.exit).toBe(1);
    const lines = json.stdout.map((l) => JSON.parse(l) as Record<string, unknown>);
    const operationId = t.operations.listForHost(id2)[0]!.id;
    expect(lines[0]).toEqual({ operation_id: operationId, workflow_id: `rebuild-${id2}`, run_id: expect.any(String) });
    expect(lines.slice(1).map((e) => e.name)).toEqual(['rebuild.started', 'rebuild.stage', 'rebuild.failed']);
    expect(lines.at(-1)).toMatchObject({ host_id: id2, hostname: 'pve-cli-fail-json', state: 'failed', data: { operation_id: operationId, stage: 'pxe_ready', reason: 'stage_timeout', message: 'no PXE request from b4:2e:99:ac:c1:03 within 1s' } });
    expect(json.stderr).toEqual(['rebuild of pve-cli-fail-json failed at pxe_ready: stage_timeout: no PXE request from b4:2e:99:ac:c1:03 within 1s']);
  }, 60_000);

  it('exits 1 with the API’s message when the rebuild is refused, without waiting', async () => {
    const { t, publicUrl } = await lab();
    await register(t, 'pve-cli-busy', 'b4:2e:99:ac:c1:04');
    const first = startCli(publicUrl, ['rebuild', 'pve-cli-busy']);
    expect(await first.exit).toBe(0);
    const second = startCli(publicUrl, ['rebuild', 'pve-cli-busy', '--watch']);
    expect(await second.exit).toBe(1);
    expect(second.stdout).toEqual([]);
    expect(second.stderr).toEqual([expect.stringMatching(/^provisioning: .+ \[rebuild_in_progress, HTTP 409\]$/)]);
  }, 60_000);
});
