// Benchmark 6: preparing a boot image. A synthetic 1.5 GB ISO laid out like Proxmox VE's (a 14 MiB /boot/linux26, a
// zstd /boot/initrd.img of 96 MiB initrd-like content, /.cd-info, /auto-installer-capable, El Torito images, a big
// sparse file for the rest) prepared by our prepareImage, alternately with the bare tools doing the same work one after
// another in a shell: the UUID read, the kernel extraction, `xorriso -concat | zstd -d | gzip`, and the ISO rewrite with
// the same xorriso arguments. Ours also reads the whole source once for its SHA-256 and fsyncs what it wrote, which the
// bare tools do not: so the bare time is also given with a `sync` after it (what making their output durable costs).
// Every run starts from the same state: the previous outputs removed and synced. Reports wall time, ours / bare
// (target ≤ 1.5×) and our process's RSS (sampled every 20 ms, and VmHWM).
// Usage: npm run bench:prepare   (BENCH_ISO_BYTES, BENCH_INITRD_MB, BENCH_RUNS, BENCH_KEEP=1)
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareImage } from '../src/images/iso-preparer';
import { catArgs, extractArgs, inspectArgs, parseListing, rewriteArgs } from '../src/images/xorriso';
import { machine, table } from './lib';

const isoBytes = Number(process.env.BENCH_ISO_BYTES ?? 1.5e9);
const initrdMb = Number(process.env.BENCH_INITRD_MB ?? 96);
const runs = Number(process.env.BENCH_RUNS ?? 3);
const MB = 1024 * 1024;

function run(command: string, args: string[]): string {
  const r = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * MB });
  if (r.status !== 0) throw new Error(`${command} ${args.slice(0, 4).join(' ')}… failed: ${r.error?.message ?? r.stderr}`);
  return r.stdout;
}

/** The synthetic ISO: Proxmox's layout, with initrd-like content (random stretches and repeated cpio paths). */
function buildIso(dir: string): string {
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, 'boot/grub/i386-pc'), { recursive: true });
  writeFileSync(join(tree, 'boot/grub/i386-pc/eltorito.img'), Buffer.alloc(2048, 0x90));
  writeFileSync(join(tree, 'efi.img'), Buffer.alloc(4 * MB, 0xef));
  writeFileSync(join(tree, 'boot/linux26'), randomBytes(14 * MB));
  const raw = join(dir, 'initrd.cpio');
  const fd = openSync(raw, 'w');
  const text = Buffer.from('070701usr/lib/modules/6.14.11-4-pve/kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko\n'.repeat(11_000));
  for (let i = 0; i < initrdMb; i++) writeSync(fd, i % 2 === 0 ? randomBytes(MB) : text.subarray(0, MB));
  closeSync(fd);
  run('zstd', ['-q', '-9', '-T0', raw, '-o', join(tree, 'boot/initrd.img')]);
  rmSync(raw);
  writeFileSync(join(tree, '.cd-info'), "PRODUCT='pve'\nPRODUCTLONG='Proxmox VE'\nRELEASE='9.1'\nISORELEASE='1'\nISONAME='proxmox-ve'\n");
  writeFileSync(join(tree, 'auto-installer-capable'), '');
  mkdirSync(join(tree, 'pool'));
  const rest = isoBytes - statSync(join(tree, 'boot/initrd.img')).size - 18 * MB;
  writeFileSync(join(tree, 'pool/big.bin'), '');
  truncateSync(join(tree, 'pool/big.bin'), Math.max(0, rest));
  const iso = join(dir, 'proxmox-ve_9.1-1.iso');
  run('xorriso', ['-as', 'mkisofs', '-o', iso, '-V', 'PVE', '-r', '--modification-date=2025112012345600', '-b', 'boot/grub/i386-pc/eltorito.img', '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table', '-eltorito-alt-boot', '-e', 'efi.img', '-no-emul-boot', tree]);
  rmSync(tree, { recursive: true });
  return iso;
}

