// The script that removes the old node's root key line from the cluster's authorized_keys after a member's join
// (activities/member-rebuild.ts), run with bash on real files: every line it must keep, the ones it must drop.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { oldKeyScript } from '../../activities/member-rebuild';
import { tempDir } from '../helpers/temp-dir';

const own = 'ssh-rsa AAAAnewKeyOfTheRebuiltNode root@pve2';
const old = 'ssh-rsa AAAAoldKeyFromBeforeTheReinstall root@pve2';
const pve1 = 'ssh-rsa AAAApve1Key root@pve1';
const dirs: Array<{ remove(): void }> = [];
afterEach(() => dirs.splice(0).forEach((d) => d.remove()));

function run(content: string): { out: string; err: string; code: number | null; after: string; files: string[]; mode: number } {
  const dir = tempDir('old-key-');
  dirs.push(dir);
  writeFileSync(join(dir.path, 'id_rsa.pub'), `${own}\n`);
  const file = join(dir.path, 'authorized_keys');
  writeFileSync(file, content);
  chmodSync(file, 0o600);
  const r = spawnSync('bash', ['-c', oldKeyScript, 'sh', join(dir.path, 'id_rsa.pub'), 'pve2', file], { encoding: 'utf8' });
  return { out: r.stdout, err: r.stderr, code: r.status, after: readFileSync(file, 'utf8'), files: readdirSync(dir.path).sort(), mode: statSync(file).mode & 0o777 };
}

describe('removing the old node key line', () => {
  it('drops the old root@pve2 line by its key and keeps the new one and every other', () => {
    const r = run(`${pve1}\n${old}\n${own}\n`);
    expect(r).toMatchObject({ code: 0, out: 'removed 1\n', after: `${pve1}\n${own}\n`, files: ['authorized_keys', 'id_rsa.pub'], mode: 0o600 });
    expect(r.err).toBe(`${old}\n`);
  });

  it('handles a last line without a newline', () => {
    expect(run(`${old}\n${own}\n${pve1}`)).toMatchObject({ out: 'removed 1\n', after: `${own}\n${pve1}\n` });
  });

  it('finds the key after options, and never drops the new key written with options', () => {
    const r = run(`from="10.0.0.0/8",no-pty ${own}\ncommand="/bin/true" ${old}\n`);
    expect(r).toMatchObject({ out: 'removed 1\n', after: `from="10.0.0.0/8",no-pty ${own}\n` });
  });

  it('keeps comments, blank lines and lines without a comment', () => {
    const content = `# ${old}\n   # root@pve2\n\nssh-rsa AAAAnoComment\n${old}\n`;
    expect(run(content)).toMatchObject({ out: 'removed 1\n', after: `# ${old}\n   # root@pve2\n\nssh-rsa AAAAnoComment\n` });
  });

  it('reads CRLF lines like the others', () => {
    expect(run(`${pve1}\r\n${old}\r\n${own}\r\n`)).toMatchObject({ out: 'removed 1\n', after: `${pve1}\r\n${own}\r\n` });
  });

  it('changes nothing when there is no old line', () => {
    expect(run(`${pve1}\n${own}\n`)).toMatchObject({ code: 0, out: 'removed 0\n', after: `${pve1}\n${own}\n` });
  });
});
