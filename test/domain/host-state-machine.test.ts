import { describe, expect, it } from 'vitest';
import { IllegalTransitionError } from '../../src/domain/errors';
import { assertTransition, canTransition, hostStates, type HostState } from '../../src/domain/host-state-machine';

// The intended table, written out independently of the source: every allowed `from → to`.
const states: readonly HostState[] = [
  'registered',
  'pxe_ready',
  'pxe_booted',
  'installing',
  'installed',
  'first_boot',
  'joining',
  'ready',
  'failed',
];
const active: readonly HostState[] = ['pxe_ready', 'pxe_booted', 'installing', 'installed', 'first_boot', 'joining'];
const allowed = new Set<string>([
  'registered→pxe_ready',
  'pxe_ready→pxe_booted',
  'pxe_booted→installing',
  'installing→installed',
  'installed→first_boot',
  'first_boot→joining',
  'joining→ready',
  ...active.map((s) => `${s}→failed`),
  'ready→pxe_ready',
  'failed→pxe_ready',
  // a power retry starts the install again from a stuck stage before `installed`
  'pxe_booted→pxe_ready',
  'installing→pxe_ready',
]);

const pairs: [HostState, HostState][] = states.flatMap((from) => states.map((to): [HostState, HostState] => [from, to]));
const allowedPairs = pairs.filter(([from, to]) => allowed.has(`${from}→${to}`));
const forbiddenPairs = pairs.filter(([from, to]) => !allowed.has(`${from}→${to}`));

describe('host state machine', () => {
  it('has exactly the nine states in rebuild order', () => {
    expect([...hostStates]).toEqual(states);
  });

  it('covers all 81 pairs: 17 allowed and 64 forbidden', () => {
    expect(pairs).toHaveLength(81);
    expect(allowedPairs).toHaveLength(17);
    expect(forbiddenPairs).toHaveLength(64);
  });
});

describe('canTransition', () => {
  it.each(pairs)('%s → %s matches the table', (from, to) => {
    expect(canTransition(from, to)).toBe(allowed.has(`${from}→${to}`));
  });
});

describe('assertTransition', () => {
  it.each(allowedPairs)('allows %s → %s', (from, to) => {
    expect(() => assertTransition(from, to)).not.toThrow();
  });

  it.each(forbiddenPairs)('rejects %s → %s with an IllegalTransitionError naming both states', (from, to) => {
    let caught: unknown;
    try {
      assertTransition(from, to);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(IllegalTransitionError);
    const err = caught as IllegalTransitionError;
    expect(err.message).toBe(`host cannot go from ${from} to ${to}`);
    expect(err.code).toBe('illegal_transition');
    expect(err.from).toBe(from);
    expect(err.to).toBe(to);
  });
});
