import { describe, expect, it } from 'vitest';
import { parseCommandLine, UsageError } from '../../src/cli-args';

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

  it.each([[['--config=x.yaml', '-h']], [['--help']], [['backup', '--help']], [['backup', 'a.db', 'b.db', '-h']]])('asks for the usage with %j', (argv) => {
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
    [['extra.yaml'], 'unexpected argument "extra.yaml" (the only command is backup; the config file goes after --config)'],
    [['backup'], 'backup needs the file to write, e.g. backup backups/provisioning.db'],
    [['backup', ''], 'backup needs the file to write, got an empty name'],
    [['backup', 'a.db', 'b.db'], 'backup writes one file, got 2: a.db b.db'],
    [['backup', 'a.db', '--role', 'worker'], '--role does not apply to backup'],
    [['backup', 'a.db', '--listen', '127.0.0.1:8081'], '--listen does not apply to backup'],
  ])('refuses %j, saying why', (argv, message) => {
    expect(() => parseCommandLine(argv)).toThrow(UsageError);
    expect(() => parseCommandLine(argv)).toThrow(message);
  });
});
