import { describe, expect, it } from 'vitest';
import { parseCommandLine, UsageError } from '../../src/cli-args';

describe('the command line', () => {
  it('defaults to provisioning.yaml, every role and the configured listen address', () => {
    expect(parseCommandLine([])).toEqual({ config: 'provisioning.yaml', role: 'all', listen: null, help: false });
  });

  it('reads --config, -c, --role and --listen, with a value after the flag or after =', () => {
    expect(parseCommandLine(['-c', 'lab.yaml', '--role=worker', '--listen', '127.0.0.1:8081'])).toEqual({
      config: 'lab.yaml',
      role: 'worker',
      listen: { host: '127.0.0.1', port: 8081 },
      help: false,
    });
    expect(parseCommandLine(['--config=x.yaml', '-h']).help).toBe(true);
  });

  it.each([
    [['--role', 'janitor'], '--role must be one of gateway, worker, all, got "janitor"'],
    [['--listen', '8081'], '--listen expects host:port like 127.0.0.1:8081, got "8081"'],
    [['--verbose'], "Unknown option '--verbose'"],
    [['--config'], "Option '-c, --config <value>' argument missing"],
    [['extra.yaml'], "Unexpected argument 'extra.yaml'"],
  ])('refuses %j, saying why', (argv, message) => {
    expect(() => parseCommandLine(argv)).toThrow(UsageError);
    expect(() => parseCommandLine(argv)).toThrow(message);
  });
});
