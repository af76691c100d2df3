// `provisioning images prepare <iso-file>`: prepares a boot image under images.dir from a stock Proxmox VE ISO, offline
// (no service, database or Temporal needed). The answer URL written into the ISO is <server.public_url>/api/boot/answer,
// or with server.tls <server.tls.public_url>/api/boot/answer and the certificate's fingerprint.
import type { ImagesPrepareCommand } from '../cli-args';
import { loadConfig, type Config } from '../config/load-config';
import { ConfigError } from '../config/reader';
import { ImagePreparationError, prepareImage, type PrepareProgress, type PreparedImage } from '../images/iso-preparer';
import { newImageToken } from '../images/image-token';
import { createLogger } from '../logging';
import { loadOrCreateTls } from './tls';

const MB = 1024 * 1024;

/**
 * Runs `provisioning images prepare`: reads the config (creating nothing), prepares the image and prints its progress
 * and what it made. Ctrl-C cancels and leaves nothing behind. Returns the exit status: 0 prepared, 1 not prepared,
 * 2 bad config.
 */
export async function runImagesCommand(args: ImagesPrepareCommand, env: NodeJS.ProcessEnv, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  let config: Readonly<Config>;
  try {
    config = loadConfig(args.config, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    err.write(`${error.message}\nprovisioning: no image prepared: fix the configuration above\n`);
    return 2;
  }
  // With server.tls the image fetches its answer over HTTPS, pinning the certificate the service will serve (the
  // self-signed one is generated into <data_dir>/tls/ now if it is not there yet; the service then reuses it).
  let answers: { url: string; certFingerprint: string | null };
  try {
    const tls = await loadOrCreateTls(config, createLogger('silent'));
    answers = tls && config.server.tls
      ? { url: `${config.server.tls.publicUrl}/api/boot/answer`, certFingerprint: args.certFingerprint ?? tls.fingerprint }
      : { url: `${config.server.publicUrl}/api/boot/answer`, certFingerprint: args.certFingerprint };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    err.write(`${error.message}\nprovisioning: no image prepared: fix the configuration above\n`);
    return 2;
  }
  const cancel = new AbortController();
  const onSignal = () => cancel.abort();
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  try {
    const image = await prepareImage({
      iso: args.iso,
      imagesDir: config.images.dir,
      answerUrl: answers.url,
      token: newImageToken(), // written only into a 9.2+ ISO
      ...(args.name === null ? {} : { name: args.name }),
      ...(args.sha256 === null ? {} : { expectedSha256: args.sha256 }),
      ...(answers.certFingerprint === null ? {} : { certFingerprint: answers.certFingerprint }),
      onProgress: progressPrinter(out),
      signal: cancel.signal,
    });
    out.write(`${describeImage(image)}\n`);
    return 0;
  } catch (error) {
    if (!(error instanceof ImagePreparationError)) throw error;
    err.write(`provisioning: no image prepared: ${error.message}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
}

/** One line per step and second at most, and the line that ends each step: `checksum   512 of 1449 MB`. */
function progressPrinter(out: NodeJS.WritableStream): (p: PrepareProgress) => void {
  const last = new Map<string, number>();
  return (p) => {
    const ended = p.bytesDone === p.bytesTotal;
    const now = Date.now();
    if (!ended && now - (last.get(p.step) ?? 0) < 1000) return;
    last.set(p.step, now);
    if (p.step === 'inspect') return void out.write('inspect    reading the ISO\n');
    if (p.step === 'finish') return void out.write('finish     synced and in place\n');
    out.write(`${p.step.padEnd(10)} ${megabytes(p.bytesDone)} of ${megabytes(p.bytesTotal)} MB${ended ? ', done' : ''}\n`);
  };
}

function megabytes(bytes: number): string {
  return bytes < 10 * MB ? (bytes / MB).toFixed(1) : String(Math.round(bytes / MB));
}

function describeImage(image: PreparedImage): string {
  const m = image.metadata;
  const version = [m.release, m.isorelease].filter(Boolean).join('-');
  return [
    `prepared ${image.name} in ${image.dir}: ${m.productLong ?? m.product} ${version}, ISO UUID ${m.isoUuid ?? 'none'}`,
    `  files: ${m.files.kernel}, ${m.files.initrd} (gzip), ${m.files.iso} (answers from ${m.answerUrl}${m.certFingerprint ? `, certificate ${m.certFingerprint}` : ''})`,
    `  source: ${m.source.file}, ${megabytes(m.source.size)} MB, SHA-256 ${m.source.sha256}`,
    ...(m.tokenSha256 ? ['  answer token: in the ISO; the installer sends it, and the answer endpoint requires it'] : []),
    ...image.notes.map((n) => `note: ${n}`),
  ].join('\n');
}
