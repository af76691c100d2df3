import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import {
  checkDomain,
  checkDuration,
  checkEmail,
  checkFingerprint,
  checkHostOrIp,
  checkHostPort,
  checkHttpUrl,
  checkInterfaceName,
  checkIpv4Cidr,
  checkListen,
  checkPasswordHash,
  checkTimezone,
  parseListen,
} from './formats';
import { keyboards } from '../domain/installer-rules';
import { defaultPowerRetries, memberStepDefaults, type RebuildTimeouts } from '../domain/rebuild';
import { ConfigError, Reader, yamlErrorLines } from './reader';
import { readNotifications, type NotificationTarget } from './notifications';

/** Values every answer file carries (proxmox.md §1.1). */
export interface InstallSettings {
  domain: string; // home.arpa → fqdn pve-ms-03.home.arpa
  country: string; // us (ISO 3166 alpha-2, lower-case)
  keyboard: string; // en-us
  timezone: string; // UTC or an IANA zone
  mailto: string; // root@home.arpa
}

/** The HTTPS listener of the boot API (`server.tls`); installers pin its certificate's SHA-256 fingerprint. */
export interface TlsSettings {
  listen: { host: string; port: number }; // 0.0.0.0:8443
  publicUrl: string; // https://192.168.1.100:8443 (no trailing slash): what hosts call over HTTPS
  certFile: string | null; // absolute path of a PEM certificate (chain); null → self-signed, kept in <data_dir>/tls/
  keyFile: string | null; // absolute path of its PEM private key; null with certFile
}

/** The service configuration, validated and frozen. Secrets may come from the environment only. */
export interface Config {
  file: string; // absolute path of the file it came from
  dataDir: string; // ./data → SQLite, Temporal's database, rebuild-key encryption key
  server: {
    listen: { host: string; port: number };
    publicUrl: string; // http://192.168.1.100:8080 (no trailing slash)
    apiToken: string; // '' → operator API open (a warning is logged)
    metricsToken: string; // a bearer token for GET /metrics only (secret); '' → /metrics takes the operator's auth
    tls: TlsSettings | null; // null → no HTTPS listener (server.tls.listen empty, the default)
  };
  pxe: { enabled: boolean; interface: string; subnet: string; dnsmasqPath: string; tftpRoot: string };
  proxmox: {
    existingNode: string; // 192.168.1.10
    joinFingerprint: string; // AA:BB:… upper-case
    joinPassword: string; // root@pam password of the existing node (secret)
    sshPort: number; // 22: SSH port of newly installed hosts
    maxParallelJoins: number; // 4: joins (and key removals) over SSH running at once; the rest wait their turn
    corosyncConf: string; // /etc/pve/corosync.conf on the new node: present once it is in a cluster
    authorizedKeysFiles: string[]; // where the rebuild key is removed from on the new node
    apiToken: string; // USER@REALM!TOKENID=SECRET for the cluster API (secret); empty: the cluster is not checked
    apiPort: number; // 8006: the cluster API's port on the members
  };
  credentials: { rootPasswordHash: string };
  infrastructure: { baseUrl: string; serverTypeMap: Readonly<Record<string, string>> };
  database: { path: string };
  temporal: {
    address: string; // '' → start the embedded dev server
    namespace: string;
    taskQueue: string;
    maxCachedWorkflows: number | null; // the worker's workflow cache; 0 = no cache; null = the SDK's default
    uiUrl: string; // link target for the Web UI
    devServer: { ip: string; port: number; uiPort: number; cliPath: string; dbPath: string };
  };
  serverTypesFile: string;
  images: { dir: string }; // <dir>/<image name>/{vmlinuz, initrd.img, *.iso}
  install: InstallSettings;
  secrets: { keyEncryptionKey: string }; // '' → generated once into dataDir
  timeouts: RebuildTimeouts;
  audit: { retention: string }; // how long audit entries (operator actions, boot decisions) are kept: '30d'
  telemetry: { otlpEndpoint: string }; // '' → no tracing; else the OTLP/HTTP endpoint traces are sent to
  notifications: readonly NotificationTarget[]; // where rebuild outcomes are sent (src/config/notifications.ts); [] → none
}

