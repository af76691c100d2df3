// PXE (gateway role): dnsmasq as proxy-DHCP and TFTP next to the LAN's own DHCP server, answering only the MACs on
// the PXE allow-list.
import { lookup } from 'node:dns/promises';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { Config } from '../config/load-config';
import { uefiIpxeProblem } from '../config/setup-checks';
import type { ReadinessCheck } from '../gateway/routes/health';
import type { Logger } from '../logging';
import { unreadableByOthers } from '../pxe/tftp-access';
import { DnsmasqSupervisor, renderDnsmasqConfig, testDnsmasqConfig } from '../pxe/dnsmasq';
import type { PxeAllowList } from '../store/pxe-allow-list';

export interface RunningPxe {
  ready: ReadinessCheck;
  close(): Promise<void>;
}

/** Writes and checks the dnsmasq config, then starts the supervised dnsmasq; throws naming the key to fix. */
export async function startPxe(config: Readonly<Config>, allowList: PxeAllowList, log: Logger): Promise<RunningPxe> {
  const host = new URL(config.server.publicUrl).hostname.replace(/^\[|\]$/g, '');
  const serverIp = isIP(host) ? host : (await lookup(host, { family: 4 })).address;
  for (const file of ['undionly.kpxe', 'ipxe.efi']) {
    if (!existsSync(join(config.pxe.tftpRoot, file))) {
      throw new Error(`${config.file}: pxe.tftp_root: ${config.pxe.tftpRoot} has no ${file} (install Debian's ipxe package or set pxe.tftp_root)`);
    }
  }
  for (const file of ['undionly.kpxe', 'ipxe.efi']) {
    const problem = unreadableByOthers(config.pxe.tftpRoot, file);
    if (problem) throw new Error(`${config.file}: pxe.tftp_root: dnsmasq serves TFTP as nobody, and ${problem}: make it readable (chmod o+rx on the folders, o+r on the file) or copy the files to a folder that is`);
  }
  const uefi = uefiIpxeProblem(config.pxe.tftpRoot);
  if (uefi) log.warn({ tftpRoot: config.pxe.tftpRoot }, `UEFI hosts cannot install: ${uefi}`);
  if (!existsSync(config.pxe.dnsmasqPath)) {
    throw new Error(`${config.file}: pxe.dnsmasq_path: ${config.pxe.dnsmasqPath} does not exist (install Debian's dnsmasq-base or set pxe.dnsmasq_path)`);
  }
  const dir = join(config.dataDir, 'pxe');
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const configFile = join(dir, 'dnsmasq.conf');
  const hostsDir = join(dir, 'hosts');
  const { interface: iface, subnet } = config.pxe;
  const text = renderDnsmasqConfig({ interface: iface, subnet, serverIp, publicUrl: config.server.publicUrl, hostsDir, tftpRoot: config.pxe.tftpRoot, leaseFile: join(dir, 'dnsmasq.leases') });
  writeFileSync(configFile, text, { mode: 0o644 });
  const problem = testDnsmasqConfig(config.pxe.dnsmasqPath, configFile);
  if (problem) throw new Error(`the generated dnsmasq config ${configFile} failed dnsmasq --test: ${problem}`);
  const supervisor = new DnsmasqSupervisor({ binary: config.pxe.dnsmasqPath, configFile, hostsDir, allowedMacs: () => allowList.list().map((a) => a.mac), log });
  allowList.onChange(() => supervisor.sync());
  supervisor.start();
  log.info({ interface: iface, subnet, serverIp }, 'PXE proxy-DHCP running');
  return {
    ready: async () => (supervisor.pid !== null ? null : 'dnsmasq is not running (restarting)'),
    close: () => supervisor.stop(),
  };
}
