// GET /api/hosts/{id}/preview: the iPXE script, answer file and first-boot script a host's next rebuild would serve
// it, rendered by the same renderers as the boot service, with the secrets redacted, and every problem found before
// a machine is touched. It starts nothing, issues no boot token and writes nothing.
import type { InstallSettings } from '../config/load-config';
import type { Host } from '../domain/host';
import type { BootImage } from '../images/image-library';
import { noImageReason } from '../domain/boot-decision';
import { answerInputFor, buildAnswer, installerSupportsAuthToken, renderAnswerFile } from './answer-file';
import { validateAnswer } from './answer-validator';
import { bootImageOf, type BootExplainDeps } from './explain';
import { renderFirstBootScript } from './first-boot-script';
import { renderInstallScript, renderLocalBootScript } from './ipxe-script';

/** What a preview reads: the boot service's settings, the host, its server type and image. */
export interface PreviewDeps extends Pick<BootExplainDeps, 'serverTypes' | 'images' | 'answerSettings'> {
  publicUrl: string; // http://192.168.1.100:8080
  https?: { publicUrl: string; certFingerprint: string } | null | undefined;
  install: InstallSettings;
  rootPasswordHash: string;
  firstBootDeadlineSeconds: number;
  rebuildBlockers?: (() => string[]) | undefined; // config keys a rebuild needs that are not set
}

/** Stands in for a boot token in the URLs: the next rebuild's token does not exist yet, and a token is a secret. */
export const redactedToken = '<redacted>';
/** Stands in for credentials.root_password_hash in the answer file. */
export const redactedPasswordHash = '<redacted: credentials.root_password_hash>';

/** Which part of the preview a problem is about. */
export type PreviewPart = 'rebuild' | 'image' | 'ipxe' | 'answer' | 'first_boot';

/** What a host's next rebuild would serve it. */
export interface HostPreview {
  host: Host;
  image: BootImage | undefined;
  ipxe: string; // the install script, or the local-disk script when there is no image
  answer: string | null; // TOML, redacted; null when it cannot be built (unknown server type)
  firstBoot: string;
  problems: { part: PreviewPart; message: string }[];
  redacted: string[]; // what was replaced, in words
  notes: string[];
}

/** Returns the next rebuild's boot texts for `host` with secrets redacted and every problem found; changes nothing. */
export function previewHost(deps: PreviewDeps, host: Host): HostPreview {
  const problems: HostPreview['problems'] = [];
  const notes: string[] = ['root-ssh-keys holds a placeholder: each rebuild generates its own key pair when it starts'];
  const blockers = deps.rebuildBlockers?.() ?? [];
  if (blockers.length > 0) problems.push({ part: 'rebuild', message: `a rebuild would be refused now (409 not_configured): ${blockers.join(', ')} not set (the Setup page, /setup, says how)` });

  const { image, facts } = bootImageOf(deps, host);
  let ipxe: string;
  if (image) {
    const base = `${deps.publicUrl}/images/${encodeURIComponent(image.name)}`;
    ipxe = renderInstallScript({ hostname: host.hostname, mac: host.mac, imageName: image.name, kernelUrl: `${base}/${image.kernel}`, initrdUrl: `${base}/${image.initrd}`, isoUrl: `${base}/${encodeURIComponent(image.iso)}` });
    const stale = facts.found?.staleReasons ?? [];
    if (stale.length > 0) {
      const effect = facts.found?.cannotFetchAnswer ? 'its installer cannot fetch the answer file' : 'its installer fetches the answer unpinned';
      problems.push({ part: 'image', message: `image ${image.name} is stale (${effect}; prepare it again): ${stale.join('; ')}` });
    }
  } else {
    ipxe = renderLocalBootScript();
    const why = facts.missingFiles ? `${facts.serverType.image} in ${facts.dir} lacks ${facts.missingFiles.join(', ')}` : noImageReason(facts);
    problems.push({ part: 'ipxe', message: `${why}: the host would get the local-disk script and boot its old system` });
  }

  // The same URLs the boot service writes, over HTTPS when it listens; the token only as a placeholder.
  const https = deps.https ?? null;
  const hostUrl = `${https?.publicUrl ?? deps.publicUrl}/api/hosts/${host.id}`;
  const bodyToken = https !== null && installerSupportsAuthToken({ macs: [], isoRelease: image?.metadata?.release ?? undefined });
  if (https !== null) {
    notes.push(
      bodyToken
        ? `image ${image!.name} is Proxmox VE ${image!.metadata!.release}: its installer gets the webhook's token as auth-token`
        : 'the webhook token is in its URL (?token=); an installer of 9.2 or newer gets it as auth-token instead, which it tells in its answer request',
    );
  }
  const serverType = deps.serverTypes.get(host.serverType);
  let answer: string | null = null;
  if (!serverType) {
    problems.push({ part: 'answer', message: `server type ${host.serverType} is not defined in server-types.yaml: no answer file can be built (the installer would be refused one)` });
  } else {
    const input = answerInputFor({
      hostname: host.hostname,
      install: deps.install,
      rootPasswordHash: deps.rootPasswordHash,
      rebuildPublicKey: `ssh-ed25519 <the public half of the key the rebuild generates> provisioning-rebuild-${host.hostname}`,
      serverType,
      hostUrl,
      token: redactedToken,
      bodyToken,
      certFingerprint: https?.certFingerprint,
    });
    // Validated with the real hash (its form is a rule), rendered without it.
    for (const p of validateAnswer(buildAnswer(input))) problems.push({ part: 'answer', message: p });
    answer = renderAnswerFile({ ...input, rootPasswordHash: deps.rootPasswordHash === '' ? '' : redactedPasswordHash });
  }

  const firstBoot = renderFirstBootScript({
    hostname: host.hostname,
    phoneHomeUrl: `${deps.publicUrl}/api/hosts/${host.id}/phone-home?token=${redactedToken}`,
    serverHost: new URL(deps.publicUrl).hostname.replace(/^\[|\]$/g, ''),
    deadlineSeconds: deps.firstBootDeadlineSeconds,
  });
  const redacted = [
    'global.root-password-hashed (credentials.root_password_hash)',
    `the boot token in the webhook, first-boot and phone-home URLs${bodyToken ? ' and post-installation-webhook.auth-token' : ''} (a rebuild's own token, made when it starts)`,
  ];
  return { host, image, ipxe, answer, firstBoot, problems, redacted, notes };
}
