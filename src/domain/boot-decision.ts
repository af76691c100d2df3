// Default-deny boot decisions: a machine is told to install only on an explicit, current allowance.
import type { Host } from './host';
import type { HostState } from './host-state-machine';
import { rebuildWorkflowId } from './rebuild-ids';

/** States in which the installer may still be (re)booted: nothing has been written to the disk yet. */
const installableStates: readonly HostState[] = ['pxe_ready', 'pxe_booted'];

/** Rebuild states after the answer file was served: the installer has (or had) the disk. */
const pastInstallStates: readonly HostState[] = ['installing', 'installed', 'first_boot', 'joining'];

export type BootDecision = { action: 'install' } | { action: 'local-disk'; reason: string };

/**
 * Decides what a PXE-booting MAC gets. Install only when the host exists, its MAC is allowed by *its own* running
 * rebuild (workflow `rebuild-<id>`), and the rebuild has not yet served the answer file.
 */
export function decideBoot(host: Host | undefined, allowance: { workflowId: string } | undefined): BootDecision {
  if (!host) return { action: 'local-disk', reason: 'unknown MAC' };
  if (!allowance) return { action: 'local-disk', reason: `no rebuild allows PXE for ${host.hostname} (state ${host.state})` };
  if (allowance.workflowId !== rebuildWorkflowId(host.id)) {
    return { action: 'local-disk', reason: `PXE allowance belongs to ${allowance.workflowId}, not to ${host.hostname}'s rebuild` };
  }
  if (!installableStates.includes(host.state)) {
    return { action: 'local-disk', reason: `${host.hostname} is ${host.state}: past the point where the installer may boot` };
  }
  return { action: 'install' };
}

/** One link of an explanation: a check the boot decision (or the boot endpoint after it) depends on. */
export interface BootCheck {
  check: 'registered' | 'rebuild' | 'pxe_allowed' | 'state' | 'server_type' | 'image';
  ok: boolean;
  detail: string;
}

/** The boot image a host's server type picks, as found on disk (gathered by the caller). */
export interface BootImageFacts {
  dir: string; // /var/lib/provisioning/images
  serverType: { key: string; known: boolean; image: string | null }; // image: the pinned name, null → the newest
  found: { name: string; files: readonly string[]; staleReasons: readonly string[] | null; cannotFetchAnswer: boolean } | null;
  missingFiles: readonly string[] | null; // the pinned image's folder exists but lacks these; null: no such folder (or none pinned)
}

/** What explainBoot reads: the same facts the boot endpoint reads, plus who else holds the allowance. */
export interface BootFacts {
  mac: string; // aa:bb:cc:dd:ee:03
  host: Host | undefined;
  allowance: { workflowId: string; hostId: number; allowedAt: string } | undefined;
  allowanceHolder: { id: number; hostname: string } | undefined; // the host whose rebuild the allowance is for, when it is another one
  rebuild: { operationId: number; workflowId: string; stage: string | null } | undefined; // the host's running operation
  image: BootImageFacts | undefined; // undefined for an unknown MAC
}

/** What a MAC would get if it booted now, and the checks that say why. */
export interface BootExplanation {
  decision: BootDecision;
  reason: string; // the local-disk reason as the boot endpoint gives it, or why it installs
  chain: BootCheck[];
}

/** Returns the reason the boot endpoint gives when the host's image is missing (it boots the disk instead). */
export function noImageReason(image: BootImageFacts): string {
  return `no boot image${image.serverType.image ? ` named ${image.serverType.image}` : ''} in ${image.dir}`;
}

/**
 * Explains what `facts.mac` gets if it PXE boots now. The decision is decideBoot's, then the boot endpoint's one
 * step after it (no image: local disk); the chain lists every check with what it found.
 */
