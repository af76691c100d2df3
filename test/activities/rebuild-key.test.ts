// The rebuild key pair: every generated pair must be usable for the SSH login of the join.
import { utils } from 'ssh2';
import { describe, expect, it } from 'vitest';
import { generateEd25519KeyPair } from '../../activities/rebuild-key';

/** An OpenSSH public key line whose 32-byte key lost its first byte, as ssh2's generator makes 1 time in 256. */
function strippedPublicKey(line: string): string {
  const [type, b64, comment] = line.split(' ');
  const blob = Buffer.from(b64!, 'base64');
  const typeLength = blob.readUInt32BE(0);
  const key = blob.subarray(4 + typeLength + 4);
  const short = Buffer.alloc(4);
  short.writeUInt32BE(31);
  return `${type} ${Buffer.concat([blob.subarray(0, 4 + typeLength), short, key.subarray(1)]).toString('base64')} ${comment}`;
}

describe('generateEd25519KeyPair', () => {
  it('generates again when a pair does not parse (ssh2 strips leading zero bytes of the public key)', () => {
    const good = utils.generateKeyPairSync('ed25519', { comment: 'good' });
    const broken = { ...utils.generateKeyPairSync('ed25519', { comment: 'broken' }) };
    broken.public = strippedPublicKey(broken.public);
    expect(utils.parseKey(broken.public)).toBeInstanceOf(Error);
    const made: string[] = [];
    const pair = generateEd25519KeyPair('c', ((_type: string, options: { comment: string }) => {
      made.push(options.comment);
      return made.length === 1 ? broken : good;
    }) as unknown as typeof utils.generateKeyPairSync);
    expect(made).toHaveLength(2);
    expect(pair).toBe(good);
  });

  it('gives up with a clear error when the generator never makes a usable pair', () => {
    const broken = { ...utils.generateKeyPairSync('ed25519') };
    broken.public = strippedPublicKey(broken.public);
    expect(() => generateEd25519KeyPair('c', (() => broken) as unknown as typeof utils.generateKeyPairSync)).toThrow(
      'could not generate a usable ed25519 key pair in 10 attempts',
    );
  });

  it('makes 2,000 pairs in a row that all parse and match (unfixed, about 8 of them would not)', () => {
    for (let i = 0; i < 2000; i++) {
      const pair = generateEd25519KeyPair(`k${i}`);
      const pub = utils.parseKey(pair.public);
      const priv = utils.parseKey(pair.private);
      if (pub instanceof Error || priv instanceof Error || Array.isArray(pub) || Array.isArray(priv)) throw new Error(`pair ${i} does not parse`);
      expect(pub.getPublicSSH().equals(priv.getPublicSSH())).toBe(true);
      expect(pair.public).toMatch(/^ssh-ed25519 \S+ k\d+$/);
    }
  });
});
