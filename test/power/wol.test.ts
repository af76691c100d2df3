// Real: the driver's UDP broadcast, sent from one network namespace over a veth pair and received by a UDP listener
// in another (loopback delivers no broadcast). The driver runs as itself inside the sender's namespace: esbuild
// (vite's own bundler) bundles src/power/wol.ts into a script that `ip netns exec` runs there.
import { execFileSync, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { buildSync } from 'esbuild';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WolDriver, broadcastOf, checkWolBroadcast, magicPacket } from '../../src/power/wol';
import { PowerError } from '../../src/power/types';
import { createNamespace } from '../helpers/netns';
import { Resources } from '../helpers/release';
import { tempDir } from '../helpers/temp-dir';

const resources = new Resources();
afterEach(() => resources.releaseAll());

const mac = '52:54:00:ab:cd:ef';
const driver = (broadcast: string, port = 9, pxeSubnet: string | null = '192.168.1.0/24') =>
  new WolDriver({ method: 'wol', mac, broadcast, port }, { hostLabel: 'pve-ms-12', pxeSubnet });

describe('magicPacket', () => {
  it('is 6 × 0xFF, then the MAC 16 times: 102 bytes', () => {
    const packet = magicPacket(mac);
    expect(packet).toHaveLength(102);
    expect(packet.subarray(0, 6).toString('hex')).toBe('ffffffffffff');
    for (let i = 0; i < 16; i++) expect(packet.subarray(6 + i * 6, 12 + i * 6).toString('hex')).toBe('525400abcdef');
  });
});

describe('broadcastOf and checkWolBroadcast', () => {
  it.each([
    ['192.168.1.0/24', '192.168.1.255'],
    ['10.20.0.0/16', '10.20.255.255'],
    ['172.16.4.0/22', '172.16.7.255'],
  ])('gives the broadcast address of %s', (subnet, broadcast) => {
    expect(broadcastOf(subnet)).toBe(broadcast);
  });

  it('accepts the subnet broadcast address, and any address when no PXE subnet is configured', () => {
    expect(checkWolBroadcast('192.168.1.255', '192.168.1.0/24')).toBeNull();
    expect(checkWolBroadcast('10.0.0.255', null)).toBeNull();
  });

  it('rejects an address outside the PXE subnet, naming both and the right broadcast', () => {
    expect(checkWolBroadcast('10.0.0.255', '192.168.1.0/24')).toBe(
      "10.0.0.255 is outside pxe.subnet 192.168.1.0/24: the magic packet must be broadcast on the machine's own LAN (192.168.1.255)",
    );
  });

  it('rejects what is not an IPv4 address', () => {
    expect(checkWolBroadcast('192.168.1', '192.168.1.0/24')).toBe('expected an IPv4 broadcast address like 192.168.1.255, got "192.168.1"');
  });
});

describe('WolDriver', () => {
  it('cannot tell the power state', async () => {
    expect(await driver('192.168.1.255').status()).toBe('unknown');
    expect(await driver('192.168.1.255').persistentOverride()).toBeNull();
  });

  it.each(['off', 'cycle', 'pxe-once'] as const)('refuses %s as unsupported, naming the method', async (action) => {
    const err = await driver('192.168.1.255').act(action).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PowerError);
    expect(err).toMatchObject({ code: 'unsupported', message: `pve-ms-12: Wake-on-LAN can only power on; '${action}' needs IPMI, Redfish or the Proxmox API` });
  });

  it('tests the settings without sending anything', async () => {
    expect(await driver('192.168.1.255').test()).toEqual({ did: `Wake-on-LAN: settings valid, the magic packet for ${mac} would go to 192.168.1.255:9 (WoL has no answer to read)`, state: 'unknown' });
  });

  it('fails the test with invalid_settings for a broadcast address outside the PXE subnet', async () => {
    const err = await driver('10.0.0.255').test().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'invalid_settings', message: expect.stringMatching(/^pve-ms-12: Wake-on-LAN broadcast 10\.0\.0\.255 is outside pxe\.subnet 192\.168\.1\.0\/24/) });
  });

  it('sends the packet 3 times (unicast to a loopback listener)', async () => {
    const listener = createSocket('udp4');
    resources.add(listener, async (s) => void s.close());
    const received: Buffer[] = [];
    listener.on('message', (m) => received.push(m));
    await new Promise<void>((r) => listener.bind(0, '127.0.0.1', r));
    const outcome = await driver('127.0.0.1', listener.address().port, null).intoInstaller();
    expect(outcome).toEqual({ did: `Wake-on-LAN: magic packet sent 3 times to 127.0.0.1:${listener.address().port}`, state: 'unknown' });
    await expect.poll(() => received.length).toBe(3);
    expect(received.every((m) => m.equals(magicPacket(mac)))).toBe(true);
  });
});

