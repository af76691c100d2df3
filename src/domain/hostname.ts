import { InvalidInputError } from './errors';

const label = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Returns why `name` is not an RFC 1123 DNS label, or null when it is one. */
export function hostnameProblem(name: string): string | null {
  if (name.length === 0) return 'must not be empty';
  if (name.length > 63) return `must be at most 63 characters, got ${name.length}`;
  if (!label.test(name)) {
    return 'must be a DNS label: lower-case letters, digits and "-", not starting or ending with "-"';
  }
  return null;
}

/** Validates a hostname (a single DNS label, lower-case); throws InvalidInputError naming the field. */
export function parseHostname(name: string, field = 'hostname'): string {
  const problem = hostnameProblem(name);
  if (problem !== null) throw new InvalidInputError(field, `${field}: ${problem}, got ${JSON.stringify(name)}`);
  return name;
}
