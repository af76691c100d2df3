import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/domain/errors';
import { parseMac, tryParseMac } from '../../src/domain/mac-address';

describe('parseMac', () => {
  it.each([
    ['aa:bb:cc:dd:ee:ff', 'aa:bb:cc:dd:ee:ff'],
    ['AA:BB:CC:DD:EE:FF', 'aa:bb:cc:dd:ee:ff'],
    ['AA-BB-CC-0D-EE-FF', 'aa:bb:cc:0d:ee:ff'],
    ['aabb.ccdd.eeff', 'aa:bb:cc:dd:ee:ff'],
    ['AABBCCDDEEF0', 'aa:bb:cc:dd:ee:f0'],
    ['  b4:2e:99:ac:ad:b4 ', 'b4:2e:99:ac:ad:b4'],
  ])('normalises %j to %s', (input, expected) => {
    expect(parseMac(input)).toBe(expected);
  });

  it.each(['', 'aa:bb:cc:dd:ee', 'aa:bb:cc:dd:ee:ff:00', 'gg:bb:cc:dd:ee:ff', 'aa-bb:cc-dd:ee-ff', 'aabbccddeef', 'aabb.ccdd.eef0.1'])(
    'rejects %j naming the field',
    (input) => {
      expect(tryParseMac(input)).toBeNull();
      const err = (() => {
        try {
          parseMac(input);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(InvalidInputError);
      expect((err as InvalidInputError).field).toBe('mac');
      expect((err as InvalidInputError).code).toBe('invalid_request');
    },
  );
});
