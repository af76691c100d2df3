import { describe, expect, it } from 'vitest';
import { imagesUsageLine, parseCommandLine, usageLine, UsageError } from '../../src/cli-args';

describe('the command line', () => {
  it('runs the service by default, with provisioning.yaml, every role and the configured listen address', () => {
    expect(parseCommandLine([])).toEqual({ command: 'run', config: 'provisioning.yaml', role: 'all', listen: null });
  });

  it('reads --config, -c, --role and --listen, with a value after the flag or after =', () => {
    expect(parseCommandLine(['-c', 'lab.yaml', '--role=worker', '--listen', '127.0.0.1:8081'])).toEqual({
      command: 'run',
      config: 'lab.yaml',
      role: 'worker',
      listen: { host: '127.0.0.1', port: 8081 },
    });
  });

  it.each([[['--config=x.yaml', '-h']], [['--help']], [['backup', '--help']], [['backup', 'a.db', 'b.db', '-h']], [['images', 'prepare', '--help']]])('asks for the usage with %j', (argv) => {
    expect(parseCommandLine(argv)).toEqual({ command: 'help' });
  });

  it('reads backup <file> with the config given before or after it', () => {
    expect(parseCommandLine(['backup', 'backups/p.db'])).toEqual({ command: 'backup', config: 'provisioning.yaml', file: 'backups/p.db' });
    expect(parseCommandLine(['backup', 'p.db', '--config', 'lab.yaml'])).toEqual({ command: 'backup', config: 'lab.yaml', file: 'p.db' });
    expect(parseCommandLine(['-c', 'lab.yaml', 'backup', '--', '-odd.db'])).toEqual({ command: 'backup', config: 'lab.yaml', file: '-odd.db' });
  });

  it.each([
    [['--role', 'janitor'], '--role must be one of gateway, worker, all, got "janitor"'],
    [['--listen', '8081'], '--listen expects host:port like 127.0.0.1:8081, got "8081"'],
    [['--verbose'], "Unknown option '--verbose'"],
    [['--config'], "Option '-c, --config <value>' argument missing"],
    [['extra.yaml'], 'unexpected argument "extra.yaml" (the commands are backup and images prepare; the config file goes after --config)'],
    [['--name', 'pve'], '--name applies only to images prepare'],
    [['backup', 'a.db', '--sha256', 'ab'], '--sha256 applies only to images prepare'],
    [['backup'], 'backup needs the file to write, e.g. backup backups/provisioning.db'],
    [['backup', ''], 'backup needs the file to write, got an empty name'],
    [['backup', 'a.db', 'b.db'], 'backup writes one file, got 2: a.db b.db'],
    [['backup', 'a.db', '--role', 'worker'], '--role does not apply to backup'],
    [['backup', 'a.db', '--listen', '127.0.0.1:8081'], '--listen does not apply to backup'],
  ])('refuses %j, saying why', (argv, message) => {
    expect(() => parseCommandLine(argv)).toThrow(UsageError);
    expect(() => parseCommandLine(argv)).toThrow(message);
  });

  it('reads images prepare <iso-file> with its options, the config given anywhere', () => {
    expect(parseCommandLine(['images', 'prepare', 'downloads/proxmox-ve_9.1-1.iso'])).toEqual({
      command: 'images-prepare',
      config: 'provisioning.yaml',
      iso: 'downloads/proxmox-ve_9.1-1.iso',
      name: null,
      sha256: null,
      certFingerprint: null,
    });
    expect(parseCommandLine(['-c', 'lab.yaml', 'images', 'prepare', 'p.iso', '--name', 'pve-lab', '--sha256=ab12', '--cert-fingerprint', 'AB:CD'])).toEqual({
      command: 'images-prepare',
      config: 'lab.yaml',
      iso: 'p.iso',
      name: 'pve-lab',
      sha256: 'ab12',
      certFingerprint: 'AB:CD',
    });
  });

  it.each([
    [['images'], 'images needs a subcommand: images prepare <iso-file>'],
    [['images', 'list'], 'unknown images subcommand "list" (the only one is prepare)'],
    [['images', 'prepare'], 'images prepare needs the stock ISO, e.g. images prepare downloads/proxmox-ve_9.1-1.iso'],
    [['images', 'prepare', ''], 'images prepare needs the stock ISO, e.g. images prepare downloads/proxmox-ve_9.1-1.iso'],
    [['images', 'prepare', 'a.iso', 'b.iso'], 'images prepare takes one ISO, got 2: a.iso b.iso'],
    [['images', 'prepare', 'a.iso', '--role', 'worker'], '--role does not apply to images prepare'],
  ])('refuses %j with the usage of images prepare', (argv, message) => {
    expect(() => parseCommandLine(argv)).toThrow(message);
    try {
      parseCommandLine(argv);
    } catch (err) {
      expect((err as UsageError).usage).toBe(imagesUsageLine);
    }
  });

  it('shows the general usage after other mistakes', () => {
    try {
      parseCommandLine(['backup']);
    } catch (err) {
      expect((err as UsageError).usage).toBe(usageLine);
    }
  });
});
