import { IllegalTransitionError } from './errors';

/** Host states in rebuild order, then the one failure state. */
export const hostStates = [
  'registered',
  'pxe_ready',
  'pxe_booted',
  'installing',
  'installed',
  'first_boot',
  'joining',
  'ready',
  'failed',
] as const;
export type HostState = (typeof hostStates)[number];

/** States in which a rebuild is under way. */
export const activeStates: readonly HostState[] = [
  'pxe_ready',
  'pxe_booted',
  'installing',
  'installed',
  'first_boot',
  'joining',
];

// The table: every allowed `from → to`. Anything not listed is illegal.
const transitions: Readonly<Record<HostState, readonly HostState[]>> = {
  registered: ['pxe_ready'],
  pxe_ready: ['pxe_booted', 'failed'],
  // Back to pxe_ready: a power retry (issue 17) power-cycles a machine stuck before `installed` into the installer again.
  pxe_booted: ['installing', 'pxe_ready', 'failed'],
  installing: ['installed', 'pxe_ready', 'failed'],
  installed: ['first_boot', 'failed'],
  first_boot: ['joining', 'failed'],
  joining: ['ready', 'failed'],
  ready: ['pxe_ready'],
  failed: ['pxe_ready'],
};

/** True when `state` is one of the host states. */
export function isHostState(state: string): state is HostState {
  return (hostStates as readonly string[]).includes(state);
}

/** True when a rebuild is under way in `state`. */
export function isActive(state: HostState): boolean {
  return activeStates.includes(state);
}

/** True when the host state machine allows `from → to`. */
export function canTransition(from: HostState, to: HostState): boolean {
  return transitions[from].includes(to);
}

/** Throws IllegalTransitionError naming both states unless `from → to` is allowed. */
export function assertTransition(from: HostState, to: HostState): void {
  if (!canTransition(from, to)) throw new IllegalTransitionError(from, to);
}
