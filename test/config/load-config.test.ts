import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../src/config/load-config';
import { ConfigError } from '../../src/config/reader';
import { tempDir } from '../helpers/temp-dir';

const exampleFile = resolve(__dirname, '../../deploy/provisioning.example.yaml');
const exampleText = readFileSync(exampleFile, 'utf8');
const FILE = 'provisioning.yaml';
const unknownKey = 'unknown key (check the spelling against deploy/provisioning.example.yaml)';
const fingerprint = Array.from({ length: 32 }, (_, i) => (i * 7 + 10).toString(16).padStart(2, '0')).join(':');

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

describe('parseConfig', () => {
  it('loads the example file with its values and the defaults', () => {
    const config = parseConfig(exampleText, FILE, {});
    expect(config.file).toBe(resolve(FILE));
    expect(config.server).toEqual({
      listen: { host: '0.0.0.0', port: 8080 },
      publicUrl: 'http://192.168.1.100:8080',
      apiToken: '',
      metricsToken: '',
      tls: null,
    });
    expect(config.pxe).toEqual({ enabled: false, interface: 'eth0', subnet: '192.168.1.0/24', dnsmasqPath: '/usr/sbin/dnsmasq', tftpRoot: '/usr/lib/ipxe' });
    expect(config.install).toEqual({ domain: 'home.arpa', country: 'us', keyboard: 'en-us', timezone: 'UTC', mailto: 'root@home.arpa' });
    expect(config.proxmox).toEqual({ existingNode: '192.168.1.10', joinFingerprint: '', joinPassword: '', sshPort: 22, maxParallelJoins: 4, corosyncConf: '/etc/pve/corosync.conf', authorizedKeysFiles: ['/root/.ssh/authorized_keys', '/etc/pve/priv/authorized_keys'], apiToken: '', apiPort: 8006 });
    expect(config.credentials).toEqual({ rootPasswordHash: '' });
    expect(config.infrastructure).toEqual({
      baseUrl: '',
      serverTypeMap: { 'minisforum-ms-01': 'ms-01', 'minisforum-um790': 'um790' },
    });
    expect(config.temporal.address).toBe('');
    expect(config.temporal.namespace).toBe('default');
    expect(config.temporal.taskQueue).toBe('provisioning');
    expect(config.temporal.maxCachedWorkflows).toBeNull();
    expect(config.temporal.uiUrl).toBe('http://127.0.0.1:8233');
    expect(config.temporal.devServer).toMatchObject({ ip: '127.0.0.1', port: 7233, uiPort: 8233, cliPath: '' });
    expect(config.secrets).toEqual({ keyEncryptionKey: '' });
    expect(config.timeouts).toEqual({ pxeBoot: '20m', answerFetch: '15m', install: '60m', phoneHome: '30m', join: '15m', migrate: '30m', leaveCluster: '15m', joinQueue: '1h', powerRetries: 2 });
    expect(config.audit).toEqual({ retention: '30d' });
    expect(config.telemetry).toEqual({ otlpEndpoint: '' });
    expect(config.notifications).toEqual([]);
  });

  it('loads the example file from disk with paths next to it', () => {
    const config = loadConfig(exampleFile, {});
    const dir = resolve(__dirname, '../../deploy');
    expect(config.file).toBe(exampleFile);
    expect(config.dataDir).toBe(join(dir, 'data'));
    expect(config.database.path).toBe(join(dir, 'data', 'provisioning.db'));
    expect(config.temporal.devServer.dbPath).toBe(join(dir, 'data', 'temporal.db'));
    expect(config.serverTypesFile).toBe(join(dir, 'server-types.yaml'));
  });

  it.each([
    ['an empty file', ''],
    ['a file of comments only', '# nothing set\n'],
    ['a file with empty sections', 'server:\npxe:\ntemporal:\n  dev_server:\ntimeouts:\n'],
  ])('gives the defaults for %s', (_name, text) => {
    const config = parseConfig(text, FILE, {});
    const base = resolve('.');
    expect(config.dataDir).toBe(join(base, 'data'));
    expect(config.server).toEqual({ listen: { host: '0.0.0.0', port: 8080 }, publicUrl: 'http://127.0.0.1:8080', apiToken: '', metricsToken: '', tls: null });
    expect(config.pxe).toEqual({ enabled: false, interface: '', subnet: '', dnsmasqPath: '/usr/sbin/dnsmasq', tftpRoot: '/usr/lib/ipxe' });
    expect(config.install).toEqual({ domain: 'home.arpa', country: 'us', keyboard: 'en-us', timezone: 'UTC', mailto: 'root@home.arpa' });
    expect(config.images).toEqual({ dir: join(base, 'data', 'images') });
    expect(config.proxmox).toEqual({ existingNode: '', joinFingerprint: '', joinPassword: '', sshPort: 22, maxParallelJoins: 4, corosyncConf: '/etc/pve/corosync.conf', authorizedKeysFiles: ['/root/.ssh/authorized_keys', '/etc/pve/priv/authorized_keys'], apiToken: '', apiPort: 8006 });
    expect(config.infrastructure).toEqual({ baseUrl: '', serverTypeMap: {} });
    expect(config.database.path).toBe(join(base, 'data', 'provisioning.db'));
    expect(config.temporal).toEqual({
      address: '',
      namespace: 'default',
      taskQueue: 'provisioning',
      maxCachedWorkflows: null,
      uiUrl: 'http://127.0.0.1:8233',
      devServer: { ip: '127.0.0.1', port: 7233, uiPort: 8233, cliPath: '', dbPath: join(base, 'data', 'temporal.db') },
    });
    expect(config.serverTypesFile).toBe(join(base, 'server-types.yaml'));
    expect(config.secrets).toEqual({ keyEncryptionKey: '' });
    expect(config.timeouts).toEqual({ pxeBoot: '20m', answerFetch: '15m', install: '60m', phoneHome: '30m', join: '15m', migrate: '30m', leaveCluster: '15m', joinQueue: '1h', powerRetries: 2 });
    expect(config.audit).toEqual({ retention: '30d' });
    expect(config.telemetry).toEqual({ otlpEndpoint: '' });
    expect(config.notifications).toEqual([]);
  });

  it('reads the operator-tool keys: metrics token (file or env), audit retention, OTLP endpoint; bad values name the key', () => {
    const text = ['server:', '  metrics_token: from-file', 'audit:', '  retention: 7d', 'telemetry:', '  otlp_endpoint: "http://127.0.0.1:4318/"'].join('\n');
    const config = parseConfig(text, FILE, {});
    expect(config.server.metricsToken).toBe('from-file');
    expect(config.audit.retention).toBe('7d');
    expect(config.telemetry.otlpEndpoint).toBe('http://127.0.0.1:4318');
    expect(parseConfig(text, FILE, { PROVISIONING_METRICS_TOKEN: 'from-env' }).server.metricsToken).toBe('from-env');
    const bad = ['audit:', '  retention: forever', '  keep: 1', 'telemetry:', '  otlp_endpoint: "udp://x"'].join('\n');
    expect(() => parseConfig(bad, FILE, {})).toThrow(/audit\.retention: expected a duration[\s\S]*audit\.keep[\s\S]*telemetry\.otlp_endpoint: expected an http/);
  });

  it('normalises values: trailing slashes, upper-case fingerprint, ":port" listen', () => {
    const config = parseConfig(
      [
        'server:',
        '  listen: ":9090"',
        '  public_url: "http://pxe.lan:9090///"',
        'proxmox:',
        `  join_fingerprint: "${fingerprint}"`,
        'infrastructure:',
        '  base_url: "https://infra.lan/api/"',
        'temporal:',
        '  ui_url: "http://temporal.lan:8233/"',
      ].join('\n'),
      FILE,
      {},
    );
    expect(config.server.listen).toEqual({ host: '0.0.0.0', port: 9090 });
    expect(config.server.publicUrl).toBe('http://pxe.lan:9090');
    expect(config.proxmox.joinFingerprint).toBe(fingerprint.toUpperCase());
    expect(config.infrastructure.baseUrl).toBe('https://infra.lan/api');
    expect(config.temporal.uiUrl).toBe('http://temporal.lan:8233');
  });

  it('brackets an IPv6 dev server address in the default UI link', () => {
    const config = parseConfig('temporal:\n  dev_server:\n    ip: "::1"\n', FILE, {});
    expect(config.temporal.uiUrl).toBe('http://[::1]:8233');
  });

  it('takes the workflow cache size, 0 turning the cache off', () => {
    expect(parseConfig('temporal:\n  max_cached_workflows: 0\n', FILE, {}).temporal.maxCachedWorkflows).toBe(0);
    expect(parseConfig('temporal:\n  max_cached_workflows: 250\n', FILE, {}).temporal.maxCachedWorkflows).toBe(250);
  });

  it('takes the number of joins that run at once', () => {
    expect(parseConfig('proxmox:\n  max_parallel_joins: 1\n', FILE, {}).proxmox.maxParallelJoins).toBe(1);
  });

  it('leaves the UI link empty when an external Temporal server is used', () => {
    const config = parseConfig('temporal:\n  address: "temporal.lan:7233"\n', FILE, {});
    expect(config.temporal.address).toBe('temporal.lan:7233');
    expect(config.temporal.uiUrl).toBe('');
  });

  it('accepts pxe enabled with an interface and a subnet', () => {
    const config = parseConfig('pxe:\n  enabled: true\n  interface: enp2s0\n  subnet: 10.0.0.0/8\n', FILE, {});
    expect(config.pxe).toEqual({ enabled: true, interface: 'enp2s0', subnet: '10.0.0.0/8', dnsmasqPath: '/usr/sbin/dnsmasq', tftpRoot: '/usr/lib/ipxe' });
  });

  it('takes secrets from the environment when the file does not set them', () => {
    const key = 'ab'.repeat(32);
    const config = parseConfig('', FILE, {
      PROVISIONING_API_TOKEN: 'env-token',
      PROVISIONING_JOIN_PASSWORD: 'env-password',
      PROVISIONING_KEY_ENCRYPTION_KEY: key,
      PROVISIONING_PROXMOX_API_TOKEN: 'provisioning@pve!audit=0c1b7a3e-5d9f-4e2a-9b1c-2f3e4d5c6b7a',
      TEMPORAL_CLI: '/opt/temporal',
    });
    expect(config.proxmox.apiToken).toBe('provisioning@pve!audit=0c1b7a3e-5d9f-4e2a-9b1c-2f3e4d5c6b7a');
    expect(config.server.apiToken).toBe('env-token');
    expect(config.proxmox.joinPassword).toBe('env-password');
    expect(config.secrets.keyEncryptionKey).toBe(key);
    expect(config.temporal.devServer.cliPath).toBe('/opt/temporal');
  });

  it('takes secrets from the file when the environment does not set them', () => {
    const config = parseConfig('server:\n  api_token: file-token\nproxmox:\n  join_password: file-password\n', FILE, {});
    expect(config.server.apiToken).toBe('file-token');
    expect(config.proxmox.joinPassword).toBe('file-password');
  });

  it('lets PROVISIONING_API_TOKEN and PROVISIONING_JOIN_PASSWORD win over the file', () => {
    const config = parseConfig('server:\n  api_token: file-token\nproxmox:\n  join_password: file-password\n', FILE, {
      PROVISIONING_API_TOKEN: 'env-token',
      PROVISIONING_JOIN_PASSWORD: 'env-password',
    });
    expect(config.server.apiToken).toBe('env-token');
    expect(config.proxmox.joinPassword).toBe('env-password');
  });

  it('loads the example file with the secrets in the environment', () => {
    const config = parseConfig(exampleText, FILE, {
      PROVISIONING_API_TOKEN: 'env-token',
      PROVISIONING_JOIN_PASSWORD: 'env-password',
    });
    expect(config.server.apiToken).toBe('env-token');
    expect(config.proxmox.joinPassword).toBe('env-password');
  });

  it('returns a deeply frozen object', () => {
    const config = parseConfig(exampleText, FILE, {});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.server)).toBe(true);
    expect(Object.isFrozen(config.server.listen)).toBe(true);
    expect(Object.isFrozen(config.pxe)).toBe(true);
    expect(Object.isFrozen(config.proxmox)).toBe(true);
    expect(Object.isFrozen(config.infrastructure)).toBe(true);
    expect(Object.isFrozen(config.infrastructure.serverTypeMap)).toBe(true);
    expect(Object.isFrozen(config.temporal)).toBe(true);
    expect(Object.isFrozen(config.temporal.devServer)).toBe(true);
    expect(Object.isFrozen(config.timeouts)).toBe(true);
    expect(() => {
      (config.server.listen as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  describe('rejects an invalid key with one exact message line', () => {
    it.each([
      ['server.listen', 'server:\n  listen: "8080"\n', 'server.listen: expected host:port like 0.0.0.0:8080, got "8080"'],
      [
        'server.listen (port out of range)',
        'server:\n  listen: "0.0.0.0:70000"\n',
        'server.listen: expected host:port like 0.0.0.0:8080, got "0.0.0.0:70000"',
      ],
      [
        'server.public_url (not http)',
        'server:\n  public_url: "ftp://pxe.lan"\n',
        'server.public_url: expected an http:// or https:// URL like http://192.168.1.100:8080, got "ftp://pxe.lan"',
      ],
      [
        'server.public_url (query)',
        'server:\n  public_url: "http://pxe.lan:8080/?a=1"\n',
        'server.public_url: expected a base URL without query or fragment, got "http://pxe.lan:8080/?a=1"',
      ],
      ['server (not a mapping)', 'server: 5\n', 'server: expected a mapping of keys, got 5'],
      ['pxe.enabled (not a boolean)', 'pxe:\n  enabled: yes\n', 'pxe.enabled: expected true or false, got "yes"'],
      ['pxe.subnet', 'pxe:\n  subnet: "192.168.1"\n', 'pxe.subnet: expected a CIDR like 192.168.1.0/24, got "192.168.1"'],
      ['pxe.subnet (prefix > 32)', 'pxe:\n  subnet: "192.168.1.0/33"\n', 'pxe.subnet: expected a CIDR like 192.168.1.0/24, got "192.168.1.0/33"'],
      [
        'pxe.interface',
        'pxe:\n  interface: "this-is-far-too-long0"\n',
        'pxe.interface: expected a network interface name like eth0 or enp2s0, got "this-is-far-too-long0"',
      ],
      [
        'pxe.interface (missing when enabled)',
        'pxe:\n  enabled: true\n  subnet: 192.168.1.0/24\n',
        'pxe.interface: required when pxe.enabled is true (the NIC facing the bare-metal hosts, e.g. eth0)',
      ],
      [
        'pxe.subnet (missing when enabled)',
        'pxe:\n  enabled: true\n  interface: eth0\n',
        'pxe.subnet: required when pxe.enabled is true (the LAN CIDR, e.g. 192.168.1.0/24)',
      ],
      [
        'proxmox.existing_node',
        'proxmox:\n  existing_node: "not a host!"\n',
        'proxmox.existing_node: expected an IP address or DNS name like 192.168.1.10, got "not a host!"',
      ],
      [
        'proxmox.join_fingerprint',
        'proxmox:\n  join_fingerprint: "AB:CD"\n',
        'proxmox.join_fingerprint: expected a SHA-256 certificate fingerprint like AB:CD:…(32 hex pairs) from `pvenode cert info` on the existing node, got "AB:CD"',
      ],
      ['proxmox.ssh_port', 'proxmox:\n  ssh_port: 0\n', 'proxmox.ssh_port: expected a whole number from 1 to 65535, got 0'],
      [
        'credentials.root_password_hash',
        'credentials:\n  root_password_hash: "hunter2"\n',
        'credentials.root_password_hash: expected a crypt(3) hash like $6$… from `mkpasswd -m sha-512`, got a value that is not one',
      ],
      [
        'infrastructure.base_url',
        'infrastructure:\n  base_url: "infra.lan"\n',
        'infrastructure.base_url: expected an http:// or https:// URL like http://192.168.1.100:8080, got "infra.lan"',
      ],
      [
        'infrastructure.server_type_map entry',
        'infrastructure:\n  server_type_map:\n    minisforum-ms-01: " "\n',
        'infrastructure.server_type_map.minisforum-ms-01: expected an Infrastructure server type id',
      ],
      ['temporal.address', 'temporal:\n  address: "localhost"\n', 'temporal.address: expected host:port like 127.0.0.1:7233, got "localhost"'],
      ['temporal.namespace', 'temporal:\n  namespace: "-bad"\n', 'temporal.namespace: expected a namespace name like default, got "-bad"'],
      [
        'temporal.max_cached_workflows (1)',
        'temporal:\n  max_cached_workflows: 1\n',
        'temporal.max_cached_workflows: expected 0 (no cache) or at least 2 (the SDK needs room for two), got 1',
      ],
      [
        'proxmox.max_parallel_joins (0)',
        'proxmox:\n  max_parallel_joins: 0\n',
        'proxmox.max_parallel_joins: expected a whole number from 1 to 1000, got 0',
      ],
      [
        'temporal.max_cached_workflows (negative)',
        'temporal:\n  max_cached_workflows: -5\n',
        'temporal.max_cached_workflows: expected a whole number from 0 to 100000, got -5',
      ],
      [
        'temporal.dev_server.port (out of range)',
        'temporal:\n  dev_server:\n    port: 70000\n',
        'temporal.dev_server.port: expected a whole number from 1 to 65535, got 70000',
      ],
      [
        'temporal.dev_server.ui_port (equal to port)',
        'temporal:\n  dev_server:\n    port: 9000\n    ui_port: 9000\n',
        'temporal.dev_server.ui_port: must differ from temporal.dev_server.port (9000)',
      ],
      ['data_dir (blank)', 'data_dir: " "\n', 'data_dir: must not be empty'],
      [
        'timeouts.pxe_boot',
        'timeouts:\n  pxe_boot: "20 minutes"\n',
        'timeouts.pxe_boot: expected a duration like 90s, 20m or 1h, got "20 minutes"',
      ],
      ['timeouts.install (zero)', 'timeouts:\n  install: 0m\n', 'timeouts.install: expected a duration like 90s, 20m or 1h, got "0m"'],
      ['timeouts.power_retries', 'timeouts:\n  power_retries: 11\n', 'timeouts.power_retries: expected a whole number from 0 to 10, got 11'],
      [
        'secrets.key_encryption_key',
        'secrets:\n  key_encryption_key: "abc"\n',
        'secrets.key_encryption_key: expected 64 hex digits (32 bytes, e.g. from `openssl rand -hex 32`), got a value that is not',
      ],
      [
        'proxmox.api_token (not a token, and never echoed)',
        'proxmox:\n  api_token: "hunter2"\n',
        'proxmox.api_token: expected USER@REALM!TOKENID=SECRET (from Datacenter > Permissions > API Tokens, e.g. provisioning@pve!audit=<uuid>)',
      ],
      ['an unknown top-level key', 'data_dri: ./data\n', `data_dri: ${unknownKey}`],
      ['an unknown nested key (typo)', 'server:\n  public_ulr: "http://pxe.lan"\n', `server.public_ulr: ${unknownKey}`],
      ['an unknown deeply nested key', 'temporal:\n  dev_server:\n    uiport: 8234\n', `temporal.dev_server.uiport: ${unknownKey}`],
      ['a YAML syntax error', 'server:\n  listen: "0.0.0.0:8080\n', 'YAML syntax error at line 3, column 1: Missing closing "quote'],
      ['a duplicate key', 'data_dir: a\ndata_dir: b\n', 'YAML syntax error at line 2, column 1: Map keys must be unique'],
      ['install.domain', 'install:\n  domain: "-lab"\n', 'install.domain: expected a DNS domain like home.arpa or lab.example.com, got "-lab"'],
      ['install.country', 'install:\n  country: USA\n', 'install.country: expected a lower-case ISO 3166 country code like us or at, got "USA"'],
      ['install.keyboard', 'install:\n  keyboard: us\n', 'install.keyboard: expected one of de, de-ch, dk, en-gb, en-us, es, fi, fr, fr-be, fr-ca, fr-ch, hu, is, it, jp, lt, mk, nl, no, pl, pt, pt-br, se, si, tr, got "us"'],
      ['install.timezone', 'install:\n  timezone: Europe/Atlantis\n', 'install.timezone: expected UTC or a time zone like Europe/Vienna, got "Europe/Atlantis"'],
      ['install.mailto', 'install:\n  mailto: mail@example.invalid\n', 'install.mailto: expected an e-mail address like ops@lab.example (not mail@example.invalid), got "mail@example.invalid"'],
      ['proxmox.authorized_keys_files', 'proxmox:\n  authorized_keys_files: [relative/path]\n', 'proxmox.authorized_keys_files: expected an absolute path on the node, got "relative/path"'],
      ['proxmox.corosync_conf', 'proxmox:\n  corosync_conf: []\n', 'proxmox.corosync_conf: expected a string, got []'],
      ['pxe.dnsmasq_path', 'pxe:\n  dnsmasq_path: dnsmasq\n', 'pxe.dnsmasq_path: expected an absolute path like /usr/sbin/dnsmasq, got "dnsmasq"'],
      ['pxe.interface empty while enabled', 'pxe:\n  enabled: true\n  interface: ""\n  subnet: 10.0.0.0/24\n', 'pxe.interface: required when pxe.enabled is true (the NIC facing the bare-metal hosts, e.g. eth0)'],
      ['pxe.subnet with no value while enabled', 'pxe:\n  enabled: true\n  interface: eth0\n  subnet:\n', 'pxe.subnet: required when pxe.enabled is true (the LAN CIDR, e.g. 192.168.1.0/24)'],
      ['a list as the root', '- a\n- b\n', 'expected a YAML mapping at the top level, got a list'],
      ['a scalar as the root', '42\n', 'expected a YAML mapping at the top level, got 42'],
    ])('%s', (_name, text, problem) => {
      const err = configError(() => parseConfig(text, FILE, {}));
      expect(err.code).toBe('invalid_config');
      expect(err.name).toBe('ConfigError');
      expect(err.file).toBe(FILE);
      expect(err.problems).toEqual([problem]);
      expect(err.message).toBe(`${FILE}: ${problem}`);
    });
  });

  it('rejects an invalid PROVISIONING_KEY_ENCRYPTION_KEY from the environment', () => {
    const err = configError(() => parseConfig('', FILE, { PROVISIONING_KEY_ENCRYPTION_KEY: 'short' }));
    expect(err.problems).toEqual([
      'secrets.key_encryption_key: expected 64 hex digits (32 bytes, e.g. from `openssl rand -hex 32`), got a value that is not',
    ]);
  });

  it('lists every problem in one error, in file order', () => {
    const text = [
      'data_dri: ./data',
      'pxe:',
      '  subnet: "192.168.1"',
      'temporal:',
      '  dev_server:',
      '    port: 0',
      'timeouts:',
      '  join: 15',
    ].join('\n');
    const err = configError(() => parseConfig(text, FILE, {}));
    const problems = [
      'pxe.subnet: expected a CIDR like 192.168.1.0/24, got "192.168.1"',
      'temporal.dev_server.port: expected a whole number from 1 to 65535, got 0',
      'timeouts.join: expected a duration like 90s, 20m or 1h, got "15"',
      `data_dri: ${unknownKey}`,
    ];
    expect(err.problems).toHaveLength(4);
    expect(err.problems).toEqual(problems);
    expect(err.message).toBe(problems.map((p) => `${FILE}: ${p}`).join('\n'));
  });
});

describe('loadConfig', () => {
  let dir: ReturnType<typeof tempDir>;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => {
    dir.remove();
  });

  it('resolves relative paths against the config file directory', () => {
    const sub = join(dir.path, 'etc');
    mkdirSync(sub);
    const file = join(sub, 'provisioning.yaml');
    writeFileSync(
      file,
      [
        'data_dir: ./state',
        'server_types_file: ../types/server-types.yaml',
        'temporal:',
        '  dev_server:',
        '    db_path: ./temporal/dev.db',
      ].join('\n'),
    );
    const config = loadConfig(file, {});
    expect(config.file).toBe(file);
    expect(config.dataDir).toBe(join(sub, 'state'));
    expect(config.database.path).toBe(join(sub, 'state', 'provisioning.db'));
    expect(config.serverTypesFile).toBe(join(dir.path, 'types', 'server-types.yaml'));
    expect(config.temporal.devServer.dbPath).toBe(join(sub, 'temporal', 'dev.db'));
  });

  it('resolves an explicit database path and keeps absolute paths as they are', () => {
    const file = join(dir.path, 'provisioning.yaml');
    writeFileSync(file, 'data_dir: /var/lib/provisioning\ndatabase:\n  path: db/hosts.db\n');
    const config = loadConfig(file, {});
    expect(config.dataDir).toBe('/var/lib/provisioning');
    expect(config.database.path).toBe(join(dir.path, 'db', 'hosts.db'));
    expect(config.temporal.devServer.dbPath).toBe('/var/lib/provisioning/temporal.db');
  });

  it('passes the environment through', () => {
    const file = join(dir.path, 'provisioning.yaml');
    writeFileSync(file, '');
    expect(loadConfig(file, { PROVISIONING_API_TOKEN: 't0ken' }).server.apiToken).toBe('t0ken');
  });

  it('names the file in every problem line', () => {
    const file = join(dir.path, 'provisioning.yaml');
    writeFileSync(file, 'pxe:\n  enabled: 1\n');
    const err = configError(() => loadConfig(file, {}));
    expect(err.file).toBe(file);
    expect(err.message).toBe(`${file}: pxe.enabled: expected true or false, got 1`);
  });

  it('throws a ConfigError naming the file and ENOENT when the file is missing', () => {
    const file = join(dir.path, 'missing.yaml');
    const err = configError(() => loadConfig(file, {}));
    expect(err.code).toBe('invalid_config');
    expect(err.file).toBe(file);
    expect(err.problems).toEqual(['cannot read the file: ENOENT']);
    expect(err.message).toBe(`${file}: cannot read the file: ENOENT`);
  });
});

describe('server.tls', () => {
  const tlsConfig = (lines: string[]) => ['server:', '  tls:', ...lines.map((l) => `    ${l}`)].join('\n') + '\n';

  it('is off by default: no HTTPS listener', () => {
    expect(parseConfig('', FILE, {}).server.tls).toBeNull();
    expect(parseConfig(tlsConfig(['listen: ""', 'public_url: ""']), FILE, {}).server.tls).toBeNull();
  });

  it('takes a listener and its public https URL, with a self-signed certificate when no files are named', () => {
    const config = parseConfig(tlsConfig(['listen: "0.0.0.0:8443"', 'public_url: "https://192.168.1.100:8443/"']), FILE, {});
    expect(config.server.tls).toEqual({ listen: { host: '0.0.0.0', port: 8443 }, publicUrl: 'https://192.168.1.100:8443', certFile: null, keyFile: null });
  });

  it('allows the HTTP port on another address', () => {
    const config = parseConfig(['server:', '  listen: "127.0.0.1:8080"', '  tls:', '    listen: "192.168.1.100:8080"', '    public_url: "https://192.168.1.100:8080"'].join('\n'), FILE, {});
    expect(config.server.tls?.listen).toEqual({ host: '192.168.1.100', port: 8080 });
  });

  it('resolves cert_file and key_file against the config file directory', () => {
    const dir = tempDir();
    try {
      const file = join(dir.path, 'provisioning.yaml');
      writeFileSync(file, tlsConfig(['listen: ":8443"', 'public_url: https://pxe.lab.example:8443', 'cert_file: tls/server.crt', 'key_file: /etc/ssl/private/server.key']));
      expect(loadConfig(file, {}).server.tls).toEqual({
        listen: { host: '0.0.0.0', port: 8443 },
        publicUrl: 'https://pxe.lab.example:8443',
        certFile: join(dir.path, 'tls', 'server.crt'),
        keyFile: '/etc/ssl/private/server.key',
      });
    } finally {
      dir.remove();
    }
  });

  it.each([
    ['listen (not host:port)', ['listen: "8443"'], 'server.tls.listen: expected host:port like 0.0.0.0:8443, or "" for no HTTPS listener, got "8443"'],
    [
      'public_url (missing with listen)',
      ['listen: "0.0.0.0:8443"'],
      'server.tls.public_url: required when server.tls.listen is set (the https:// URL hosts use for the boot API, e.g. https://192.168.1.100:8443)',
    ],
    [
      'public_url (http)',
      ['listen: "0.0.0.0:8443"', 'public_url: "http://192.168.1.100:8443"'],
      'server.tls.public_url: expected an https:// URL like https://192.168.1.100:8443, got "http://192.168.1.100:8443"',
    ],
    [
      'public_url (query)',
      ['listen: "0.0.0.0:8443"', 'public_url: "https://192.168.1.100:8443/?x=1"'],
      'server.tls.public_url: expected a base URL without query or fragment, got "https://192.168.1.100:8443/?x=1"',
    ],
    [
      'key_file (missing with cert_file)',
      ['listen: "0.0.0.0:8443"', 'public_url: "https://192.168.1.100:8443"', 'cert_file: server.crt'],
      'server.tls.key_file: set cert_file and key_file together, or neither for a self-signed certificate kept in <data_dir>/tls/',
    ],
    [
      'cert_file (missing with key_file)',
      ['listen: "0.0.0.0:8443"', 'public_url: "https://192.168.1.100:8443"', 'key_file: server.key'],
      'server.tls.cert_file: set cert_file and key_file together, or neither for a self-signed certificate kept in <data_dir>/tls/',
    ],
    [
      'cert_file (empty)',
      ['listen: "0.0.0.0:8443"', 'public_url: "https://192.168.1.100:8443"', 'cert_file: " "', 'key_file: server.key'],
      'server.tls.cert_file: must not be empty (leave it out for a self-signed certificate)',
    ],
    [
      'public_url (without listen)',
      ['public_url: "https://192.168.1.100:8443"'],
      'server.tls.public_url: only used with server.tls.listen, which is empty (set it, e.g. to 0.0.0.0:8443, or remove this key)',
    ],
    ['listen (the HTTP port)', ['listen: "0.0.0.0:8080"', 'public_url: "https://192.168.1.100:8080"'], 'server.tls.listen: must use another port than server.listen (0.0.0.0:8080)'],
    ['an unknown key', ['listen: "0.0.0.0:8443"', 'public_url: "https://192.168.1.100:8443"', 'cert: server.crt'], `server.tls.cert: ${unknownKey}`],
  ])('rejects %s with one exact message line', (_name, lines, message) => {
    expect(configError(() => parseConfig(tlsConfig(lines), FILE, {})).problems).toEqual([message]);
  });

  it('rejects a server.tls that is not a mapping', () => {
    expect(configError(() => parseConfig('server:\n  tls: yes\n', FILE, {})).problems).toEqual(['server.tls: expected a mapping of keys, got "yes"']);
  });

  it('names the file in a server.tls problem', () => {
    expect(configError(() => parseConfig(tlsConfig(['listen: "0.0.0.0:8443"']), FILE, {})).message).toMatch(/^provisioning\.yaml: server\.tls\.public_url: required/);
  });
});
