import type { MacAddress } from '../domain/mac-address';
import type { Database } from './database';

/** One MAC that an active rebuild allows to PXE boot the installer. */
export interface PxeAllowance {
  mac: MacAddress;
  hostId: number;
  workflowId: string;
  allowedAt: string;
}

interface AllowRow {
  mac: string;
  host_id: number;
  workflow_id: string;
  allowed_at: string;
}

/** The MACs allowed to PXE boot right now. The boot endpoints and the dnsmasq host file read it. */
export class PxeAllowList {
  private readonly byMac;
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly db: Database,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.byMac = db.prepare<[string], AllowRow>('SELECT * FROM pxe_allow WHERE mac = ?');
  }

  /** Allows `mac` for the rebuild `workflowId` (idempotent; a newer rebuild replaces an older allowance). */
  allow(mac: MacAddress, hostId: number, workflowId: string): void {
    this.db
      .prepare(
        `INSERT INTO pxe_allow (mac, host_id, workflow_id, allowed_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (mac) DO UPDATE SET host_id = excluded.host_id, workflow_id = excluded.workflow_id, allowed_at = excluded.allowed_at`,
      )
      .run(mac, hostId, workflowId, this.now().toISOString());
    this.changed();
  }

  /** Calls `listener` after every allow or revoke in this process; returns the unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }

  /** Revokes `mac`; returns false when it was not allowed. */
  revoke(mac: MacAddress): boolean {
    const removed = this.db.prepare('DELETE FROM pxe_allow WHERE mac = ?').run(mac).changes > 0;
    if (removed) this.changed();
    return removed;
  }

  /** Revokes `allowance` only if it is still the one stored (a newer rebuild may have replaced it since it was read). */
  revokeIfUnchanged(allowance: PxeAllowance): boolean {
    const removed =
      this.db
        .prepare('DELETE FROM pxe_allow WHERE mac = ? AND workflow_id = ? AND allowed_at = ?')
        .run(allowance.mac, allowance.workflowId, allowance.allowedAt).changes > 0;
    if (removed) this.changed();
    return removed;
  }

  find(mac: MacAddress): PxeAllowance | undefined {
    const row = this.byMac.get(mac);
    return row ? { mac: row.mac as MacAddress, hostId: row.host_id, workflowId: row.workflow_id, allowedAt: row.allowed_at } : undefined;
  }

  list(): PxeAllowance[] {
    return this.db
      .prepare<[], AllowRow>('SELECT * FROM pxe_allow ORDER BY mac')
      .all()
      .map((r) => ({ mac: r.mac as MacAddress, hostId: r.host_id, workflowId: r.workflow_id, allowedAt: r.allowed_at }));
  }
}