describe.skipIf(process.getuid?.() !== 0)('WolDriver on a LAN (network namespaces; needs root, skipped otherwise)', () => {
  let dir: ReturnType<typeof tempDir> | undefined;
  let script: string;
  afterAll(() => dir?.remove());
  beforeAll(() => {
    dir = tempDir();
    script = join(dir.path, 'wake.js');
    const entry = `
      const { WolDriver } = require(${JSON.stringify(resolve(__dirname, '../../src/power/wol.ts'))});
      const [mac, broadcast, port, pxeSubnet] = process.argv.slice(2);
      new WolDriver({ method: 'wol', mac, broadcast, port: Number(port) }, { hostLabel: 'pve-ms-12', pxeSubnet })
        .act('on')
        .then((o) => console.log(JSON.stringify(o)), (e) => { console.error(e.message); process.exit(1); });`;
    buildSync({ stdin: { contents: entry, resolveDir: __dirname, loader: 'js' }, bundle: true, platform: 'node', target: 'node20', format: 'cjs', outfile: script, logLevel: 'error' });
  });

  it('broadcasts the exact 102-byte packet to the subnet, received by a listener on the LAN', async () => {
    // The provisioning server's namespace (10.79.0.1 on lan0) and the sleeping machine's (10.79.0.50 on lan0-peer).
    const server = createNamespace('10.79.0.1/24');
    resources.add(server, async (n) => n.remove());
    const machine = `prov-host-${Math.random().toString(16).slice(2, 10)}`;
    execFileSync('ip', ['netns', 'add', machine]);
    resources.add(machine, async (n) => void execFileSync('ip', ['netns', 'del', n]));
    execFileSync('ip', ['-n', server.name, 'link', 'set', 'lan0-peer', 'netns', machine]);
    execFileSync('ip', ['-n', machine, 'addr', 'add', '10.79.0.50/24', 'dev', 'lan0-peer']);
    execFileSync('ip', ['-n', machine, 'link', 'set', 'lan0-peer', 'up']);

    // The listener prints each datagram as hex with its source.
    const listen = `const s = require('node:dgram').createSocket('udp4');
      s.on('message', (m, r) => console.log(JSON.stringify({ hex: m.toString('hex'), from: r.address })));
      s.bind(9, '0.0.0.0', () => console.log('ready'));`;
    const listener = spawn('ip', ['netns', 'exec', machine, process.execPath, '-e', listen], { stdio: ['ignore', 'pipe', 'inherit'] });
    resources.add(listener, async (p) => {
      if (p.exitCode === null) {
        p.kill('SIGKILL');
        await once(p, 'exit');
      }
    });
    const lines = createInterface({ input: listener.stdout! });
    const received: Array<{ hex: string; from: string }> = [];
    let ready = false;
    lines.on('line', (l) => (l === 'ready' ? (ready = true) : received.push(JSON.parse(l) as { hex: string; from: string })));
    await expect.poll(() => ready, { timeout: 5_000 }).toBe(true);

    const out = execFileSync('ip', ['netns', 'exec', server.name, process.execPath, script, mac, '10.79.0.255', '9', '10.79.0.0/24'], { encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ did: 'Wake-on-LAN: magic packet sent 3 times to 10.79.0.255:9', state: 'unknown' });
    await expect.poll(() => received.length, { timeout: 5_000 }).toBe(3);
    for (const r of received) {
      expect(Buffer.from(r.hex, 'hex')).toHaveLength(102);
      expect(r.hex).toBe(magicPacket(mac).toString('hex'));
      expect(r.from).toBe('10.79.0.1');
    }
  });
});