/** Environment variables the configuration reads (they win over the file); nothing else reads process.env but LOG_LEVEL. */
export const configEnv = {
  apiToken: 'PROVISIONING_API_TOKEN',
  metricsToken: 'PROVISIONING_METRICS_TOKEN',
  joinPassword: 'PROVISIONING_JOIN_PASSWORD',
  proxmoxApiToken: 'PROVISIONING_PROXMOX_API_TOKEN',
  keyEncryptionKey: 'PROVISIONING_KEY_ENCRYPTION_KEY',
  temporalCli: 'TEMPORAL_CLI',
  temporalAddress: 'PROVISIONING_TEMPORAL_ADDRESS',
  dataDir: 'PROVISIONING_DATA_DIR',
} as const;

type Env = Readonly<Record<string, string | undefined>>;

/** Reads, validates and freezes the configuration in `file`; throws ConfigError listing every problem. */
export function loadConfig(file: string, env: Env = {}): Readonly<Config> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read the file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  return parseConfig(text, file, env);
}

/** Validates the YAML `text` of `file` (used by loadConfig and by tests). */
export function parseConfig(text: string, file: string, env: Env = {}): Readonly<Config> {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(file, yamlErrorLines(doc.errors));
  }
  const problems: string[] = [];
  const root = Reader.root(doc.toJS(), problems, 'deploy/provisioning.example.yaml');
  const base = dirname(resolve(file));
  const path = (p: string) => resolve(base, p);

  const dataDirFromFile = root.string('data_dir', './data', (v) => (v.trim() ? null : 'must not be empty'));
  const dataDir = path(env[configEnv.dataDir] || dataDirFromFile);

  const server = root.section('server');
  const listenText = server.string('listen', '0.0.0.0:8080', checkListen);
  const publicUrl = server
    .string('public_url', 'http://127.0.0.1:8080', checkHttpUrl)
    .replace(/\/+$/, '');
  const apiToken = server.secret('api_token', env[configEnv.apiToken]);
  const metricsToken = server.secret('metrics_token', env[configEnv.metricsToken]);
  const tls = readTls(server.section('tls'), path, listenText);
  server.rejectUnknown();

  const pxe = root.section('pxe');
  const pxeEnabled = pxe.boolean('enabled', false);
  const pxeInterface = pxe.string('interface', '', (v) => (v === '' ? null : checkInterfaceName(v)));
  const pxeSubnet = pxe.string('subnet', '', (v) => (v === '' ? null : checkIpv4Cidr(v)));
  if (pxeEnabled && pxeInterface === '' && !pxe.hasProblem('interface')) {
    pxe.problem('interface', 'required when pxe.enabled is true (the NIC facing the bare-metal hosts, e.g. eth0)');
  }
  if (pxeEnabled && pxeSubnet === '' && !pxe.hasProblem('subnet')) {
    pxe.problem('subnet', 'required when pxe.enabled is true (the LAN CIDR, e.g. 192.168.1.0/24)');
  }
  const dnsmasqPath = pxe.string('dnsmasq_path', '/usr/sbin/dnsmasq', (v) => (v.startsWith('/') ? null : `expected an absolute path like /usr/sbin/dnsmasq, got ${JSON.stringify(v)}`));
  const tftpRoot = path(pxe.string('tftp_root', '/usr/lib/ipxe', (v) => (v.trim() ? null : 'must not be empty')));
  pxe.rejectUnknown();

  const proxmox = root.section('proxmox');
  const existingNode = proxmox.string('existing_node', '', (v) => (v === '' ? null : checkHostOrIp(v)));
  const joinFingerprint = proxmox
    .string('join_fingerprint', '', (v) => (v === '' ? null : checkFingerprint(v)))
    .toUpperCase();
  const joinPassword = proxmox.secret('join_password', env[configEnv.joinPassword]);
  const sshPort = proxmox.integer('ssh_port', 22, 1, 65535);
  // Hosts that reach first boot together join a few at a time: Proxmox adds nodes under a lock on the cluster
  // configuration, and every SSH session in flight costs the worker memory.
  const maxParallelJoins = proxmox.integer('max_parallel_joins', 4, 1, 1000);
  const absolute = (v: string) => (v.startsWith('/') ? null : `expected an absolute path on the node, got ${JSON.stringify(v)}`);
  const corosyncConf = proxmox.string('corosync_conf', '/etc/pve/corosync.conf', absolute);
  const authorizedKeysFiles = proxmox.stringList('authorized_keys_files', ['/root/.ssh/authorized_keys', '/etc/pve/priv/authorized_keys'], absolute);
  const proxmoxApiToken = proxmox.secret('api_token', env[configEnv.proxmoxApiToken]);
  if (proxmoxApiToken !== '' && !/^[^\s@!=]+@[^\s@!=]+![A-Za-z][\w.-]*=\S+$/.test(proxmoxApiToken)) {
    // The value is a secret: the problem names its shape, never the value.
    proxmox.problem('api_token', 'expected USER@REALM!TOKENID=SECRET (from Datacenter > Permissions > API Tokens, e.g. provisioning@pve!audit=<uuid>)');
  }
  const apiPort = proxmox.integer('api_port', 8006, 1, 65535);
  proxmox.rejectUnknown();

  const credentials = root.section('credentials');
  const rootPasswordHash = credentials.string('root_password_hash', '', (v) => (v === '' ? null : checkPasswordHash(v)));
  credentials.rejectUnknown();

  const infrastructure = root.section('infrastructure');
  const infraBaseUrl = infrastructure
    .string('base_url', '', (v) => (v === '' ? null : checkHttpUrl(v)))
    .replace(/\/+$/, '');
  const typeMapReader = infrastructure.section('server_type_map');
  const serverTypeMap: Record<string, string> = {};
  for (const key of typeMapReader.keys()) {
    const id = typeMapReader.string(key, '', (v) => (v.trim() === '' ? 'expected an Infrastructure server type id' : null));
    if (id !== '') serverTypeMap[key] = id;
  }
  infrastructure.rejectUnknown();

  const database = root.section('database');
  const databasePath = path(database.string('path', `${dataDir}/provisioning.db`, (v) => (v.trim() ? null : 'must not be empty')));
  database.rejectUnknown();

  const temporal = root.section('temporal');
  const addressFromFile = temporal.string('address', '', (v) => (v === '' ? null : checkHostPort(v)));
  const addressFromEnv = env[configEnv.temporalAddress] ?? '';
  if (addressFromEnv !== '' && checkHostPort(addressFromEnv) !== null) {
    temporal.problem('address', `${configEnv.temporalAddress}: ${checkHostPort(addressFromEnv)}`);
  }
  const address = addressFromEnv || addressFromFile;
  const namespace = temporal.string('namespace', 'default', (v) =>
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/.test(v) ? null : `expected a namespace name like default, got ${JSON.stringify(v)}`,
  );
  const taskQueue = temporal.string('task_queue', 'provisioning', (v) => (v.trim() ? null : 'must not be empty'));
  // Rebuilds kept in the worker's memory between their events; one evicted from the cache is replayed from its
  // history (a few dozen events) at its next event. 0 turns the cache off; absent = the SDK's default, which grows
  // with the heap limit (about 900 here). A cap below the number of rebuilds running at once saves memory but costs
  // a replay per event.
  const maxCachedWorkflows = temporal.integer('max_cached_workflows', null, 0, 100_000);
  if (maxCachedWorkflows === 1) temporal.problem('max_cached_workflows', 'expected 0 (no cache) or at least 2 (the SDK needs room for two), got 1');
  const dev = temporal.section('dev_server');
  const devIp = dev.string('ip', '127.0.0.1', (v) => (checkHostOrIp(v) === null ? null : `expected an IP address, got ${JSON.stringify(v)}`));
  const devPort = dev.integer('port', 7233, 1, 65535);
  const devUiPort = dev.integer('ui_port', 8233, 1, 65535);
  const cliPath = dev.secret('cli_path', env[configEnv.temporalCli]);
  const devDbPath = path(dev.string('db_path', `${dataDir}/temporal.db`, (v) => (v.trim() ? null : 'must not be empty')));
  if (devPort === devUiPort) dev.problem('ui_port', `must differ from temporal.dev_server.port (${devPort})`);
  dev.rejectUnknown();
  const uiHost = devIp === '0.0.0.0' ? '127.0.0.1' : devIp === '::' ? '[::1]' : devIp.includes(':') ? `[${devIp}]` : devIp;
  const defaultUiUrl = address === '' ? `http://${uiHost}:${devUiPort}` : '';
  const uiUrl = (temporal.string('ui_url', '', (v) => (v === '' ? null : checkHttpUrl(v))) || defaultUiUrl).replace(/\/+$/, '');
  temporal.rejectUnknown();

  const serverTypesFile = path(root.string('server_types_file', './server-types.yaml', (v) => (v.trim() ? null : 'must not be empty')));

  const imagesSection = root.section('images');
  const imagesDir = path(imagesSection.string('dir', `${dataDir}/images`, (v) => (v.trim() ? null : 'must not be empty')));
  imagesSection.rejectUnknown();

  const inst = root.section('install');
  const domain = inst.string('domain', 'home.arpa', checkDomain);
  const install: InstallSettings = {
    domain,
    country: inst.string('country', 'us', (v) => (/^[a-z]{2}$/.test(v) ? null : `expected a lower-case ISO 3166 country code like us or at, got ${JSON.stringify(v)}`)),
    keyboard: inst.oneOf('keyboard', keyboards, 'en-us'),
    timezone: inst.string('timezone', 'UTC', checkTimezone),
    mailto: inst.string('mailto', `root@${domain}`, checkEmail),
  };
  inst.rejectUnknown();

  const secrets = root.section('secrets');
  const keyEncryptionKey = secrets.secret('key_encryption_key', env[configEnv.keyEncryptionKey]);
  if (keyEncryptionKey !== '' && !/^[0-9a-fA-F]{64}$/.test(keyEncryptionKey)) {
    secrets.problem('key_encryption_key', 'expected 64 hex digits (32 bytes, e.g. from `openssl rand -hex 32`), got a value that is not');
  }
  secrets.rejectUnknown();

  const t = root.section('timeouts');
  const timeouts: RebuildTimeouts = {
    pxeBoot: t.string('pxe_boot', '20m', checkDuration),
    answerFetch: t.string('answer_fetch', '15m', checkDuration),
    install: t.string('install', '60m', checkDuration),
    phoneHome: t.string('phone_home', '30m', checkDuration),
    join: t.string('join', '15m', checkDuration),
    migrate: t.string('migrate', memberStepDefaults.migrate, checkDuration),
    leaveCluster: t.string('leave_cluster', memberStepDefaults.leaveCluster, checkDuration),
    joinQueue: t.string('join_queue', memberStepDefaults.joinQueue, checkDuration),
    powerRetries: t.integer('power_retries', defaultPowerRetries, 0, 10),
  };
  t.rejectUnknown();

  const auditSection = root.section('audit');
  const auditRetention = auditSection.string('retention', '30d', checkDuration);
  auditSection.rejectUnknown();

  const telemetrySection = root.section('telemetry');
  const otlpEndpoint = telemetrySection.string('otlp_endpoint', '', (v) => (v === '' ? null : checkHttpUrl(v))).replace(/\/+$/, '');
  telemetrySection.rejectUnknown();

  const notifications = readNotifications(root.raw('notifications'), problems, env, 'deploy/provisioning.example.yaml');

  root.rejectUnknown();
  if (problems.length > 0) throw new ConfigError(file, problems);

  const listen = parseListen(listenText)!;
  return deepFreeze({
    file: resolve(file),
    dataDir,
    server: { listen, publicUrl, apiToken, metricsToken, tls },
    pxe: { enabled: pxeEnabled, interface: pxeInterface, subnet: pxeSubnet, dnsmasqPath, tftpRoot },
    proxmox: { existingNode, joinFingerprint, joinPassword, sshPort, maxParallelJoins, corosyncConf, authorizedKeysFiles, apiToken: proxmoxApiToken, apiPort },
    credentials: { rootPasswordHash },
    infrastructure: { baseUrl: infraBaseUrl, serverTypeMap },
    database: { path: databasePath },
    temporal: {
      address,
      namespace,
      taskQueue,
      maxCachedWorkflows,
      uiUrl,
      devServer: { ip: devIp, port: devPort, uiPort: devUiPort, cliPath, dbPath: devDbPath },
    },
    serverTypesFile,
    images: { dir: imagesDir },
    install,
    secrets: { keyEncryptionKey },
    timeouts,
    audit: { retention: auditRetention },
    telemetry: { otlpEndpoint },
    notifications,
  });
}

