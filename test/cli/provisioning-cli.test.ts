// `provisioning`, the operator's command line, as an operator runs it: the package's bin (bin/provisioning.js →
// dist/src/cli/provisioning.js) as a child process against the real gateway listening on loopback.
// Real: the built CLI, Fastify, SQLite, the Temporal client (the suite's dev server); no worker (a rebuild starts
// and waits for one).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../setup/temporal-dev-server';
import { buildTestApp, type TestApp } from '../helpers/test-app';
import { tempDir } from '../helpers/temp-dir';
import { buildSyntheticIso } from '../helpers/synthetic-iso';

const bin = resolve('bin/provisioning.js');
const token = 'cli-test-token';
let t: TestApp;
let url: string;

beforeAll(async () => {
  const built = resolve('dist/src/cli/provisioning.js');
  const sources = readdirSync('src/cli').map((f) => join('src/cli', f));
  if (!existsSync(built) || sources.some((s) => statSync(s).mtimeMs > statSync(built).mtimeMs)) {
    expect(spawnSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' }).status).toBe(0);
  }
  t = await buildTestApp({ apiToken: token });
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(t.app.server.address() as { port: number }).port}`;
}, 180_000);
afterAll(async () => t?.close());

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `provisioning …args` with the test app's URL and token in the environment (unless `env` says otherwise). */
function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  const base: NodeJS.ProcessEnv = { ...process.env, PROVISIONING_URL: url, PROVISIONING_API_TOKEN: token, NO_COLOR: undefined, FORCE_COLOR: undefined };
  const merged = Object.fromEntries(Object.entries({ ...base, ...env }).filter(([, v]) => v !== undefined)) as NodeJS.ProcessEnv;
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { env: merged, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b));
    child.stderr.on('data', (b: Buffer) => (stderr += b));
    child.once('error', reject);
    child.once('close', (code) => resolveRun({ code, stdout, stderr }));
  });
}

/** The API's answer to the same request, read in-process, to compare with what the CLI printed. */
async function api(method: 'GET' | 'POST' | 'DELETE', path: string, payload?: object) {
  const res = await t.app.inject({ method, url: path, headers: { authorization: `Bearer ${token}` }, ...(payload ? { payload } : {}) });
  return { status: res.statusCode, body: res.body === '' ? null : (res.json() as Record<string, unknown>) };
}

let macs = 0;
const nextMac = () => `02:00:00:c1:00:${(++macs).toString(16).padStart(2, '0')}`;

describe('provisioning hosts', () => {
  it('adds, lists, shows and removes a host by hostname, printing lines a person reads', async () => {
    const mac = nextMac();
    const add = await cli(['hosts', 'add', 'pve-cli-1', mac.toUpperCase().replace(/:/g, '-'), '--type', 'minisforum-ms-01']);
    expect(add).toMatchObject({ code: 0, stderr: '' });
    const id = t.hosts.list().find((h) => h.hostname === 'pve-cli-1')!.id;
    expect(add.stdout).toBe(`registered pve-cli-1 (id ${id}, ${mac}, minisforum-ms-01)\n`);

    const list = await cli(['hosts', 'list']);
    expect(list.code).toBe(0);
    const lines = list.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID +HOSTNAME +MAC +SERVER TYPE +STATE +IP +POWER$/);
    expect(lines.find((l) => l.includes('pve-cli-1'))).toMatch(new RegExp(`^${id} +pve-cli-1 +${mac} +minisforum-ms-01 +registered +- +manual$`));

    const show = await cli(['hosts', 'show', 'pve-cli-1']);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain(`hostname:    pve-cli-1\n`);
    expect(show.stdout).toContain(`mac:         ${mac}\n`);
    expect(show.stdout).toContain(`state:       registered\n`);
    expect(show.stdout).toContain(`power:       manual\n`);
    expect((await cli(['hosts', 'show', String(id)])).stdout).toBe(show.stdout);
    expect((await cli(['hosts', 'show', mac.replace(/:/g, '')])).stdout).toBe(show.stdout);

    const rm = await cli(['hosts', 'rm', 'pve-cli-1']);
    expect(rm).toEqual({ code: 0, stdout: `removed pve-cli-1 (id ${id}, ${mac}) and its history\n`, stderr: '' });
    expect(t.hosts.list().some((h) => h.id === id)).toBe(false);
  });

  it('prints the API’s own JSON with --json', async () => {
    const mac = nextMac();
    const add = await cli(['--json', 'hosts', 'add', 'pve-cli-2', mac, '--type', 'minisforum-um790', '--power', '{"method":"wol","broadcast":"192.168.1.255"}']);
    expect(add).toMatchObject({ code: 0, stderr: '' });
    const created = JSON.parse(add.stdout) as { id: number };
    expect(created).toMatchObject({ hostname: 'pve-cli-2', mac, server_type: 'minisforum-um790', state: 'registered', power: { method: 'wol', broadcast: '192.168.1.255', port: 9 } });

    const list = await cli(['hosts', 'list', '--json']);
    expect(JSON.parse(list.stdout)).toEqual((await api('GET', '/api/hosts')).body);
    const show = await cli(['hosts', 'show', 'pve-cli-2', '--json']);
    expect(JSON.parse(show.stdout)).toEqual((await api('GET', `/api/hosts/${created.id}`)).body);

    const rm = await cli(['--json', 'hosts', 'rm', String(created.id)]);
    expect(rm).toEqual({ code: 0, stdout: '', stderr: '' }); // the API answers 204, no body
  });

  it('shows the API’s error message and exits 1 when the API refuses', async () => {
    const mac = nextMac();
    expect((await cli(['hosts', 'add', 'pve-cli-3', mac, '--type', 'minisforum-ms-01'])).code).toBe(0);
    const refused = await api('POST', '/api/hosts', { hostname: 'pve-cli-4', mac, server_type: 'minisforum-ms-01' });
    expect(refused.status).toBe(409);
    const message = (refused.body as { error: { message: string } }).error.message;

    const dup = await cli(['hosts', 'add', 'pve-cli-4', mac, '--type', 'minisforum-ms-01']);
    expect(dup).toEqual({ code: 1, stdout: '', stderr: `provisioning: ${message} [duplicate_mac, HTTP 409]\n` });

    const json = await cli(['--json', 'hosts', 'add', 'pve-cli-4', mac, '--type', 'minisforum-ms-01']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual(refused.body);

    const type = await cli(['hosts', 'add', 'pve-cli-5', nextMac(), '--type', 'no-such-type']);
    expect(type.code).toBe(1);
    expect(type.stderr).toContain('server_type: unknown server type "no-such-type"; known: minisforum-ms-01, minisforum-um790');
    expect(type.stderr).toContain('[invalid_request, HTTP 400]');

    const missing = await cli(['hosts', 'show', '99999']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain((((await api('GET', '/api/hosts/99999')).body as { error: { message: string } }).error.message));
    expect(missing.stderr).toContain('[host_not_found, HTTP 404]');
  });

  it('says which host it could not find by name, with exit 1', async () => {
    const run = await cli(['hosts', 'rm', 'no-such-host']);
    expect(run).toEqual({ code: 1, stdout: '', stderr: 'provisioning: no host "no-such-host": give its id, hostname or MAC (provisioning hosts list shows them)\n' });
  });
});

describe('provisioning, connecting', () => {
  it('shows the API’s message for a wrong token and for none, with exit 1', async () => {
    const wrong = await cli(['hosts', 'list'], { PROVISIONING_API_TOKEN: 'not-the-token' });
    expect(wrong).toEqual({ code: 1, stdout: '', stderr: 'provisioning: invalid API token (set the token with --token or PROVISIONING_API_TOKEN) [unauthorized, HTTP 401]\n' });
    const none = await cli(['hosts', 'list'], { PROVISIONING_API_TOKEN: undefined });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('missing Authorization: Bearer <token> header (server.api_token is set)');
    // --token wins over the environment
    expect((await cli(['--token', token, 'hosts', 'list'], { PROVISIONING_API_TOKEN: 'not-the-token' })).code).toBe(0);
  });

  it('names the URL it could not reach and exits 3', async () => {
    const port = await freePort(); // nothing listens there
    const run = await cli(['hosts', 'list'], { PROVISIONING_URL: `http://127.0.0.1:${port}` });
    expect(run).toEqual({ code: 3, stdout: '', stderr: `provisioning: cannot reach http://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}\n` });
    // --url wins over the environment; without either it is the default, and says so
    const flag = await cli(['--url', `http://127.0.0.1:${port}/`, 'hosts', 'list']);
    expect(flag.stderr).toBe(`provisioning: cannot reach http://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}\n`);
    const fallback = await cli(['hosts', 'list'], { PROVISIONING_URL: undefined });
    if (fallback.code === 3) expect(fallback.stderr).toBe('provisioning: cannot reach http://127.0.0.1:8080 (the default; set --url or PROVISIONING_URL): connect ECONNREFUSED 127.0.0.1:8080\n'); // else a service of this machine answered there
  });

  it('refuses a URL that is not http(s) and an unknown command with exit 2', async () => {
    expect(await cli(['--url', 'ftp://example.com', 'hosts', 'list'])).toEqual({ code: 2, stdout: '', stderr: 'provisioning: --url must be http:// or https://, got "ftp://example.com"\n' });
    const unknown = await cli(['hosts', 'frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("error: unknown command 'frobnicate'");
    const missing = await cli(['hosts', 'add', 'pve-x', nextMac()]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("error: required option '-t, --type <server-type>' not specified");
  });

  it('writes no colour codes to a pipe, nor with NO_COLOR, and colour with FORCE_COLOR', async () => {
    await cli(['hosts', 'add', 'pve-cli-colour', nextMac(), '--type', 'minisforum-ms-01']);
    expect((await cli(['hosts', 'list'])).stdout).not.toContain('\x1b[');
    expect((await cli(['hosts', 'list'], { FORCE_COLOR: '1', NO_COLOR: '1' })).stdout).not.toContain('\x1b[');
    expect((await cli(['hosts', 'list'], { FORCE_COLOR: '1' })).stdout).toContain('\x1b[1m'); // the bold header
    expect((await cli(['--no-color', 'hosts', 'list'], { FORCE_COLOR: '1' })).stdout).not.toContain('\x1b[');
  });
});

describe('provisioning rebuild and cancel (no worker: the rebuild waits for one)', () => {
  it('starts a rebuild, refuses a second one with the API’s message, and cancels it', async () => {
    const mac = nextMac();
    expect((await cli(['hosts', 'add', 'pve-cli-rb', mac, '--type', 'minisforum-ms-01'])).code).toBe(0);
    const id = t.hosts.list().find((h) => h.hostname === 'pve-cli-rb')!.id;

    const start = await cli(['rebuild', 'pve-cli-rb']);
    expect(start.code).toBe(0);
    const operation = t.operations.running(id)!;
    expect(start.stdout).toBe(`rebuild of pve-cli-rb started (operation ${operation.id}, workflow rebuild-${id}); follow it with provisioning rebuild --watch or hosts show pve-cli-rb\n`);

    const again = await cli(['rebuild', mac]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^provisioning: .*rebuild.* \[rebuild_in_progress, HTTP 409\]\n$/);

    const cancel = await cli(['--json', 'cancel', String(id)]);
    expect(cancel).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(cancel.stdout)).toEqual({ workflow_id: `rebuild-${id}` });
  });
});

