import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/domain/errors';
import { parseHostname } from '../../src/domain/hostname';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

const dnsLabelRule = 'must be a DNS label: lower-case letters, digits and "-", not starting or ending with "-"';

describe('parseHostname', () => {
  it.each(['pve-ms-03', 'a', '0', 'a1-b2', 'x'.repeat(63), `a${'-'.repeat(61)}z`])('accepts %j unchanged', (name) => {
    expect(parseHostname(name)).toBe(name);
  });

  it.each([
    ['', 'must not be empty'],
    ['x'.repeat(64), 'must be at most 63 characters, got 64'],
    ['PVE-MS-03', dnsLabelRule],
    ['Pve', dnsLabelRule],
    ['-pve', dnsLabelRule],
    ['pve-', dnsLabelRule],
    ['-', dnsLabelRule],
    ['pve_ms', dnsLabelRule],
    ['pve.lan', dnsLabelRule],
    ['pve ms', dnsLabelRule],
    [' pve', dnsLabelRule],
  ])('rejects %j with InvalidInputError on field hostname', (name, problem) => {
    const err = thrown(() => parseHostname(name));
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as InvalidInputError).field).toBe('hostname');
    expect((err as InvalidInputError).code).toBe('invalid_request');
    expect((err as InvalidInputError).message).toBe(`hostname: ${problem}, got ${JSON.stringify(name)}`);
  });

  it('names a caller-given field in the error', () => {
    const err = thrown(() => parseHostname('Bad', 'hostname_prefix'));
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as InvalidInputError).field).toBe('hostname_prefix');
    expect((err as InvalidInputError).message).toBe(`hostname_prefix: ${dnsLabelRule}, got "Bad"`);
  });
});
