// unreadableByOthers: what keeps dnsmasq (TFTP as nobody) from serving the iPXE binaries. Real: the file system.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { unreadableByOthers } from '../../src/pxe/tftp-access';
import { tempDir } from '../helpers/temp-dir';

let dir: ReturnType<typeof tempDir>;
afterEach(() => dir.remove());

describe('unreadableByOthers', () => {
  it('passes a world-readable file in searchable folders, and names a private folder or file', () => {
    dir = tempDir('tftp-access-');
    chmodSync(dir.path, 0o755);
    const root = join(dir.path, 'tftp');
    mkdirSync(root, { mode: 0o755 });
    writeFileSync(join(root, 'ipxe.efi'), 'x', { mode: 0o644 });
    expect(unreadableByOthers(root, 'ipxe.efi')).toBeNull();
    chmodSync(join(root, 'ipxe.efi'), 0o600);
    expect(unreadableByOthers(root, 'ipxe.efi')).toBe(`${join(root, 'ipxe.efi')} (mode 0600) is not readable by others`);
    chmodSync(join(root, 'ipxe.efi'), 0o644);
    chmodSync(dir.path, 0o700); // as mktemp -d makes it
    expect(unreadableByOthers(root, 'ipxe.efi')).toBe(`${dir.path} (mode 0700) is not searchable by others`);
    chmodSync(dir.path, 0o755);
  });

  it('passes the iPXE binaries Debian installs', () => {
    dir = tempDir('tftp-access-');
    expect(unreadableByOthers('/usr/lib/ipxe', 'undionly.kpxe')).toBeNull();
  });
});
