// `provisioning backup <file>`: a consistent copy of the service's SQLite database, taken with SQLite's online backup
// API, also while the service runs and writes. What it does not hold (the key-encryption key, the boot images) is
// printed with it; deploy/README.md has the restore steps.
import { join } from 'node:path';
import type { BackupCommand } from '../cli-args';
import { loadConfig, type Config } from '../config/load-config';
import { ConfigError } from '../config/reader';
import { backupDatabase, type BackupReport } from '../store/database-backup';
import { keyEncryptionKeyFile } from './storage';

/**
 * Runs `provisioning backup <file>`: reads the config (creating nothing, unlike the service), writes the backup and
 * prints what it wrote and what it does not hold. Returns the exit status: 0 written, 1 not written, 2 bad config.
 */
export async function runBackupCommand(args: BackupCommand, env: NodeJS.ProcessEnv, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  let config: Readonly<Config>;
  try {
    config = loadConfig(args.config, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    err.write(`${error.message}\nprovisioning: no backup written: fix the configuration above\n`);
    return 2;
  }
  try {
    const report = await backupDatabase(config.database.path, args.file);
    out.write(`${describeBackup(report, config)}\n`);
    return 0;
  } catch (error) {
    err.write(`provisioning: no backup written: ${(error as Error).message}\n`);
    return 1;
  }
}

function describeBackup(r: BackupReport, config: Readonly<Config>): string {
  const key = config.secrets.keyEncryptionKey ? 'secrets.key_encryption_key (or PROVISIONING_KEY_ENCRYPTION_KEY)' : join(config.dataDir, keyEncryptionKeyFile);
  return [
    `wrote ${r.target}: ${r.bytes} bytes, schema version ${r.schemaVersion}, ${r.hosts} ${r.hosts === 1 ? 'host' : 'hosts'} (a consistent copy of ${r.source})`,
    `not in it: the key-encryption key (${key}), without which the stored rebuild keys cannot be read, and the boot images (${config.images.dir}); see deploy/README.md`,
  ].join('\n');
}