/** The same work with the bare tools, one after another, as a shell script would (no checksum, no fsync). */
function bareTools(iso: string, out: string): { seconds: number; withSync: number } {
  mkdirSync(out);
  const started = process.hrtime.bigint();
  const uuid = parseListing(run('xorriso', inspectArgs(iso))).uuid;
  run('xorriso', extractArgs(iso, [['/.cd-info', join(out, 'cd-info')], ['/boot/linux26', join(out, 'vmlinuz')]]));
  const cat = catArgs(iso, '/boot/initrd.img').map((a) => `'${a}'`).join(' ');
  run('sh', ['-c', `set -e; xorriso ${cat} 2>/dev/null | zstd -d -c -q | gzip -c -n > '${join(out, 'initrd.img')}'`]);
  writeFileSync(join(out, 'mode.toml'), 'mode = "http"\n\n[http]\nurl = "http://192.0.2.10:8080/api/boot/answer"\n');
  run('xorriso', rewriteArgs(iso, join(out, 'out.iso'), uuid, [[join(out, 'mode.toml'), '/auto-installer-mode.toml']]));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  run('sync', []);
  return { seconds, withSync: Number(process.hrtime.bigint() - started) / 1e9 };
}

/** Removes a run's outputs and flushes the disk, so the next run starts where this one did. */
function settle(out: string): void {
  rmSync(out, { recursive: true, force: true });
  run('sync', []);
}

async function ours(iso: string, imagesDir: string): Promise<{ seconds: number; peakRssMb: number }> {
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const started = process.hrtime.bigint();
  try {
    await prepareImage({ iso, imagesDir, answerUrl: 'http://192.0.2.10:8080/api/boot/answer' });
  } finally {
    clearInterval(sampler);
  }
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, peakRssMb: Math.round(peak / MB) };
}

function vmHwmMb(): number {
  const line = readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'));
  return Math.round(Number(line?.split(/\s+/)[1] ?? 0) / 1024);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-prepare-'));
  try {
    const iso = buildIso(dir);
    const size = statSync(iso).size;
    // Warm the page cache and both code paths once, uncounted.
    run('sync', []);
    bareTools(iso, join(dir, 'warm-bare'));
    settle(join(dir, 'warm-bare'));
    await ours(iso, join(dir, 'warm-ours'));
    settle(join(dir, 'warm-ours'));
    const idleRss = Math.round(process.memoryUsage().rss / MB);
    const rows: Array<Array<string | number>> = [];
    const ratios: number[] = [];
    const synced: number[] = [];
    for (let i = 1; i <= runs; i++) {
      // alternate which goes first, so neither always runs on a cache the other left behind
      const order = i % 2 === 1 ? ['ours', 'bare'] : ['bare', 'ours'];
      let o = { seconds: 0, peakRssMb: 0 };
      let b = { seconds: 0, withSync: 0 };
      for (const which of order) {
        if (which === 'ours') o = await ours(iso, join(dir, `ours-${i}`));
        else b = bareTools(iso, join(dir, `bare-${i}`));
        settle(join(dir, `${which}-${i}`));
      }
      ratios.push(o.seconds / b.seconds);
      synced.push(o.seconds / b.withSync);
      rows.push([i, order.join(' → '), o.seconds.toFixed(2), b.seconds.toFixed(2), b.withSync.toFixed(2), `${(o.seconds / b.seconds).toFixed(2)}×`, `${(o.seconds / b.withSync).toFixed(2)}×`, o.peakRssMb]);
    }
    process.stdout.write(`\nImage preparation: ${machine()}; ${(size / 1e9).toFixed(2)} GB synthetic ISO (${initrdMb} MiB initrd), ${runs} alternating runs after a warm-up\n\n`);
    table(['run', 'order', 'ours s', 'bare tools s', 'bare + sync s', 'ours / bare', 'ours / (bare + sync)', 'our RSS peak MB'], rows);
    process.stdout.write(`median ours / bare: ${median(ratios).toFixed(2)}× (target ≤ 1.50×), ours / (bare + sync) ${median(synced).toFixed(2)}×; our RSS idle ${idleRss} MB, VmHWM over the whole run ${vmHwmMb()} MB\n`);
  } finally {
    if (process.env.BENCH_KEEP) process.stdout.write(`kept ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

void main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
