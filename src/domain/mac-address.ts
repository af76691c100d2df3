import { InvalidInputError } from './errors';

/** A MAC address in lower-case colon form, `aa:bb:cc:dd:ee:ff`. Only parseMac() makes one. */
export type MacAddress = string & { readonly __brand: 'MacAddress' };

const notations = [
  /^([0-9a-f]{2})[:]([0-9a-f]{2})[:]([0-9a-f]{2})[:]([0-9a-f]{2})[:]([0-9a-f]{2})[:]([0-9a-f]{2})$/i, // aa:bb:cc:dd:ee:ff
  /^([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})$/i, // AA-BB-CC-DD-EE-FF
  /^([0-9a-f]{2})([0-9a-f]{2})\.([0-9a-f]{2})([0-9a-f]{2})\.([0-9a-f]{2})([0-9a-f]{2})$/i, // aabb.ccdd.eeff
  /^([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i, // aabbccddeeff
];

/** Returns the MAC in lower-case colon form, or null when the text is not one of the four notations. */
export function tryParseMac(text: string): MacAddress | null {
  const trimmed = text.trim();
  for (const notation of notations) {
    const m = notation.exec(trimmed);
    if (m) return m.slice(1).join(':').toLowerCase() as MacAddress;
  }
  return null;
}

/** Parses a MAC in any accepted notation; throws InvalidInputError naming `field` otherwise. */
export function parseMac(text: string, field = 'mac'): MacAddress {
  const mac = tryParseMac(text);
  if (mac === null) {
    throw new InvalidInputError(
      field,
      `${field}: expected a MAC address like aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF, aabb.ccdd.eeff or aabbccddeeff, got ${JSON.stringify(text)}`,
    );
  }
  return mac;
}
