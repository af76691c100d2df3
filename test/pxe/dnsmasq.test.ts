// Real: Debian's dnsmasq binary (config check and a supervised process in a network namespace the test creates).
import { chmodSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DnsmasqSupervisor, renderDnsmasqConfig, syncHostsDir, testDnsmasqConfig } from '../../src/pxe/dnsmasq';
import { createLogger } from '../../src/logging';
import { Writable } from 'node:stream';
import { createNamespace, udpPortsIn } from '../helpers/netns';
import { Resources } from '../helpers/release';
import { tempDir } from '../helpers/temp-dir';

const dnsmasq = '/usr/sbin/dnsmasq';
const resources = new Resources();
afterEach(() => resources.releaseAll());

function config(dir: string, overrides: Partial<Parameters<typeof renderDnsmasqConfig>[0]> = {}) {
  return renderDnsmasqConfig({
    interface: 'lan0',
    subnet: '10.77.0.0/24',
    serverIp: '10.77.0.1',
    publicUrl: 'http://10.77.0.1:8080',
    hostsDir: join(dir, 'hosts'),
    tftpRoot: '/usr/lib/ipxe',
    leaseFile: join(dir, 'dnsmasq.leases'),
    ...overrides,
  });
}

describe('renderDnsmasqConfig', () => {
  it.each([
    ['a /24 LAN', { subnet: '192.168.1.0/24', interface: 'enp2s0' }, 'dhcp-range=192.168.1.0,proxy,255.255.255.0'],
    ['a /16 LAN', { subnet: '10.20.0.0/16', interface: 'eth0' }, 'dhcp-range=10.20.0.0,proxy,255.255.0.0'],
    ['a /22 LAN behind HTTPS', { subnet: '172.16.4.0/22', publicUrl: 'https://pxe.lab.example:8443' }, 'dhcp-range=172.16.4.0,proxy,255.255.252.0'],
  ])('writes a config for %s that the real dnsmasq accepts', (_name, overrides, range) => {
    const dir = resources.add(tempDir(), async (d) => d.remove());
    const text = config(dir.path, overrides);
    expect(text).toContain(range);
    const file = join(dir.path, 'dnsmasq.conf');
    writeFileSync(file, text);
    expect(testDnsmasqConfig(dnsmasq, file)).toBeNull();
  });

  it('points iPXE clients at our script URL with the server address, and PXE firmware at the iPXE binaries', () => {
    const text = config('/data/pxe');
    expect(text).toContain('dhcp-boot=tag:ipxe,http://10.77.0.1:8080/ipxe/${mac:hexhyp},provisioning,10.77.0.1');
    expect(text).toContain('pxe-service=tag:!ipxe,x86PC,"Provisioning: iPXE (BIOS)",undionly.kpxe');
    expect(text).toContain('pxe-service=tag:!ipxe,BC_EFI,"Provisioning: iPXE (UEFI)",ipxe.efi');
    expect(text).toContain('dhcp-ignore=tag:!known');
    expect(text).toContain('dhcp-hostsdir=/data/pxe/hosts');
  });

  it('is caught by dnsmasq --test when broken', () => {
    const dir = resources.add(tempDir(), async (d) => d.remove());
    const file = join(dir.path, 'dnsmasq.conf');
    writeFileSync(file, config(dir.path) + 'dhcp-range=not-an-address,proxy\n');
    expect(testDnsmasqConfig(dnsmasq, file)).toMatch(/bad dhcp-range/i);
  });
});

describe('syncHostsDir', () => {
  it('keeps exactly one file per allowed MAC', () => {
    const dir = resources.add(tempDir(), async (d) => d.remove());
    const hosts = join(dir.path, 'hosts');
    expect(syncHostsDir(hosts, ['aa:bb:cc:dd:ee:01', 'aa:bb:cc:dd:ee:02'])).toEqual({ added: 2, removed: 0 });
    expect(syncHostsDir(hosts, ['aa:bb:cc:dd:ee:02', 'aa:bb:cc:dd:ee:03'])).toEqual({ added: 1, removed: 1 });
    expect(readdirSync(hosts).sort()).toEqual(['aabbccddee02.host', 'aabbccddee03.host']);
    expect(readFileSync(join(hosts, 'aabbccddee03.host'), 'utf8')).toBe('aa:bb:cc:dd:ee:03\n');
  });
});

describe('DnsmasqSupervisor', () => {
  it('runs dnsmasq on DHCP and TFTP ports, restarts it after kill -9, re-reads hosts on revoke, and stops it', async () => {
    const ns = resources.add(createNamespace('10.77.0.1/24'), async (n) => n.remove());
    const dir = resources.add(tempDir(), async (d) => d.remove());
    chmodSync(dir.path, 0o755); // dnsmasq runs as nobody once started
    const file = join(dir.path, 'dnsmasq.conf');
    writeFileSync(file, config(dir.path));
    const lines: string[] = [];
    const log = createLogger('info', new Writable({ write: (c, _e, done) => { lines.push(c.toString()); done(); } }));
    let allowed = ['aa:bb:cc:dd:ee:01'];
    const supervisor = new DnsmasqSupervisor({ binary: dnsmasq, configFile: file, hostsDir: join(dir.path, 'hosts'), command: ns.exec, allowedMacs: () => allowed, syncIntervalMs: 60_000, log });
    const events: string[] = [];
    const started = () => new Promise<number>((resolve) => { const off = supervisor.on((e, pid) => { events.push(e); if (e === 'started') { off(); resolve(pid); } }); });

    const first = started();
    supervisor.start();
    resources.add(supervisor, (s) => s.stop());
    const pid1 = await first;
    await expect.poll(() => udpPortsIn(ns.name), { timeout: 10_000 }).toEqual(expect.arrayContaining([67, 69]));
    expect(readdirSync(join(dir.path, 'hosts'))).toEqual(['aabbccddee01.host']);

    const second = started();
    process.kill(pid1, 'SIGKILL');
    const pid2 = await second;
    expect(pid2).not.toBe(pid1);
    expect(lines.join('')).toContain('dnsmasq exited unexpectedly; restarting');
    await expect.poll(() => udpPortsIn(ns.name), { timeout: 10_000 }).toEqual(expect.arrayContaining([67, 69]));

    allowed = [];
    supervisor.sync();
    expect(readdirSync(join(dir.path, 'hosts'))).toEqual([]);
    await expect.poll(() => lines.join(''), { timeout: 10_000 }).toMatch(/dnsmasq: .*(read|cleared cache)/);

    await supervisor.stop();
    expect(() => process.kill(pid2, 0)).toThrow();
    expect(udpPortsIn(ns.name)).toEqual([]);
    expect(events).toEqual(['started', 'exited', 'started']);
  }, 30_000);
});
