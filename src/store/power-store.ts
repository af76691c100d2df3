import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { InvalidInputError } from '../domain/errors';
import type { Host } from '../domain/host';
import { subnetBroadcast } from '../domain/power-settings';
import { PowerError, type PowerMethod, type PowerSettings, type PowerState, type PowerTarget } from '../power/types';
import type { Database } from './database';

type Update<S> = S extends { passwordSet: boolean } ? Omit<S, 'passwordSet'> & { password?: string | undefined } : S;

/** A change of a host's power settings: the settings without `passwordSet`, and a password where the method has one (omitted: keep the stored one). */
export type PowerUpdate = Update<PowerSettings>;

/**
 * The kind of a power event in the host's history (OperationStore.append), whoever calls the BMC: `details.powerState`
 * is the state the call left (PowerOutcome.state), absent when it failed; the tile shows the latest one.
 */
export const powerEventKind = 'power';

/** The power state a host's latest power event recorded, when that was on or off. */
export interface LastPowerState {
  state: Exclude<PowerState, 'unknown'>;
  at: string; // ISO-8601, the event's time
}

interface PowerRow {
  host_id: number;
  method: PowerMethod;
  settings: string;
  password_enc: Buffer | null;
  updated_at: string;
}

const withPassword = (method: PowerMethod): method is 'ipmi' | 'redfish' => method === 'ipmi' || method === 'redfish';

/** The fields of `update` that are not secret, as stored in the settings column. */
function storedFields(update: PowerUpdate): Record<string, unknown> {
  switch (update.method) {
    case 'manual':
      return {};
    case 'wol':
      return { broadcast: update.broadcast, port: update.port };
    case 'ipmi':
      return { address: update.address, port: update.port, username: update.username };
    case 'redfish':
      return { url: update.url, username: update.username, systemId: update.systemId, fingerprint: update.fingerprint, caFile: update.caFile };
    case 'proxmox':
      return { node: update.node };
  }
}

function toSettings(row: PowerRow | undefined): PowerSettings {
  if (!row) return { method: 'manual' };
  const f = JSON.parse(row.settings) as Record<string, unknown>;
  const text = (k: string) => f[k] as string;
  const nullable = (k: string) => (f[k] ?? null) as string | null;
  const passwordSet = row.password_enc !== null;
  switch (row.method) {
    case 'manual':
      return { method: 'manual' };
    case 'wol':
      return { method: 'wol', broadcast: nullable('broadcast'), port: f.port as number };
    case 'ipmi':
      return { method: 'ipmi', address: text('address'), port: f.port as number, username: text('username'), passwordSet };
    case 'redfish':
      return { method: 'redfish', url: text('url'), username: text('username'), passwordSet, systemId: nullable('systemId'), fingerprint: nullable('fingerprint'), caFile: nullable('caFile') };
    case 'proxmox':
      return { method: 'proxmox', node: nullable('node') };
  }
}

/**
 * Each host's power settings (issue 17). The BMC password is write-only: settings() answers `passwordSet`, and only
 * target() decrypts it, for one driver call. It is stored AES-256-GCM-encrypted under the key-encryption key (layout:
 * 12-byte IV | 16-byte tag | ciphertext; `host-power:<host id>` bound as additional data, so a blob copied to another
 * host's row does not decrypt). A deleted host's settings go with it (ON DELETE CASCADE).
 */
export class PowerStore {
  private readonly byHost;
  private readonly all;
  private readonly upsert;
  private readonly latestState;
  private readonly pxeSubnet: string;
  private readonly now: () => Date;

  constructor(
    private readonly db: Database,
    private readonly encryptionKey: Buffer,
    options: { pxeSubnet?: string; now?: () => Date } = {},
  ) {
    if (encryptionKey.length !== 32) throw new Error('power store: the key-encryption key must be 32 bytes');
    this.pxeSubnet = options.pxeSubnet ?? '';
    this.now = options.now ?? (() => new Date());
    this.byHost = db.prepare<[number], PowerRow>('SELECT * FROM host_power WHERE host_id = ?');
    this.all = db.prepare<[], PowerRow>('SELECT * FROM host_power');
    this.upsert = db.prepare<[number, string, string, Buffer | null, string]>(
      `INSERT INTO host_power (host_id, method, settings, password_enc, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (host_id) DO UPDATE SET method = excluded.method, settings = excluded.settings,
         password_enc = excluded.password_enc, updated_at = excluded.updated_at`,
    );
    // Failed calls record no state: the latest event that did, when it said on or off (unknown: nothing to show).
    this.latestState = db.prepare<[number, string], { at: string; state: string }>(
      `SELECT at, json_extract(details, '$.powerState') AS state FROM operation_events
       WHERE host_id = ? AND kind = ? AND json_extract(details, '$.powerState') IS NOT NULL ORDER BY id DESC LIMIT 1`,
    );
  }

