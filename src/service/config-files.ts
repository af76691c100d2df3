// First run and the configuration: the example files copied into place when missing, then the config loaded.
import { copyFileSync, existsSync, mkdirSync, renameSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { defaultConfigFile } from '../cli-args';
import { loadConfig, type Config } from '../config/load-config';

// src/service/ → project root, also from dist/src/service/.
const projectRoot = resolve(__dirname, __dirname.includes('/dist/') ? '../../..' : '../..');

/** Copies deploy/<example> to `target` when it is missing; returns a line to log, or null. */
function createFromExample(target: string, example: string): string | null {
  if (existsSync(target)) return null;
  mkdirSync(dirname(resolve(target)), { recursive: true });
  // Copy, then rename into place: a second process starting now reads the whole file or none of it.
  const temporary = `${target}.${process.pid}.tmp`;
  copyFileSync(join(projectRoot, 'deploy', example), temporary);
  renameSync(temporary, target);
  return `created ${relative(process.cwd(), resolve(target)) || target} from deploy/${example}; edit it for your network`;
}

/**
 * Loads the config in `file` (throws ConfigError naming the file and keys). On first run, the default config file and
 * the server types file beside it are created from the examples in deploy/; `notes` says what was created.
 */
export function loadConfigFiles(file: string, env: NodeJS.ProcessEnv): { config: Readonly<Config>; notes: string[] } {
  const notes: string[] = [];
  if (resolve(file) === resolve(defaultConfigFile)) notes.push(createFromExample(file, 'provisioning.example.yaml') ?? '');
  const config = loadConfig(file, env);
  if (config.serverTypesFile === resolve(dirname(config.file), 'server-types.yaml')) {
    notes.push(createFromExample(config.serverTypesFile, 'server-types.example.yaml') ?? '');
  }
  return { config, notes: notes.filter(Boolean) };
}
