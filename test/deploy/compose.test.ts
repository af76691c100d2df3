// No Docker engine runs here, so the deployment files are checked as data: the compose file's services, start
// order, health checks, volumes and environment; the Dockerfile's user, volume and health check.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configEnv } from '../../src/config/load-config';

interface Service {
  image?: string;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  volumes?: string[];
  environment?: Record<string, string>;
  network_mode?: string;
  cap_add?: string[];
  cap_drop?: string[];
  user?: string;
  command?: string[];
  ports?: string[];
}
const compose = parse(readFileSync('docker-compose.yml', 'utf8')) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const services = compose.services;
const readme = readFileSync('README.md', 'utf8');
const dockerfile = readFileSync('deploy/Dockerfile', 'utf8');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('docker-compose.yml', () => {
  it('runs PostgreSQL, the schema job, Temporal, namespace creation, the Web UI and Provisioning; nothing else', () => {
    expect(Object.keys(services).sort()).toEqual(['postgresql', 'provisioning', 'temporal', 'temporal-namespace', 'temporal-schema', 'temporal-ui']);
    expect(services.temporal!.image).toMatch(/^temporalio\/server:\d+\.\d+\.\d+$/);
    expect(services['temporal-schema']!.image).toMatch(/^temporalio\/admin-tools:/);
    expect(services['temporal-ui']!.image).toMatch(/^temporalio\/ui:/);
    for (const s of Object.values(services)) expect(s.image ?? '').not.toContain('auto-setup');
  });

  it('starts in health-checked order', () => {
    expect(services['temporal-schema']!.depends_on).toEqual({ postgresql: { condition: 'service_healthy' } });
    expect(services.temporal!.depends_on).toEqual({ 'temporal-schema': { condition: 'service_completed_successfully' } });
    expect(services['temporal-namespace']!.depends_on).toEqual({ temporal: { condition: 'service_healthy' } });
    expect(services['temporal-ui']!.depends_on).toEqual({ temporal: { condition: 'service_healthy' } });
    expect(services.provisioning!.depends_on).toEqual({ 'temporal-namespace': { condition: 'service_completed_successfully' } });
    for (const name of ['postgresql', 'temporal', 'temporal-ui', 'provisioning']) expect(services[name]!.healthcheck?.test.length).toBeGreaterThan(0);
    expect(services.provisioning!.healthcheck!.test.join(' ')).toContain('/readyz');
  });

  it('gives Provisioning host networking and only the capabilities dnsmasq needs', () => {
    const p = services.provisioning!;
    expect(p.network_mode).toBe('host');
    expect(p.cap_drop).toEqual(['ALL']);
    expect([...p.cap_add!].sort()).toEqual(['NET_ADMIN', 'NET_BIND_SERVICE', 'NET_RAW', 'SETGID', 'SETUID']);
    expect(p.volumes).toEqual(['./:/etc/provisioning:ro', './data:/data']);
    expect(p.environment!.PROVISIONING_TEMPORAL_ADDRESS).toBe('127.0.0.1:7233');
    expect(services.temporal!.ports).toEqual(['127.0.0.1:7233:7233']);
    // The Web UI has no login: loopback only and read-only, so nobody on the LAN can signal a rebuild from it.
    expect(services['temporal-ui']!.ports).toEqual(['127.0.0.1:8233:8080']);
    expect(services['temporal-ui']!.environment!.TEMPORAL_DISABLE_WRITE_ACTIONS).toBe('true');
  });

  it('keeps Temporal\'s database in a declared volume', () => {
    expect(services.postgresql!.volumes).toEqual(['temporal-postgres:/var/lib/postgresql/data']);
    expect(Object.keys(compose.volumes)).toEqual(['temporal-postgres']);
  });

  it('sets only environment variables the service reads, and the README documents every one it reads', () => {
    const read = new Set<string>(Object.values(configEnv));
    for (const file of sourceFiles('src')) for (const m of readFileSync(file, 'utf8').matchAll(/process\.env\.([A-Z_]+)/g)) read.add(m[1]!);
    read.delete('PATH');
    expect([...read].sort()).toEqual(['LOG_LEVEL', 'PROVISIONING_API_TOKEN', 'PROVISIONING_DATA_DIR', 'PROVISIONING_JOIN_PASSWORD', 'PROVISIONING_KEY_ENCRYPTION_KEY', 'PROVISIONING_METRICS_TOKEN', 'PROVISIONING_PROXMOX_API_TOKEN', 'PROVISIONING_TEMPORAL_ADDRESS', 'TEMPORAL_CLI']);
    for (const name of read) expect(readme, `README documents ${name}`).toContain(name);
    for (const name of Object.keys(services.provisioning!.environment!)) expect(read.has(name), `${name} is read by the service`).toBe(true);
  });
});

describe('deploy/Dockerfile', () => {
  it('builds in two stages and ships production dependencies, dnsmasq and iPXE, as a non-root user with /data and a readiness health check', () => {
    expect(dockerfile.match(/^FROM /gm)).toHaveLength(2);
    expect(dockerfile).toContain('npm prune --omit=dev');
    expect(dockerfile).toMatch(/apt-get install -y --no-install-recommends dnsmasq-base /);
    // iPXE new enough for UEFI hosts (bookworm's is not), pinned by checksum.
    expect(dockerfile).toMatch(/^ADD --checksum=sha256:[0-9a-f]{64} \\\n\s+http:\/\/deb\.debian\.org\/debian\/pool\/main\/i\/ipxe\/ipxe_1\.21\.1\+git2025\d{4}\.\w+\+dfsg-\d+_all\.deb \/tmp\/ipxe\.deb$/m);
    expect(dockerfile).toContain('dpkg -i /tmp/ipxe.deb');
    expect(dockerfile).toMatch(/^USER provisioning$/m);
    expect(dockerfile).toMatch(/^VOLUME \/data$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n.*\/readyz/m);
  });
});

describe('the service\'s command line', () => {
  it('is plain `node dist/src/main.js` for `make run` and the Docker image', () => {
    const makeRun = spawnSync('make', ['-s', '-n', 'run'], { encoding: 'utf8' }).stdout.trim().split('\n').at(-1);
    expect(makeRun).toBe('node dist/src/main.js --config provisioning.yaml');
    expect(dockerfile).toContain('ENTRYPOINT ["node", "/app/dist/src/main.js", "--config", "/etc/provisioning/provisioning.yaml"]');
  });
});
