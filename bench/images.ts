// Benchmark 4: image serving. A 1 GiB initrd (sparse, or dense with BENCH_IMAGE_DENSE=1) served by our gateway
// and by nginx from Debian (started here, same file, same machine, same run), downloaded in full by 1, 10 and 50 parallel curl
// processes over loopback. Reports throughput, our/nginx ratio and our gateway's peak RSS.
// Usage: npm run bench:images
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, machine, rssMb, startChild, stop, table } from './lib';

const size = Number(process.env.BENCH_IMAGE_BYTES ?? 1024 ** 3);
const levels = (process.env.BENCH_DOWNLOADS ?? '1,10,50').split(',').map(Number);

function ensureNginx(): string {
  const nginx = ['/usr/sbin/nginx', '/usr/bin/nginx'].find(existsSync);
  if (nginx) return nginx;
  if (process.getuid?.() !== 0) throw new Error('nginx is not installed: apt-get install nginx-light');
  spawnSync('sh', ['-c', 'printf "#!/bin/sh\\nexit 101\\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && apt-get install -y -qq --no-install-recommends nginx-light >/dev/null; rm -f /usr/sbin/policy-rc.d'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return '/usr/sbin/nginx';
}

/** Downloads `url` with `parallel` curl processes at once; returns MB/s over the whole batch. */
async function download(url: string, parallel: number, onTick: () => void): Promise<number> {
  const started = process.hrtime.bigint();
  const timer = setInterval(onTick, 200);
  const sizes = await Promise.all(
    Array.from({ length: parallel }, () => new Promise<number>((resolve, reject) => {
      const curl = spawn('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', url]);
      let out = '';
      curl.stdout.on('data', (b: Buffer) => (out += b));
      curl.on('close', (code) => { // 'close', not 'exit': stdout may still be unread at 'exit'
        const [status, bytes] = out.split(' ');
        if (code === 0 && status === '200') resolve(Number(bytes));
        else reject(new Error(`GET ${url}: curl exited ${code}, HTTP ${status}, ${bytes} bytes`));
      });
    })),
  );
  clearInterval(timer);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (sizes.some((s) => s !== size)) throw new Error(`short download from ${url}: ${sizes.join(',')}`);
  return Math.round((sizes.reduce((a, b) => a + b, 0) / seconds / 1e6));
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-img-'));
  chmodSync(dir, 0o755); // nginx's worker runs as nobody
  const folder = join(dir, 'images/pve-9.1');
  mkdirSync(folder, { recursive: true });
  const file = join(folder, 'initrd.img'); // the initrd, as a booting host downloads it
  const fd = openSync(file, 'w');
  if (process.env.BENCH_IMAGE_DENSE) {
    // Real bytes instead of a sparse file (holes may be cheaper to read than data).
    const block = randomBytes(8 * 1024 * 1024);
    for (let at = 0; at < size; at += block.length) writeSync(fd, block, 0, Math.min(block.length, size - at), at);
  } else {
    writeSync(fd, 'start', 0);
    writeSync(fd, 'end', size - 3);
  }
  closeSync(fd);

  const { child: ours, line } = await startChild(join(__dirname, 'gateway-server.js'), ['1', dir], /^listening /);
  const oursUrl = `${line.split(' ')[1]}/images/pve-9.1/initrd.img`;
  const nginxPort = await freePort();
  const nginx = ensureNginx();
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off; worker_processes auto; pid ${dir}/nginx.pid; error_log ${dir}/nginx-error.log;
events { worker_connections 1024; }
http { access_log off; sendfile on; tcp_nopush on; client_body_temp_path ${dir}/nb; proxy_temp_path ${dir}/np; fastcgi_temp_path ${dir}/nf; uwsgi_temp_path ${dir}/nu; scgi_temp_path ${dir}/ns;
  server { listen 127.0.0.1:${nginxPort}; root ${dir}/images; } }
`,
  );
  const nginxProc = spawn(nginx, ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  const rows: Array<Array<string | number>> = [];
  try {
    // nginx prints no ready line: retry the first request until it answers.
    execFileSync('curl', ['-sf', '--retry', '20', '--retry-connrefused', '--retry-delay', '0', '-o', '/dev/null', '-r', '0-0', `http://127.0.0.1:${nginxPort}/pve-9.1/initrd.img`]);
    // Warm both servers and the page cache once, so neither pays the first read.
    await download(oursUrl, 1, () => undefined);
    await download(`http://127.0.0.1:${nginxPort}/pve-9.1/initrd.img`, 1, () => undefined);
    const idleRss = rssMb(ours.pid!);
    for (const parallel of levels) {
      let peak = idleRss;
      const ourRate = await download(oursUrl, parallel, () => (peak = Math.max(peak, rssMb(ours.pid!))));
      const nginxRate = await download(`http://127.0.0.1:${nginxPort}/pve-9.1/initrd.img`, parallel, () => undefined);
      rows.push([parallel, ourRate, nginxRate, `${Math.round((100 * ourRate) / nginxRate)} %`, idleRss, peak]);
    }
  } finally {
    nginxProc.kill('SIGTERM');
    await stop(ours);
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`\nImage serving: ${machine()}; ${Math.round(size / 1024 ** 2)} MiB ${process.env.BENCH_IMAGE_DENSE ? 'dense' : 'sparse'} file, full downloads with curl over loopback\n\n`);
  table(['parallel downloads', 'ours MB/s', 'nginx MB/s', 'ours / nginx', 'gateway RSS idle MB', 'gateway RSS peak MB'], rows);
}

void main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