/** Reads `server.tls`; null when `listen` is empty (then no other key may be set). */
function readTls(tls: Reader, path: (p: string) => string, httpListen: string): TlsSettings | null {
  const listenText = tls.string('listen', '', (v) =>
    v === '' || parseListen(v) ? null : `expected host:port like 0.0.0.0:8443, or "" for no HTTPS listener, got ${JSON.stringify(v)}`,
  );
  const publicUrl = tls.string('public_url', '', (v) => (v === '' ? null : checkHttpsUrl(v))).replace(/\/+$/, '');
  const fileCheck = (v: string) => (v.trim() ? null : 'must not be empty (leave it out for a self-signed certificate)');
  const certFile = tls.string('cert_file', '', fileCheck);
  const keyFile = tls.string('key_file', '', fileCheck);
  tls.rejectUnknown();
  if (tls.hasProblem('listen')) return null;
  if (listenText === '') {
    for (const [key, value] of [['public_url', publicUrl], ['cert_file', certFile], ['key_file', keyFile]] as const) {
      if (value !== '') tls.problem(key, 'only used with server.tls.listen, which is empty (set it, e.g. to 0.0.0.0:8443, or remove this key)');
    }
    return null;
  }
  if (publicUrl === '' && !tls.hasProblem('public_url')) {
    tls.problem('public_url', 'required when server.tls.listen is set (the https:// URL hosts use for the boot API, e.g. https://192.168.1.100:8443)');
  }
  if ((certFile === '') !== (keyFile === '') && !tls.hasProblem('cert_file') && !tls.hasProblem('key_file')) {
    tls.problem(certFile === '' ? 'cert_file' : 'key_file', 'set cert_file and key_file together, or neither for a self-signed certificate kept in <data_dir>/tls/');
  }
  const listen = parseListen(listenText)!;
  const http = parseListen(httpListen);
  const anyHost = (h: string) => h === '0.0.0.0' || h === '::';
  if (http && listen.port !== 0 && listen.port === http.port && (listen.host === http.host || anyHost(listen.host) || anyHost(http.host))) {
    tls.problem('listen', `must use another port than server.listen (${httpListen})`);
  }
  return { listen, publicUrl, certFile: certFile === '' ? null : path(certFile), keyFile: keyFile === '' ? null : path(keyFile) };
}

function checkHttpsUrl(text: string): string | null {
  let url: URL | null = null;
  try {
    url = new URL(text);
  } catch {
    // reported below
  }
  if (!url || url.protocol !== 'https:') return `expected an https:// URL like https://192.168.1.100:8443, got ${JSON.stringify(text)}`;
  if (url.search || url.hash) return `expected a base URL without query or fragment, got ${JSON.stringify(text)}`;
  return null;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
