// ipxeBuildOf on this machine's iPXE binaries and on made-up ones: the build date decides whether UEFI hosts get
// their initrds.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ipxeBuildOf, uefiInitrdProblem } from '../../src/pxe/ipxe-build';
import { tempDir } from '../helpers/temp-dir';

const dir = tempDir('ipxe-build-');
afterAll(() => dir.remove());

/** A file of binary noise with `version` in the middle, like a firmware image. */
function binaryWith(version: string): string {
  const file = join(dir.path, `ipxe-${version.length}-${Math.random().toString(16).slice(2)}.efi`);
  writeFileSync(file, Buffer.concat([Buffer.from([0x4d, 0x5a, 0, 0xff, 0x13]), Buffer.from(`\u0000ipxe\u0000${version}\u0000https://ipxe.org\u0000`, 'latin1'), Buffer.alloc(64, 0xee)]));
  return file;
}

describe('ipxeBuildOf', () => {
  it('reads a Debian build and its snapshot date: trixie\u2019s is new enough for UEFI, bookworm\u2019s is not', () => {
    expect(ipxeBuildOf(binaryWith('1.21.1+git20250501.dad20602+dfsg-1'))).toEqual({ version: '1.21.1+git20250501.dad20602+dfsg-1', date: '2025-05-01', uefiInitrd: true });
    const old = binaryWith('1.0.0+git-20190125.36a4c85-5.1');
    expect(ipxeBuildOf(old)).toEqual({ version: '1.0.0+git-20190125.36a4c85-5.1', date: '2019-01-25', uefiInitrd: false });
    expect(uefiInitrdProblem(old, ipxeBuildOf(old))).toBe(
      `${old} is iPXE 1.0.0+git-20190125.36a4c85-5.1, which boots UEFI hosts\u2019 kernels without their initrd (the installer cannot start): install Debian trixie\u2019s ipxe package (1.21.1+git20250501 or newer) or point pxe.tftp_root at a folder with an iPXE built after 2023-02-15; BIOS hosts are not affected`,
    );
    expect(ipxeBuildOf(binaryWith('1.21.1+git-20220113.fbbdc3926-0ubuntu1')).uefiInitrd).toBe(false); // Ubuntu 22.04's
  });

  it('cannot tell the date of an upstream 1.x build, and trusts a 2.x one', () => {
    const upstream = binaryWith('1.21.1+ (g4bffe0f0)');
    expect(ipxeBuildOf(upstream)).toEqual({ version: '1.21.1+ (g4bffe0f0)', date: null, uefiInitrd: null });
    expect(uefiInitrdProblem(upstream, ipxeBuildOf(upstream))).toMatch(/does not say|may be older than 2023-02-15/);
    expect(ipxeBuildOf(binaryWith('2.0.0+ (g1234567)')).uefiInitrd).toBe(true);
    expect(ipxeBuildOf(binaryWith('no version here'))).toEqual({ version: null, date: null, uefiInitrd: null });
  });

  it.runIf(existsSync('/usr/lib/ipxe/ipxe.efi'))('reads the ipxe.efi installed here', () => {
    const build = ipxeBuildOf('/usr/lib/ipxe/ipxe.efi');
    expect(build.version).toMatch(/^\d+\.\d+\.\d+\+git/);
    expect(build.date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });
});
