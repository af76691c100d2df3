import { DuplicateHostError, HostNotFoundError } from '../domain/errors';
import type { Host, NewHost } from '../domain/host';
import { assertTransition, type HostState } from '../domain/host-state-machine';
import type { MacAddress } from '../domain/mac-address';
import type { Database } from './database';

interface HostRow {
  id: number;
  hostname: string;
  mac: string;
  server_type: string;
  state: HostState;
  ip_address: string | null;
  hardware_id: string | null;
  machine_id: string | null;
  ssh_host_keys: string | null;
  created_at: string;
  updated_at: string;
}

function toHost(row: HostRow): Host {
  return {
    id: row.id,
    hostname: row.hostname,
    mac: row.mac as MacAddress,
    serverType: row.server_type,
    state: row.state,
    ipAddress: row.ip_address,
    hardwareId: row.hardware_id,
    machineId: row.machine_id,
    sshHostKeys: row.ssh_host_keys === null ? null : (JSON.parse(row.ssh_host_keys) as Record<string, string>),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Facts learned about a host during a rebuild. */
export interface HostFacts {
  ipAddress?: string;
  hardwareId?: string;
  machineId?: string;
  sshHostKeys?: Record<string, string>;
}

/** The host registry. All SQL about hosts lives here. */
export class HostStore {
  private readonly byId;
  private readonly byMac;
  private readonly all;
  private readonly insert;
  private readonly remove;
  private readonly setState;

  constructor(
    private readonly db: Database,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.byId = db.prepare<[number], HostRow>('SELECT * FROM hosts WHERE id = ?');
    this.byMac = db.prepare<[string], HostRow>('SELECT * FROM hosts WHERE mac = ?');
    this.all = db.prepare<[], HostRow>('SELECT * FROM hosts ORDER BY hostname');
    this.insert = db.prepare<[string, string, string, string, string], { id: number }>(
      `INSERT INTO hosts (id, hostname, mac, server_type, created_at, updated_at)
       VALUES ((SELECT next FROM host_ids), ?, ?, ?, ?, ?) RETURNING id`, // never a deleted host's id (migration 3)
    );
    this.remove = db.prepare<[number]>('DELETE FROM hosts WHERE id = ?');
    this.setState = db.prepare<[string, string, number]>('UPDATE hosts SET state = ?, updated_at = ? WHERE id = ?');
  }

  list(): Host[] {
    return this.all.all().map(toHost);
  }

  find(id: number): Host | undefined {
    const row = this.byId.get(id);
    return row ? toHost(row) : undefined;
  }

  /** The host with `id`; throws HostNotFoundError. */
  get(id: number): Host {
    const host = this.find(id);
    if (!host) throw new HostNotFoundError(id);
    return host;
  }

  findByMac(mac: MacAddress): Host | undefined {
    const row = this.byMac.get(mac);
    return row ? toHost(row) : undefined;
  }

  /** Registers a host in state `registered`; throws DuplicateHostError on a taken MAC or hostname. */
  create(input: NewHost): Host {
    const at = this.now().toISOString();
    try {
      const { id } = this.insert.get(input.hostname, input.mac, input.serverType, at, at)!;
      return this.get(id);
    } catch (err) {
      const message = (err as { code?: string; message?: string }).message ?? '';
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        if (message.includes('hosts.mac')) throw new DuplicateHostError('duplicate_mac', 'mac', input.mac);
        if (message.includes('hosts.hostname')) throw new DuplicateHostError('duplicate_hostname', 'hostname', input.hostname);
      }
      throw err;
    }
  }

  /** Deletes the host and its history; throws HostNotFoundError. */
  delete(id: number): void {
    if (this.remove.run(id).changes === 0) throw new HostNotFoundError(id);
  }

  /** Moves the host to `to` if the state machine allows it from its current state; returns the new host. */
  transition(id: number, to: HostState): Host {
    return this.db.transaction(() => {
      const host = this.get(id);
      assertTransition(host.state, to);
      this.setState.run(to, this.now().toISOString(), id);
      return this.get(id);
    })();
  }

  /** Records facts reported by the host (phone-home, webhook). Unset fields are left alone. */
  recordFacts(id: number, facts: HostFacts): Host {
    const info = this.db
      .prepare(
        `UPDATE hosts SET
           ip_address = coalesce(?, ip_address),
           hardware_id = coalesce(?, hardware_id),
           machine_id = coalesce(?, machine_id),
           ssh_host_keys = coalesce(?, ssh_host_keys),
           updated_at = ?
         WHERE id = ?`,
      )
      .run(
        facts.ipAddress ?? null,
        facts.hardwareId ?? null,
        facts.machineId ?? null,
        facts.sshHostKeys ? JSON.stringify(facts.sshHostKeys) : null,
        this.now().toISOString(),
        id,
      );
    if (info.changes === 0) throw new HostNotFoundError(id);
    return this.get(id);
  }
}