export function explainBoot(facts: BootFacts): BootExplanation {
  const { host, allowance, rebuild, image } = facts;
  const chain: BootCheck[] = [];
  const decided = decideBoot(host, allowance);
  if (!host) {
    chain.push({ check: 'registered', ok: false, detail: `no registered host has MAC ${facts.mac}: it boots its local disk (register it with POST /api/hosts, then start a rebuild)` });
    return { decision: decided, reason: reasonOf(decided, ''), chain };
  }
  chain.push({ check: 'registered', ok: true, detail: `host ${host.id}, ${host.hostname} (server type ${host.serverType})` });
  chain.push(
    rebuild
      ? { check: 'rebuild', ok: true, detail: `rebuild running: operation ${rebuild.operationId}, workflow ${rebuild.workflowId}${rebuild.stage ? `, stage ${rebuild.stage}` : ''}` }
      : { check: 'rebuild', ok: false, detail: `no rebuild running for ${host.hostname} (start one with POST /api/hosts/${host.id}/rebuild)` },
  );
  const own = rebuildWorkflowId(host.id);
  if (!allowance) {
    chain.push({ check: 'pxe_allowed', ok: false, detail: `${facts.mac} is not on the PXE allow-list (a rebuild puts it there at pxe_ready and takes it off when the installer reports or the rebuild ends)` });
  } else if (allowance.workflowId !== own) {
    const holder = facts.allowanceHolder ? `host ${facts.allowanceHolder.id}, ${facts.allowanceHolder.hostname}` : `host ${allowance.hostId}, no longer registered`;
    chain.push({ check: 'pxe_allowed', ok: false, detail: `on the PXE allow-list since ${allowance.allowedAt} for ${allowance.workflowId} (${holder}), not for ${host.hostname}'s rebuild ${own}` });
  } else {
    chain.push({ check: 'pxe_allowed', ok: true, detail: `on the PXE allow-list since ${allowance.allowedAt} for ${own}, ${host.hostname}'s own rebuild` });
  }
  const installable = installableStates.includes(host.state);
  const pastInstall = pastInstallStates.includes(host.state);
  chain.push({
    check: 'state',
    ok: installable,
    detail: installable
      ? `${host.hostname} is ${host.state}: the installer may boot`
      : `${host.hostname} is ${host.state}${pastInstall ? ': past the point where the installer may boot (its answer file was served)' : ''}; the installer boots only at ${installableStates.join(' or ')}`,
  });
  if (image) chain.push(...imageChecks(image));
  if (decided.action === 'install' && image && !image.found) {
    const decision: BootDecision = { action: 'local-disk', reason: noImageReason(image) };
    return { decision, reason: decision.reason, chain };
  }
  const installs = `${host.hostname} is ${host.state} and its own rebuild (${own}) allows PXE: it gets the installer${image?.found ? ` of image ${image.found.name}` : ''}`;
  return { decision: decided, reason: reasonOf(decided, installs), chain };
}

const reasonOf = (d: BootDecision, installs: string): string => (d.action === 'local-disk' ? d.reason : installs);

function imageChecks(image: BootImageFacts): BootCheck[] {
  const t = image.serverType;
  const pick = t.image ? `image ${t.image}` : 'the newest image';
  const serverType: BootCheck = t.known
    ? { check: 'server_type', ok: true, detail: `${t.key} boots ${pick}` }
    : { check: 'server_type', ok: false, detail: `server type ${t.key} is not defined in server-types.yaml: the installer would boot ${pick}, but its answer file would be refused` };
  const found = image.found;
  if (!found) {
    const detail = image.missingFiles
      ? `${t.image} in ${image.dir} lacks ${image.missingFiles.join(', ')}: not a boot image (a folder needs vmlinuz, initrd.img and an .iso)`
      : `${noImageReason(image)}: the host would boot its local disk`;
    return [serverType, { check: 'image', ok: false, detail }];
  }
  const files = `${found.name} in ${image.dir}: ${found.files.join(', ')}`;
  const stale = found.staleReasons ?? [];
  if (stale.length === 0) return [serverType, { check: 'image', ok: true, detail: `${files}${found.staleReasons === null ? ' (made by hand: not checked for staleness)' : ''}` }];
  const effect = found.cannotFetchAnswer ? 'its installer cannot fetch an answer file; prepare it again' : 'it still fetches its answer, unpinned; prepare it again';
  return [serverType, { check: 'image', ok: false, detail: `${files}; stale: ${stale.join('; ')} (${effect})` }];
}
