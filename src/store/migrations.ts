// Ordered, embedded schema migrations. Each runs once (the pending ones together in one transaction); PRAGMA
// user_version records the last one applied. Never edit a released migration: add the next one.

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'hosts, operations, events, images, rebuild keys, pxe allow-list',
    sql: `
      CREATE TABLE hosts (
        id           INTEGER PRIMARY KEY,
        hostname     TEXT NOT NULL UNIQUE,
        mac          TEXT NOT NULL UNIQUE,
        server_type  TEXT NOT NULL,
        state        TEXT NOT NULL DEFAULT 'registered' CHECK (state IN
                       ('registered','pxe_ready','pxe_booted','installing','installed','first_boot','joining','ready','failed')),
        ip_address   TEXT,
        hardware_id  TEXT,
        machine_id   TEXT,
        ssh_host_keys TEXT,
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL
      );

      CREATE TABLE operations (
        id              INTEGER PRIMARY KEY,
        host_id         INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
        kind            TEXT NOT NULL DEFAULT 'rebuild',
        workflow_id     TEXT NOT NULL,
        run_id          TEXT NOT NULL UNIQUE,
        status          TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running','succeeded','failed')),
        stage           TEXT,
        failure_reason  TEXT,
        failure_message TEXT,
        started_at      TEXT NOT NULL,
        finished_at     TEXT
      );
      CREATE INDEX operations_host ON operations(host_id, id);

      CREATE TABLE operation_events (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        host_id      INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
        operation_id INTEGER REFERENCES operations(id) ON DELETE CASCADE,
        at           TEXT NOT NULL,
        kind         TEXT NOT NULL,
        state        TEXT,
        message      TEXT NOT NULL,
        details      TEXT
      );
      CREATE INDEX operation_events_operation ON operation_events(operation_id, id);
      CREATE INDEX operation_events_host ON operation_events(host_id, id);

      CREATE TABLE images (
        name        TEXT PRIMARY KEY,
        kernel      TEXT NOT NULL,
        initrd      TEXT NOT NULL,
        iso         TEXT NOT NULL,
        pve_release TEXT,
        created_at  TEXT NOT NULL
      );

      CREATE TABLE rebuild_keys (
        id               TEXT PRIMARY KEY,
        workflow_id      TEXT NOT NULL,
        operation_id     INTEGER REFERENCES operations(id) ON DELETE SET NULL,
        public_key       TEXT NOT NULL,
        private_key_enc  BLOB NOT NULL,
        created_at       TEXT NOT NULL
      );

      CREATE TABLE pxe_allow (
        mac         TEXT PRIMARY KEY,
        host_id     INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
        workflow_id TEXT NOT NULL,
        allowed_at  TEXT NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'dashboard feed: one row per host change, written by triggers (works across processes)',
    sql: `
      CREATE TABLE feed (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        host_id INTEGER NOT NULL,
        kind    TEXT NOT NULL CHECK (kind IN ('changed', 'deleted'))
      );
      CREATE TRIGGER feed_host_inserted AFTER INSERT ON hosts BEGIN
        INSERT INTO feed (host_id, kind) VALUES (NEW.id, 'changed');
      END;
      CREATE TRIGGER feed_host_updated AFTER UPDATE ON hosts BEGIN
        INSERT INTO feed (host_id, kind) VALUES (NEW.id, 'changed');
      END;
      CREATE TRIGGER feed_host_deleted AFTER DELETE ON hosts BEGIN
        INSERT INTO feed (host_id, kind) VALUES (OLD.id, 'deleted');
      END;
      CREATE TRIGGER feed_operation_updated AFTER UPDATE ON operations BEGIN
        INSERT INTO feed (host_id, kind) VALUES (NEW.host_id, 'changed');
      END;
      CREATE TRIGGER feed_event_inserted AFTER INSERT ON operation_events BEGIN
        INSERT INTO feed (host_id, kind) VALUES (NEW.host_id, 'changed');
      END;
    `,
  },
  {
    version: 3,
    // hosts.id has no AUTOINCREMENT, so SQLite gave a deleted host's id (when it was the highest) to the next host,
    // and with it the Temporal workflow id rebuild-<id> and its runs in the Web UI. Rebuilding the table to add
    // AUTOINCREMENT would cascade-delete the operations (foreign keys stay on in a migration), so the next id is
    // kept here instead, started above every id the hosts and the feed have seen.
    name: 'host ids are never reused: host_ids.next, advanced by a trigger',
    sql: `
      CREATE TABLE host_ids (next INTEGER NOT NULL);
      INSERT INTO host_ids (next) SELECT max(coalesce((SELECT max(id) FROM hosts), 0), coalesce((SELECT max(host_id) FROM feed), 0)) + 1;
      CREATE TRIGGER host_ids_advance AFTER INSERT ON hosts BEGIN
        UPDATE host_ids SET next = max(next, NEW.id + 1);
      END;
    `,
  },
  {
    version: 4,
    // Boot images are the folders under images.dir (src/images/image-library.ts); this table was never used.
    name: 'drop the unused images table',
    sql: `DROP TABLE images;`,
  },
  {
    version: 5,
    // A host's power method (issue 17); no row is 'manual'. `settings` holds the JSON of the fields that are not
    // secret; the BMC password is AES-256-GCM ciphertext under the key-encryption key (src/store/power-store.ts). The
    // index finds a host's latest power event for its tile without reading its whole history.
    name: 'power settings per host (password encrypted), the latest power event of a host',
    sql: `
      CREATE TABLE host_power (
        host_id      INTEGER PRIMARY KEY REFERENCES hosts(id) ON DELETE CASCADE,
        method       TEXT NOT NULL CHECK (method IN ('manual','wol','ipmi','redfish','proxmox')),
        settings     TEXT NOT NULL,
        password_enc BLOB,
        updated_at   TEXT NOT NULL
      );
      CREATE INDEX operation_events_host_kind ON operation_events(host_id, kind, id);
      CREATE TRIGGER feed_power_inserted AFTER INSERT ON host_power BEGIN
        INSERT INTO feed (host_id, kind) VALUES (NEW.host_id, 'changed');
      END;
      CREATE TRIGGER feed_power_updated AFTER UPDATE ON host_power BEGIN
        INSERT INTO feed (host_id, kind) VALUES (NEW.host_id, 'changed');
      END;
    `,
  },
  {
    version: 6,
    // Issue 18. `stream_events`: what GET /api/events sends scripts, with stable names, written by triggers on the
    // tables every process writes (so a worker's changes reach the gateway's stream), plus image progress written by
    // the gateway; its id is the SSE event id a client resumes from. `audit`: every operator action and boot
    // decision, who (never a token), from where, the result; pruned after audit.retention. Neither has a foreign key:
    // a deleted host's entries stay.
    name: 'event stream for scripts (stable names, by triggers), audit trail',
    sql: `
      CREATE TABLE stream_events (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        name     TEXT NOT NULL,
        host_id  INTEGER,
        mac      TEXT,
        hostname TEXT,
        state    TEXT,
        data     TEXT NOT NULL DEFAULT '{}'
      );
      CREATE INDEX stream_events_host ON stream_events(host_id, id);
      CREATE TRIGGER stream_host_registered AFTER INSERT ON hosts BEGIN
        INSERT INTO stream_events (name, host_id, mac, hostname, state, data)
        VALUES ('host.registered', NEW.id, NEW.mac, NEW.hostname, NEW.state, json_object('server_type', NEW.server_type));
      END;
      CREATE TRIGGER stream_host_updated AFTER UPDATE OF hostname, mac, server_type ON hosts
      WHEN OLD.hostname IS NOT NEW.hostname OR OLD.mac IS NOT NEW.mac OR OLD.server_type IS NOT NEW.server_type BEGIN
        INSERT INTO stream_events (name, host_id, mac, hostname, state, data)
        VALUES ('host.updated', NEW.id, NEW.mac, NEW.hostname, NEW.state, json_object('server_type', NEW.server_type));
      END;
      CREATE TRIGGER stream_power_inserted AFTER INSERT ON host_power BEGIN
        INSERT INTO stream_events (name, host_id, mac, hostname, state, data)
        SELECT 'host.updated', id, mac, hostname, state, json_object('power_method', NEW.method) FROM hosts WHERE id = NEW.host_id;
      END;
      CREATE TRIGGER stream_power_updated AFTER UPDATE ON host_power BEGIN
        INSERT INTO stream_events (name, host_id, mac, hostname, state, data)
        SELECT 'host.updated', id, mac, hostname, state, json_object('power_method', NEW.method) FROM hosts WHERE id = NEW.host_id;
      END;
      CREATE TRIGGER stream_host_deleted AFTER DELETE ON hosts BEGIN
        INSERT INTO stream_events (name, host_id, mac, hostname, state, data)
        VALUES ('host.deleted', OLD.id, OLD.mac, OLD.hostname, OLD.state, '{}');
      END;
      CREATE TRIGGER stream_rebuild_started AFTER INSERT ON operations BEGIN
        INSERT INTO stream_events (name, host_id, mac, hostname, state, data)
        SELECT 'rebuild.started', id, mac, hostname, state,
               json_object('operation_id', NEW.id, 'workflow_id', NEW.workflow_id, 'run_id', NEW.run_id)
        FROM hosts WHERE id = NEW.host_id;
      END;
      CREATE TRIGGER stream_rebuild_stage AFTER INSERT ON operation_events
      WHEN NEW.kind = 'state' AND NEW.state NOT IN ('ready', 'failed') BEGIN
        INSERT INTO stream_events (name, host_id, mac, hostname, state, data)
        SELECT 'rebuild.stage', id, mac, hostname, NEW.state,
               json_object('operation_id', NEW.operation_id, 'state', NEW.state, 'message', NEW.message)
        FROM hosts WHERE id = NEW.host_id;
      END;
      CREATE TRIGGER stream_rebuild_ended AFTER UPDATE OF status ON operations
      WHEN OLD.status = 'running' AND NEW.status <> 'running' BEGIN
        INSERT INTO stream_events (name, host_id, mac, hostname, state, data)
        SELECT CASE NEW.status WHEN 'succeeded' THEN 'rebuild.ready' ELSE 'rebuild.failed' END, id, mac, hostname, state,
               CASE NEW.status WHEN 'succeeded' THEN json_object('operation_id', NEW.id)
               ELSE json_object('operation_id', NEW.id, 'stage', NEW.stage, 'reason', NEW.failure_reason, 'message', NEW.failure_message) END
        FROM hosts WHERE id = NEW.host_id;
      END;

      CREATE TABLE audit (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        at       TEXT NOT NULL,
        kind     TEXT NOT NULL,
        actor    TEXT NOT NULL,
        address  TEXT,
        host_id  INTEGER,
        mac      TEXT,
        hostname TEXT,
        result   TEXT NOT NULL,
        message  TEXT NOT NULL,
        details  TEXT
      );
      CREATE INDEX audit_at ON audit(at);
      CREATE INDEX audit_host ON audit(host_id, id);
      CREATE INDEX audit_mac ON audit(mac, id);
      CREATE INDEX audit_kind ON audit(kind, id);
      CREATE TRIGGER stream_boot_decision AFTER INSERT ON audit WHEN NEW.kind = 'boot.decision' BEGIN
        INSERT INTO stream_events (at, name, host_id, mac, hostname, state, data)
        VALUES (NEW.at, 'boot.decision', NEW.host_id, NEW.mac, NEW.hostname,
                (SELECT state FROM hosts WHERE id = NEW.host_id),
                json_object('action', json_extract(NEW.details, '$.action'), 'reason', json_extract(NEW.details, '$.reason'),
                            'code', json_extract(NEW.details, '$.code'), 'endpoint', json_extract(NEW.details, '$.endpoint')));
      END;
    `,
  },
];