  /** The host's power settings without the password ('manual' when none were set). */
  settings(hostId: number): PowerSettings {
    return toSettings(this.byHost.get(hostId));
  }

  /** Every host's settings that are not 'manual', by host id (for lists: one query). */
  settingsByHost(): Map<number, PowerSettings> {
    return new Map(this.all.all().map((row) => [row.host_id, toSettings(row)]));
  }

  /**
   * Sets the host's power settings. A password omitted keeps the stored one (when the new method takes one too); a
   * method without a password clears it. Throws InvalidInputError (`power.password`) when the method needs a password
   * and none is given or stored.
   */
  set(hostId: number, update: PowerUpdate): PowerSettings {
    return this.db.transaction(() => {
      const stored = this.byHost.get(hostId);
      let blob: Buffer | null = null;
      if (withPassword(update.method)) {
        const password = (update as { password?: string }).password;
        if (password !== undefined) blob = this.encrypt(hostId, password);
        else if (stored?.password_enc) blob = stored.password_enc;
        else throw new InvalidInputError('power.password', `power.password: required for method ${update.method} (none is stored for this host)`);
      }
      this.upsert.run(hostId, update.method, JSON.stringify(storedFields(update)), blob, this.now().toISOString());
      return this.settings(hostId);
    })();
  }

  /**
   * What a driver needs to power `host`, password decrypted: in memory only, for one call. Throws PowerError
   * ('invalid_settings') when the settings cannot make one (WoL with neither a broadcast nor pxe.subnet).
   */
  target(hostId: number, host: Pick<Host, 'hostname' | 'mac'>): PowerTarget {
    const row = this.byHost.get(hostId);
    const settings = toSettings(row);
    switch (settings.method) {
      case 'manual':
        return { method: 'manual' };
      case 'wol': {
        const broadcast = settings.broadcast ?? subnetBroadcast(this.pxeSubnet);
        if (!broadcast) throw new PowerError('invalid_settings', `${host.hostname} (wol): no broadcast address: set power.broadcast or pxe.subnet`);
        return { method: 'wol', mac: host.mac, broadcast, port: settings.port };
      }
      case 'ipmi':
      case 'redfish': {
        if (!row?.password_enc) throw new PowerError('invalid_settings', `${host.hostname} (${settings.method}): no BMC password is stored`);
        const password = this.decrypt(hostId, host, row.password_enc);
        return settings.method === 'ipmi'
          ? { method: 'ipmi', address: settings.address, port: settings.port, username: settings.username, password }
          : { method: 'redfish', url: settings.url, username: settings.username, password, systemId: settings.systemId, fingerprint: settings.fingerprint, caFile: settings.caFile };
      }
      case 'proxmox':
        return { method: 'proxmox', node: settings.node ?? host.hostname };
    }
  }

  /** The on/off state the host's latest power event recorded, or null (none yet, or the latest could not tell). */
  lastState(hostId: number): LastPowerState | null {
    const row = this.latestState.get(hostId, powerEventKind);
    return row && (row.state === 'on' || row.state === 'off') ? { state: row.state, at: row.at } : null;
  }

  private encrypt(hostId: number, password: string): Buffer {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.encryptionKey, iv);
    cipher.setAAD(Buffer.from(`host-power:${hostId}`));
    const ciphertext = Buffer.concat([cipher.update(password, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), ciphertext]);
  }

  private decrypt(hostId: number, host: Pick<Host, 'hostname'>, blob: Buffer): string {
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.encryptionKey, blob.subarray(0, 12));
      decipher.setAAD(Buffer.from(`host-power:${hostId}`));
      decipher.setAuthTag(blob.subarray(12, 28));
      return Buffer.concat([decipher.update(blob.subarray(28)), decipher.final()]).toString('utf8');
    } catch {
      throw new PowerError('invalid_settings', `${host.hostname}: the stored BMC password does not decrypt under this key-encryption key (was secrets.key_encryption_key changed?); set the password again`);
    }
  }
}
