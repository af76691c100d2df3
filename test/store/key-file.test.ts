// Real: files in a temporary directory, and several node processes racing to create the same key file (what the
// gateway and worker roles do when they start together on a fresh data dir).
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadOrCreateKeyFile } from '../../src/store/key-file';
import { tempDir } from '../helpers/temp-dir';

let dir: ReturnType<typeof tempDir>;
afterEach(() => dir.remove());

/** Runs the built loadOrCreateKeyFile in `count` processes that all start the call at the same wall-clock instant. */
async function raceProcesses(file: string, count: number): Promise<Array<{ code: number | null; stdout: string; stderr: string }>> {
  const module = resolve('dist/src/store/key-file.js');
  const startAt = Date.now() + 1500; // every process is loaded and spinning by then
  const script = `
    const { loadOrCreateKeyFile } = require(${JSON.stringify(module)});
    while (Date.now() < ${startAt}) {}
    const { key, created } = loadOrCreateKeyFile(${JSON.stringify(file)});
    process.stdout.write(JSON.stringify({ key: key.toString('hex'), created }));`;
  return Promise.all(
    Array.from({ length: count }, () => new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => done({ code, stdout, stderr }));
    })),
  );
}

describe('loadOrCreateKeyFile', () => {
  it('generates a 32-byte key once, private to the owner, and reads the same key afterwards', () => {
    dir = tempDir();
    const file = join(dir.path, 'data', 'rebuild-key-encryption.key');
    const first = loadOrCreateKeyFile(file);
    expect(first.created).toBe(true);
    expect(first.key).toHaveLength(32);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toBe(first.key.toString('hex') + '\n');
    const second = loadOrCreateKeyFile(file);
    expect(second).toEqual({ key: first.key, created: false });
    expect(readdirSync(join(dir.path, 'data'))).toEqual(['rebuild-key-encryption.key']);
  });

  it('refuses a damaged key file, naming it, and leaves it as it was', () => {
    dir = tempDir();
    const file = join(dir.path, 'rebuild-key-encryption.key');
    writeFileSync(file, 'not a key\n');
    expect(() => loadOrCreateKeyFile(file)).toThrow(`${file}: expected 64 hex characters (a 32-byte key)`);
    expect(readFileSync(file, 'utf8')).toBe('not a key\n');
  });

  it('gives every process the same key when several create it at the same moment', async () => {
    dir = tempDir();
    const file = join(dir.path, 'data', 'rebuild-key-encryption.key');
    const results = await raceProcesses(file, 6);
    for (const r of results) expect(r.stderr, r.stderr).toBe('');
    expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0, 0, 0]);
    const outcomes = results.map((r) => JSON.parse(r.stdout) as { key: string; created: boolean });
    expect(new Set(outcomes.map((o) => o.key)).size).toBe(1);
    expect(outcomes.filter((o) => o.created)).toHaveLength(1);
    expect(readFileSync(file, 'utf8')).toBe(outcomes[0]!.key + '\n');
    expect(readdirSync(join(dir.path, 'data'))).toEqual(['rebuild-key-encryption.key']);
  });
});
