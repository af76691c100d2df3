// Real: SQLite file with the feed triggers, the stores, the hub. Clients are in-memory collectors.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EventHub, type SseClient } from '../../src/dashboard/event-hub';
import { hostUpdateRenderer } from '../../src/dashboard/render-update';
import { parseMac } from '../../src/domain/mac-address';
import { openDatabase } from '../../src/store/database';
import { FeedStore } from '../../src/store/feed-store';
import { HostStore } from '../../src/store/host-store';
import { OperationStore } from '../../src/store/operation-store';
import { Resources } from '../helpers/release';
import { tempDir } from '../helpers/temp-dir';

const resources = new Resources();
afterEach(() => resources.releaseAll());

function setup(options: ConstructorParameters<typeof EventHub>[2] = {}) {
  const dir = resources.add(tempDir(), async (d) => d.remove());
  const db = resources.add(openDatabase(join(dir.path, 'p.db')), async (d) => void d.close());
  const hosts = new HostStore(db);
  const operations = new OperationStore(db);
  const hub = new EventHub(new FeedStore(db), hostUpdateRenderer(hosts, operations), { heartbeatMs: 60_000, ...options });
  resources.add(hub, async (h) => h.closeAll());
  return { db, hosts, operations, hub };
}

interface Message {
  id?: number;
  event?: string;
  data?: { hostId: number; deleted?: true; state?: string; tile?: string };
  comment?: string;
}

/** A client that parses what it is sent. */
function collector(): SseClient & { messages: Message[]; writes: number; ended: boolean } {
  const c = {
    messages: [] as Message[],
    writes: 0,
    ended: false,
    write(chunk: string | Buffer) {
      c.writes++;
      for (const block of String(chunk).split('\n\n').filter(Boolean)) {
        const m: Message = {};
        for (const line of block.split('\n')) {
          if (line.startsWith(': ')) m.comment = line.slice(2);
          else if (line.startsWith('id: ')) m.id = Number(line.slice(4));
          else if (line.startsWith('event: ')) m.event = line.slice(7);
          else if (line.startsWith('data: ')) m.data = JSON.parse(line.slice(6));
        }
        if (m.event || m.comment) c.messages.push(m);
      }
    },
    end() {
      c.ended = true;
    },
  };
  return c;
}

const mac = (n: number) => parseMac(`aa:bb:cc:dd:ee:${n.toString(16).padStart(2, '0')}`);

describe('EventHub', () => {
  it('sends each changed host once per poll, with its latest tile and increasing event ids', () => {
    const { hosts, hub } = setup();
    const client = collector();
    resources.add(hub.connect(client), async (off) => off());
    const a = hosts.create({ hostname: 'pve-a', mac: mac(1), serverType: 'x' });
    const b = hosts.create({ hostname: 'pve-b', mac: mac(2), serverType: 'x' });
    hosts.transition(a.id, 'pxe_ready');
    hub.poll();
    const updates = client.messages.filter((m) => m.event === 'host');
    expect(updates.map((m) => [m.data!.hostId, m.data!.state])).toEqual([
      [b.id, 'registered'],
      [a.id, 'pxe_ready'],
    ]);
    expect(updates[0]!.id!).toBeLessThan(updates[1]!.id!);
    expect(updates[1]!.data!.tile).toContain('Waiting for PXE');

    hosts.delete(b.id);
    hub.poll();
    expect(client.messages.at(-1)).toMatchObject({ event: 'host', data: { hostId: b.id, deleted: true } });
  });

  it('sends a burst of changes to each client in one write per poll', () => {
    const { hosts, hub } = setup();
    const clients = [collector(), collector(), collector()];
    for (const c of clients) resources.add(hub.connect(c), async (off) => off());
    const before = clients.map((c) => c.writes);
    const created = Array.from({ length: 40 }, (_, i) => hosts.create({ hostname: `pve-${i}`, mac: mac(i + 1), serverType: 'x' }));
    for (const h of created) hosts.transition(h.id, 'pxe_ready');
    hub.poll();
    for (const [i, c] of clients.entries()) {
      expect(c.writes - before[i]!).toBe(1);
      const updates = c.messages.filter((m) => m.event === 'host');
      expect(updates.map((m) => m.data!.hostId)).toEqual(created.map((h) => h.id));
      expect(updates.every((m) => m.data!.state === 'pxe_ready')).toBe(true);
    }
  });

  it('replays what a reconnecting client missed after its Last-Event-ID', () => {
    const { hosts, hub } = setup();
    const first = collector();
    const off = hub.connect(first);
    const a = hosts.create({ hostname: 'pve-a', mac: mac(1), serverType: 'x' });
    hub.poll();
    const seen = first.messages.at(-1)!.id!;
    off();
    hosts.transition(a.id, 'pxe_ready');
    const b = hosts.create({ hostname: 'pve-b', mac: mac(2), serverType: 'x' });
    hub.poll();

    const again = collector();
    resources.add(hub.connect(again, seen), async (o) => o());
    expect(again.messages.filter((m) => m.event === 'host').map((m) => [m.data!.hostId, m.data!.state])).toEqual([
      [a.id, 'pxe_ready'],
      [b.id, 'registered'],
    ]);
  });

  it('tells a client that is too far behind, or from another database, to reload', () => {
    const { hosts, hub } = setup({ replayLimit: 5 });
    const client = collector();
    resources.add(hub.connect(client), async (o) => o());
    for (let i = 1; i <= 8; i++) hosts.create({ hostname: `pve-${i}`, mac: mac(i), serverType: 'x' });
    hub.poll();
    const behind = collector();
    resources.add(hub.connect(behind, 1), async (o) => o());
    expect(behind.messages.map((m) => m.event)).toEqual(['reload']);
    const foreign = collector();
    resources.add(hub.connect(foreign, 10_000), async (o) => o());
    expect(foreign.messages.map((m) => m.event)).toEqual(['reload']);
  });

  it('sends heartbeat comments while clients are connected', async () => {
    const { hub } = setup({ heartbeatMs: 20 });
    const client = collector();
    resources.add(hub.connect(client), async (o) => o());
    await expect.poll(() => client.messages.some((m) => m.comment?.startsWith('heartbeat'))).toBe(true);
  });

  it('runs its timers only while someone listens, and forgets clients that left', () => {
    const { hub } = setup();
    expect(hub.timersRunning).toBe(false);
    const offs = Array.from({ length: 200 }, () => hub.connect(collector()));
    expect(hub.clientCount).toBe(200);
    expect(hub.timersRunning).toBe(true);
    offs.forEach((off) => off());
    offs.forEach((off) => off()); // twice is harmless
    expect(hub.clientCount).toBe(0);
    expect(hub.timersRunning).toBe(false);
  });
});
