// Power control of a host (issue 17): how the service powers a machine on or reboots it into network boot.
// The contract between the drivers (src/power/<method>.ts), the host registry that stores each host's settings
// (credentials encrypted at rest) and the rebuild that uses them. No I/O here.

/** How a host is powered: by hand (the default), or one of the four ways the service does it. */
export const powerMethods = ['manual', 'wol', 'ipmi', 'redfish', 'proxmox'] as const;
export type PowerMethod = (typeof powerMethods)[number];

/** A host's power settings without secrets: what the API returns (`password_set` stands for the password). */
export type PowerSettings =
  | { method: 'manual' }
  | { method: 'wol'; broadcast: string | null; port: number } // broadcast null: the broadcast address of pxe.subnet; port 9
  | { method: 'ipmi'; address: string; port: number; username: string; passwordSet: boolean } // port 623
  | { method: 'redfish'; url: string; username: string; passwordSet: boolean; systemId: string | null; fingerprint: string | null; caFile: string | null }
  | { method: 'proxmox'; node: string | null }; // node null: the host's hostname

/** The settings with the secret a driver needs, in memory only (decrypted from the store for one call). */
export type PowerTarget =
  | { method: 'manual' }
  | { method: 'wol'; mac: string; broadcast: string; port: number }
  | { method: 'ipmi'; address: string; port: number; username: string; password: string }
  | { method: 'redfish'; url: string; username: string; password: string; systemId: string | null; fingerprint: string | null; caFile: string | null }
  | { method: 'proxmox'; node: string };

export type PowerState = 'on' | 'off' | 'unknown';
export type PowerAction = 'on' | 'off' | 'cycle' | 'pxe-once';

/** What a power call did, in words for the host's history: "Redfish: one-time PXE set, ForceRestart sent". */
export interface PowerOutcome {
  did: string;
  state: PowerState; // as read after (or before) the action; 'unknown' where the method cannot tell (WoL)
}

/** One host's power, through its method. Every call names the host and method in its errors (PowerError). */
export interface PowerDriver {
  readonly method: PowerMethod;
  /** The power state, without changing anything ('unknown' for manual and WoL). */
  status(): Promise<PowerState>;
  /** Into the installer: one-time network boot plus a power cycle (or power on when off); WoL: the magic packet. */
  intoInstaller(): Promise<PowerOutcome>;
  /** An operator's action; `pxe-once` only sets the one-time network boot. */
  act(action: PowerAction): Promise<PowerOutcome>;
  /** A read-only check of the settings (reachable, credentials accepted, PXE among the boot targets). */
  test(): Promise<PowerOutcome>;
  /** After the installer started: null when no boot override is left persistent, else what is (for the history). */
  persistentOverride(): Promise<string | null>;
}

export type PowerErrorCode = 'unreachable' | 'auth_failed' | 'unsupported' | 'refused' | 'invalid_settings' | 'not_configured';

/** A power call that failed, with a stable code and a message naming the host and the method. */
export class PowerError extends Error {
  constructor(
    readonly code: PowerErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'PowerError';
  }
}
