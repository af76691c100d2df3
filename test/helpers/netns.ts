// Network namespaces the tests create for themselves (never touching the machine's own interfaces).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8' });
}

/** A fresh namespace with an interface `lan0` at `address` (e.g. 10.77.0.1/24); remove() deletes it. */
export function createNamespace(address: string): { name: string; exec: string[]; remove: () => void } {
  const name = `prov-${randomBytes(4).toString('hex')}`;
  ip('netns', 'add', name);
  try {
    ip('-n', name, 'link', 'set', 'lo', 'up');
    // A veth pair inside the namespace (this kernel has no dummy interfaces); lan0 carries the address.
    ip('-n', name, 'link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'lan0-peer');
    ip('-n', name, 'addr', 'add', address, 'dev', 'lan0');
    ip('-n', name, 'link', 'set', 'lan0', 'up');
    ip('-n', name, 'link', 'set', 'lan0-peer', 'up');
  } catch (err) {
    ip('netns', 'del', name);
    throw err;
  }
  return { name, exec: ['ip', 'netns', 'exec', name], remove: () => ip('netns', 'del', name) };
}

/** The UDP ports something listens on inside namespace `name`. */
export function udpPortsIn(name: string): number[] {
  return ip('netns', 'exec', name, 'ss', '-Hulnp')
    .split('\n')
    .map((l) => /:(\d+)\s/.exec(l.split(/\s+/)[3] + ' ')?.[1])
    .filter((p): p is string => Boolean(p))
    .map(Number);
}