describe('provisioning explain', () => {
  it('says what a MAC would boot and why, check by check, and prints the API’s JSON with --json', async () => {
    const mac = nextMac();
    await cli(['hosts', 'add', 'pve-cli-explain', mac, '--type', 'minisforum-ms-01']);
    const id = t.hosts.list().find((h) => h.hostname === 'pve-cli-explain')!.id;
    const body = (await api('GET', `/api/boot/explain?mac=${mac}`)).body as { reason: string; chain: Array<{ check: string; ok: boolean; detail: string }> };
    const run = await cli(['explain', mac.toUpperCase()]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toBe(
      [
        `${mac} (pve-cli-explain, id ${id}, registered) would boot: local disk`,
        `because ${body.reason}`,
        ...body.chain.map((c) => `  ${c.ok ? '✓' : '✗'} ${c.check.padEnd(12)}${c.detail}`),
        '',
      ].join('\n'),
    );
    expect(body.chain.map((c) => c.check)).toContain('pxe_allowed');
    expect(JSON.parse((await cli(['explain', mac, '--json'])).stdout)).toEqual(body);

    const unknown = await cli(['explain', '02:00:00:ff:ff:ff']);
    expect(unknown.stdout.split('\n')[0]).toBe('02:00:00:ff:ff:ff (not registered) would boot: local disk');
    const bad = await cli(['explain', 'not-a-mac']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(((await api('GET', '/api/boot/explain?mac=not-a-mac')).body as { error: { message: string } }).error.message);
  });
});

describe('provisioning audit', () => {
  it('lists who did what to a host, newest first, and passes the filters through', async () => {
    const mac = nextMac();
    await cli(['hosts', 'add', 'pve-cli-audit', mac, '--type', 'minisforum-ms-01']);
    await cli(['hosts', 'add', 'pve-cli-audit', nextMac(), '--type', 'minisforum-ms-01']); // refused: the hostname is taken
    const id = t.hosts.list().find((h) => h.hostname === 'pve-cli-audit')!.id;
    await expect.poll(() => t.tools.audit.list({ kind: 'host.register', limit: 500 }).entries.filter((e) => e.hostname === 'pve-cli-audit' || e.result === 'refused').length).toBeGreaterThanOrEqual(2);

    const run = await cli(['audit', '--host', 'pve-cli-audit']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^AT +KIND +WHO +RESULT +HOST +WHAT$/);
    expect(lines.slice(1)).toEqual([expect.stringMatching(/^\S+Z +host\.register +the API token \(127\.0\.0\.1\) +ok +pve-cli-audit +\S/)]);

    const json = await cli(['audit', '--host', String(id), '--json']);
    expect(JSON.parse(json.stdout)).toEqual((await api('GET', `/api/audit?host=${id}`)).body);
    const refused = JSON.parse((await cli(['--json', 'audit', '--kind', 'host.', '--limit', '1'])).stdout) as { entries: Array<{ kind: string; result: string }>; next_before: number | null };
    expect(refused.entries).toEqual([expect.objectContaining({ kind: 'host.register', result: 'refused' })]);
    expect(refused.next_before).toEqual(expect.any(Number));
    const byMac = JSON.parse((await cli(['--json', 'audit', '--mac', mac.toUpperCase()])).stdout) as { entries: Array<{ host_id: number }> };
    expect(byMac.entries.map((e) => e.host_id)).toEqual([id]);
  });

  it('shows the API’s message for a filter it refuses, and says so for a host it cannot find', async () => {
    const bad = await cli(['audit', '--since', 'yesterday']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(((await api('GET', '/api/audit?since=yesterday')).body as { error: { message: string } }).error.message);
    expect(await cli(['audit', '--host', 'pve-gone'])).toEqual({ code: 1, stdout: '', stderr: 'provisioning: no host "pve-gone": give its id, hostname or MAC (provisioning hosts list shows them); for a host deleted since, give its id or --mac\n' });
  });
});

describe('provisioning images', () => {
  it('lists the boot images, and as JSON the API’s answer', async () => {
    const list = await cli(['images', 'list']);
    expect(list).toEqual({ code: 0, stdout: '', stderr: `no boot images in ${t.images.dir}: provisioning images prepare <ISO URL or file>\n` });
    expect(JSON.parse((await cli(['images', 'list', '--json'])).stdout)).toEqual((await api('GET', '/api/images')).body);
  });

  it('follows a download with --watch and exits 1 with the job’s error when it fails', async () => {
    const port = await freePort(); // nothing serves the ISO there
    const run = await cli(['images', 'prepare', `http://127.0.0.1:${port}/proxmox-ve_9.1-1.iso`, '--name', 'pve-cli-dl', '--watch']);
    expect(run.code).toBe(1);
    expect(run.stdout.split('\n')[0]).toMatch(/^preparing image pve-cli-dl \(job \S+\): downloading/);
    expect(run.stderr).toMatch(/^preparing pve-cli-dl failed: download_failed: .+\n$/);
    expect(t.imageJobs.forName('pve-cli-dl')).toMatchObject({ state: 'failed', error: { code: 'download_failed' } });
  });

  it('uploads a local ISO, follows its preparation to ready with --watch and exits 0', async () => {
    const dir = tempDir('provisioning-cli-iso-');
    try {
      const iso = buildSyntheticIso(dir.path);
      const run = await cli(['images', 'prepare', iso.path, '--name', 'pve-cli-up', '--watch']);
      expect(run).toMatchObject({ code: 0 });
      expect(run.stderr).toMatch(/^uploading .*proxmox-ve_9\.1-1\.iso \(\d+\.\d [kM]B\) to http:\/\/127\.0\.0\.1:\d+…\n$/);
      const lines = run.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^preparing image pve-cli-up \(job \S+\): /);
      expect(lines.at(-1)).toMatch(/^image pve-cli-up is ready|^ {2}note: /);
      expect(lines).toContain('image pve-cli-up is ready');
      expect(t.images.choose('pve-cli-up')).toBeDefined();
      const listed = await cli(['images', 'list']);
      expect(listed.stdout).toMatch(/^NAME +RELEASE +SIZE +PREPARED +STALE\npve-cli-up +9\.1 +\d+\.\d [kM]B +\S+ +no\n$/);
    } finally {
      dir.remove();
    }
  }, 60_000);

  it('refuses a local ISO that does not exist with exit 2, and --config without --offline', async () => {
    expect(await cli(['images', 'prepare', '/nonexistent/proxmox.iso'])).toEqual({ code: 2, stdout: '', stderr: "provisioning: cannot read /nonexistent/proxmox.iso: no such file (give the stock ISO's URL or a local ISO file)\n" });
    const config = await cli(['images', 'prepare', 'x.iso', '--config', 'p.yaml']);
    expect(config.code).toBe(2);
    expect(config.stderr).toContain('--config applies only with --offline (the service uses its own)');
  });
});

describe('provisioning, the bin', () => {
  it('is the package’s bin and runs by its shebang, as npm links it', async () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { name: string; bin: Record<string, string> };
    expect(pkg).toMatchObject({ name: 'provisioning', bin: { provisioning: 'bin/provisioning.js' } });
    const run = spawnSync(bin, ['--version'], { encoding: 'utf8' });
    expect({ status: run.status, stdout: run.stdout }).toEqual({ status: 0, stdout: `${(JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version}\n` });
  });
});

describe('provisioning, the service’s own commands', () => {
  it('passes backup and images prepare --offline to the service entry point unchanged', async () => {
    const backup = await cli(['backup']);
    expect(backup).toMatchObject({ code: 2, stdout: '' });
    expect(backup.stderr).toContain('provisioning: backup needs the file to write, e.g. backup backups/provisioning.db');
    const dir = tempDir('provisioning-cli-offline-');
    try {
      writeFileSync(join(dir.path, 'provisioning.yaml'), 'data_dir: ./data\n');
      const offline = await cli(['images', 'prepare', '--offline', join(dir.path, 'missing.iso'), '--name', 'pve-x', '--config', join(dir.path, 'provisioning.yaml')]);
      expect(offline).toEqual({ code: 1, stdout: '', stderr: `provisioning: no image prepared: ${join(dir.path, 'missing.iso')}: no such file (ENOENT)\n` });
    } finally {
      dir.remove();
    }
  });
});
