// The gateway alone, for the HTTP benchmarks: N hosts registered and in rebuild (records as the workflow leaves
// them at pxe_ready: operation, rebuild key, PXE allowance), plus a boot image. Boot events go to a counting
// stand-in instead of Temporal, so this measures our HTTP path; the rebuild benchmark covers Temporal.
// Usage: node dist/bench/gateway-server.js <hosts> <dir>   → prints "listening <url>"
import { rebuildKeyId, rebuildWorkflowId } from '../src/domain/rebuild-ids';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { utils } from 'ssh2';
import { ServerTypeRegistry } from '../src/config/server-types';
import { EventHub } from '../src/dashboard/event-hub';
import { hostUpdateRenderer } from '../src/dashboard/render-update';
import { parseMac } from '../src/domain/mac-address';
import { buildApp } from '../src/gateway/app';
import { operatorTools } from '../src/observability/operator-tools';
import { BootTokens } from '../src/gateway/boot-tokens';
import { DashboardSessions } from '../src/gateway/auth/dashboard-sessions';
import { ImageLibrary } from '../src/images/image-library';
import { prepareImage } from '../src/images/iso-preparer';
import { ImageJobs } from '../src/images/preparation-jobs';
import { createLogger } from '../src/logging';
import { openDatabase } from '../src/store/database';
import { FeedStore } from '../src/store/feed-store';
import { HostStore } from '../src/store/host-store';
import { OperationStore } from '../src/store/operation-store';
import { PowerStore } from '../src/store/power-store';
import { PxeAllowList } from '../src/store/pxe-allow-list';
import { RebuildKeyStore } from '../src/store/rebuild-key-store';
import { benchMac } from './lib';


async function main() {
  const n = Number(process.argv[2] ?? 50);
  const dir = process.argv[3]!;
  const secret = randomBytes(32);
  const db = openDatabase(join(dir, 'provisioning.db'));
  const hosts = new HostStore(db);
  const operations = new OperationStore(db);
  const keys = new RebuildKeyStore(db, secret);
  const pxeAllowList = new PxeAllowList(db);
  writeFileSync(join(dir, 'server-types.yaml'), 'server_types:\n  ms-01:\n    boot_disk: /dev/nvme0n1\n    management_nic: enp2s0\n    filesystem: zfs\n');
  mkdirSync(join(dir, 'images/pve-9.1'), { recursive: true });
  for (const f of ['vmlinuz', 'initrd.img', 'proxmox-ve_9.1.iso']) if (!existsSync(join(dir, 'images/pve-9.1', f))) writeFileSync(join(dir, 'images/pve-9.1', f), f);
  const tokens = new BootTokens(secret);
  const publicKey = utils.generateKeyPairSync('ed25519').public;
  db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const host = hosts.create({ hostname: `pve-${i}`, mac: parseMac(benchMac(i)), serverType: 'ms-01' });
      const runId = `run-${i}`;
      const op = operations.ensure(host.id, rebuildWorkflowId(host.id), runId);
      keys.save({ id: rebuildKeyId(runId), workflowId: rebuildWorkflowId(host.id), operationId: op.id, publicKey, privateKey: 'unused' });
      hosts.transition(host.id, 'pxe_ready');
      pxeAllowList.allow(host.mac, host.id, rebuildWorkflowId(host.id));
    }
  })();
  let delivered = 0;
  const hub = new EventHub(new FeedStore(db), hostUpdateRenderer(hosts, operations));
  const imageJobs = new ImageJobs({ imagesDir: join(dir, 'images'), prepare: prepareImage, answerUrl: () => 'http://127.0.0.1:8080/api/boot/answer', certFingerprint: () => null, imageExists: () => false });
  const app = await buildApp({
    tools: operatorTools({ db, hosts, operations, imageJobs, hub, metricsToken: '' }),
    hosts,
    operations,
    serverTypes: new ServerTypeRegistry(join(dir, 'server-types.yaml')),
    rebuilds: {
      start: async () => ({ workflowId: '', runId: '' }),
      cancel: async () => undefined,
      deliver: async () => void delivered++,
    },
    apiToken: '',
    rebuildBlockers: () => [],
    logger: createLogger('warn'),
    pxeAllowList,
    keys,
    images: new ImageLibrary(join(dir, 'images')),
    setup: async () => [],
    imageJobs,
    tokens,
    publicUrl: 'http://127.0.0.1:8080',
    install: { domain: 'lab.example', country: 'us', keyboard: 'en-us', timezone: 'UTC', mailto: 'ops@lab.example' },
    rootPasswordHash: '$6$Zc3xS0Gd1pG8r9Qe$FRr1Gc16G4e6CM5U1Q5WZQIsXWlKmOu/DKlGnXhT6y3iKA7hfv4DFKRrPlRn8ZmtCYvLOQvhr1MIrwUND6Q94.',
    firstBootDeadlineSeconds: 900,
    hub,
    sessions: new DashboardSessions('', secret),
    temporalUi: { uiUrl: '', namespace: 'default' },
    power: { store: new PowerStore(db, secret), driver: () => { throw new Error('no power control in the benchmark'); }, input: { pxeSubnet: '', proxmoxMissing: [] } },
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  // Tokens for the first-boot script requests, one per host.
  writeFileSync(join(dir, 'tokens.json'), JSON.stringify(Array.from({ length: n }, (_, i) => ({ id: i + 1, token: tokens.tokenFor(`run-${i}`) }))));
  process.stdout.write(`listening ${url}\n`);
  // SIGUSR2: a full garbage collection when started with --expose-gc (bench:sse does, so its RSS readings hold no
  // garbage), then a report of connected SSE clients and whether the hub's timers still run (leak check).
  process.on('SIGUSR2', () => {
    globalThis.gc?.();
    process.stdout.write(`clients ${hub.clientCount} timers ${hub.timersRunning}\n`);
  });
  process.on('SIGTERM', () => {
    process.stderr.write(`boot events delivered: ${delivered}\n`);
    void app.close().then(() => process.exit(0));
  });
}

void main();
