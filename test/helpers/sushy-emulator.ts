// The real sushy-emulator (PyPI sushy-tools, pinned in scripts/setup.sh and installed into .tools/sushy-tools) with
// its fake driver: no libvirt, systems from the config file, Basic auth from a bcrypt htpasswd file, HTTPS with a
// certificate from our own builder (so the pin is tested for real), its state in a temp dir (the default is shared
// /tmp/sushy-emulator). What it does not model: a power change lands 1–11 s after the reset (wait with a poll), it
// reports every boot override as Continuous and ignores BootSourceOverrideEnabled, and it sends no ETag.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { certificateFingerprint } from '../../src/tls/certificate';
import { createSelfSignedCertificate } from '../../src/tls/self-signed-certificate';
import { tempDir } from './temp-dir';

const tools = resolve(__dirname, '../../.tools/sushy-tools');
const emulator = join(tools, 'bin/sushy-emulator');

export interface SushySystem {
  uuid: string;
  name: string;
  power: 'On' | 'Off';
}

export interface SushyEmulator {
  url: string; // https://127.0.0.1:<port>
  fingerprint: string;
  username: string;
  password: string;
  systems: SushySystem[];
  stop(): Promise<void>;
}

/** Starts sushy-emulator on a free port of 127.0.0.1 with `systems` (one, powered on, by default). */
export async function startSushyEmulator(systems: SushySystem[] = [{ uuid: '27946b59-9e44-4fa7-8e91-f3527a1ef094', name: 'pve-ms-12', power: 'On' }]): Promise<SushyEmulator> {
  if (!existsSync(emulator)) throw new Error(`${emulator} not found: run make test (scripts/setup.sh --test installs the pinned sushy-tools into .tools/)`);
  const username = 'admin';
  const password = `pw-${Math.random().toString(36).slice(2, 12)}`;
  const dir = tempDir('sushy-');
  const { key, cert } = await createSelfSignedCertificate({ host: '127.0.0.1', validDays: 2 });
  writeFileSync(join(dir.path, 'key.pem'), key);
  writeFileSync(join(dir.path, 'cert.pem'), cert);
  // The interpreter pip installed it for (the script's shebang) has bcrypt, sushy's only password format.
  const python = readFileSync(emulator, 'utf8').split('\n')[0]!.replace(/^#!/, '').trim();
  const env = { ...process.env, PYTHONPATH: tools };
  const hash = execFileSync(python, ['-c', 'import bcrypt, sys; print(bcrypt.hashpw(sys.argv[1].encode(), bcrypt.gensalt(4)).decode())', password], { env, encoding: 'utf8' }).trim();
  writeFileSync(join(dir.path, 'htpasswd'), `${username}:${hash}\n`);
  const py = (v: unknown) => JSON.stringify(v).replace(/\btrue\b/g, 'True').replace(/\bfalse\b/g, 'False');
  writeFileSync(
    join(dir.path, 'emulator.conf'),
    [
      `SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'`,
      'SUSHY_EMULATOR_LISTEN_PORT = 0', // werkzeug binds a free port and prints it
      `SUSHY_EMULATOR_SSL_CERT = ${py(join(dir.path, 'cert.pem'))}`,
      `SUSHY_EMULATOR_SSL_KEY = ${py(join(dir.path, 'key.pem'))}`,
      `SUSHY_EMULATOR_AUTH_FILE = ${py(join(dir.path, 'htpasswd'))}`,
      `SUSHY_EMULATOR_STATE_DIR = ${py(join(dir.path, 'state'))}`,
      'SUSHY_EMULATOR_FAKE_DRIVER = True',
      `SUSHY_EMULATOR_FAKE_SYSTEMS = ${py(systems.map((s) => ({ uuid: s.uuid, name: s.name, power_state: s.power, nics: [] })))}`,
      '',
    ].join('\n'),
  );

  const child = spawn(emulator, ['--config', join(dir.path, 'emulator.conf')], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(timer);
    }
    dir.remove();
  };
  let output = '';
  const url = await new Promise<string | null>((resolveUrl) => {
    const timer = setTimeout(() => resolveUrl(null), 20_000);
    child.stderr!.on('data', (c: Buffer) => {
      output += c.toString();
      const m = /Running on (https:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]!);
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      resolveUrl(null);
    });
  });
  if (!url) {
    await stop();
    throw new Error(`sushy-emulator did not start: ${output.trim() || 'no output'}`);
  }
  child.stderr!.resume(); // its request log; keep the pipe drained
  return { url, fingerprint: certificateFingerprint(cert), username, password, systems, stop };
}
