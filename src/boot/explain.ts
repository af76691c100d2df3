// GET /api/boot/explain: what a MAC would get if it PXE booted now, and why. It reads the stores the boot service
// reads and asks the same pure decision (src/domain/boot-decision.ts); it writes nothing and tells no rebuild.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ServerTypeRegistry } from '../config/server-types';
import { explainBoot, type BootExplanation, type BootImageFacts } from '../domain/boot-decision';
import type { Host } from '../domain/host';
import type { MacAddress } from '../domain/mac-address';
import { isImageName, type BootImage, type ImageLibrary } from '../images/image-library';
import { cannotFetchAnswer, staleReasons, type AnswerSettings } from '../images/image-staleness';
import type { HostStore } from '../store/host-store';
import type { OperationStore } from '../store/operation-store';
import type { PxeAllowList } from '../store/pxe-allow-list';

/** What explaining reads (never writes). */
export interface BootExplainDeps {
  hosts: Pick<HostStore, 'findByMac' | 'find'>;
  operations: Pick<OperationStore, 'running'>;
  pxeAllowList: Pick<PxeAllowList, 'find'>;
  serverTypes: Pick<ServerTypeRegistry, 'get'>;
  images: Pick<ImageLibrary, 'choose' | 'dir'>;
  answerSettings: () => AnswerSettings; // where answers are served now: a stale image's installer asks elsewhere
}

/** A MAC's explanation with the host it belongs to and the image it would boot. */
export interface MacExplanation extends BootExplanation {
  mac: MacAddress;
  host: Host | undefined;
  image: BootImage | undefined;
  rebuild: { operationId: number; workflowId: string; stage: string | null } | undefined;
}

/** Returns the boot image `host` would get (the boot service's choice) and what was found about it on disk. */
export function bootImageOf(deps: Pick<BootExplainDeps, 'serverTypes' | 'images' | 'answerSettings'>, host: Host): { image: BootImage | undefined; facts: BootImageFacts } {
  const serverType = deps.serverTypes.get(host.serverType);
  const wanted = serverType?.image ?? null;
  const image = deps.images.choose(wanted);
  const stale = image ? staleReasons(image, deps.answerSettings()) : null;
  return {
    image,
    facts: {
      dir: deps.images.dir,
      serverType: { key: host.serverType, known: serverType !== undefined, image: wanted },
      found: image ? { name: image.name, files: [image.kernel, image.initrd, image.iso], staleReasons: stale, cannotFetchAnswer: cannotFetchAnswer(image, deps.answerSettings()) } : null,
      missingFiles: image || wanted === null ? null : missingFiles(join(deps.images.dir, wanted), wanted),
    },
  };
}

/** The files a pinned image's folder lacks, or null when there is no such folder. */
function missingFiles(folder: string, name: string): string[] | null {
  if (!isImageName(name) || !existsSync(folder)) return null;
  let files: string[];
  try {
    files = readdirSync(folder);
  } catch {
    return null;
  }
  const missing = ['vmlinuz', 'initrd.img'].filter((f) => !files.includes(f));
  if (!files.some((f) => f.endsWith('.iso'))) missing.push('an .iso');
  return missing;
}

/** Explains what `mac` gets if it PXE boots now; reads the stores and the image folder, changes nothing. */
export function explainMac(deps: BootExplainDeps, mac: MacAddress): MacExplanation {
  const host = deps.hosts.findByMac(mac);
  const allowance = deps.pxeAllowList.find(mac);
  const running = host ? deps.operations.running(host.id) : undefined;
  const rebuild = running && { operationId: running.id, workflowId: running.workflowId, stage: running.stage };
  const holder = allowance && allowance.hostId !== host?.id ? deps.hosts.find(allowance.hostId) : undefined;
  const image = host ? bootImageOf(deps, host) : undefined;
  const explanation = explainBoot({
    mac,
    host,
    allowance: allowance && { workflowId: allowance.workflowId, hostId: allowance.hostId, allowedAt: allowance.allowedAt },
    allowanceHolder: holder && { id: holder.id, hostname: holder.hostname },
    rebuild,
    image: image?.facts,
  });
  return { ...explanation, mac, host, image: image?.image, rebuild };
}
