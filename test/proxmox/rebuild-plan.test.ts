// planRebuild against the HTTPS stand-in Proxmox API: the pre-flight of a rebuild (proxmox-cluster.md §2), read-only.
// Real: TLS with the pinned certificate, HTTP, the stand-in's cluster model (quorum, guests, HA, QDevice, replication).
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/domain/errors';
import { ProxmoxApi } from '../../src/proxmox/api-client';
import { ClusterUnreachableError, defaultRebuildChoice, memberRebuildOf, planRebuild, type RebuildChoice } from '../../src/proxmox/rebuild-plan';
import { auditorToken, startProxmoxApiStandIn, type ProxmoxApiStandIn, type ProxmoxApiStandInOptions } from '../helpers/proxmox-api-standin';
import { freePort } from '../setup/temporal-dev-server';

const running: ProxmoxApiStandIn[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

async function start(options: ProxmoxApiStandInOptions = {}) {
  const s = await startProxmoxApiStandIn(options);
  running.push(s);
  const api = new ProxmoxApi({ host: '127.0.0.1', port: s.port, fingerprint: s.fingerprint, apiToken: `${auditorToken.id}=${auditorToken.secret}` });
  const configured = { existingNode: '127.0.0.1', fingerprint: s.fingerprint };
  const plan = (hostname: string, choice: Partial<RebuildChoice> = {}) => planRebuild(api, { hostname }, { ...defaultRebuildChoice, ...choice }, configured);
  return { s, api, plan, via: { name: 'pve1', address: '127.0.0.1', fingerprint: s.fingerprint } };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  const err = await promise.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(Error);
  return err as Error;
}

const memberSteps = ['reboot', 'wait_offline', 'remove_node', 'install', 'join', 'check_member', 'remove_old_key'];
const networkBoot = (node: string) => `${node} must network-boot first (PXE before its disk in the boot order): the reboot through the API boots whatever its firmware boots first, and only a PXE boot reaches the installer.`;
const guestsOn = (...placed: Array<[number, string, string]>) => placed.map(([vmid, name, node]) => ({ vmid, name, node, status: 'running' as const }));

describe('planRebuild', () => {
  it('plans a fresh-host rebuild for a name the 3-node cluster does not have, with no refusal', async () => {
    const { s, plan } = await start();
    expect(await plan('pve-new')).toEqual({
      configured: true,
      message: null,
      member: false,
      cluster: {
        name: 'lab',
        quorate: true,
        online: 3,
        members: [1, 2, 3].map((i) => ({ name: `pve${i}`, nodeid: i, ip: `192.0.2.${10 + i}`, online: true, votes: 1, guests: null })),
      },
      node: null,
      quorumWithout: null,
      guests: [],
      haResources: [],
      qdevice: false,
      replication: [],
      via: null,
      migrateTo: null,
      allowQuorumLoss: false,
      refusals: [],
      steps: [
        { name: 'install', description: "PXE boot the installer, install Proxmox VE with the answer file, wait for the first boot's phone-home" },
        { name: 'join', description: 'join the cluster through an online member (proxmox.existing_node first) (pvecm add)' },
        { name: 'check_member', description: 'check that the cluster lists the node, sees it online and is quorate' },
      ],
      notes: ['pve-new is not a member of cluster lab: a fresh-host rebuild.'],
    });
    expect(s.requests.map((r) => r.method)).toEqual(['GET', 'GET']); // status and nodelist, nothing about guests
  });

  it('plans a member with no guests: quorum holds without it, the steps run through existing_node, read-only', async () => {
    const { s, plan, via } = await start({ guests: guestsOn([200, 'web', 'pve2']) });
    const p = await plan('pve3');
    expect(p).toMatchObject({
      configured: true,
      member: true,
      node: { name: 'pve3', nodeid: 3, online: true, ip: '192.0.2.13' },
      quorumWithout: { totalVotes: 3, onlineVotes: 2, needed: 2, quorate: true },
      guests: [],
      haResources: [],
      qdevice: false,
      replication: [],
      via,
      migrateTo: null,
      allowQuorumLoss: false,
      refusals: [],
    });
    expect(p.cluster?.members.map((m) => [m.name, m.guests])).toEqual([['pve1', 0], ['pve2', 1], ['pve3', 0]]);
    expect(p.steps.map((step) => step.name)).toEqual(memberSteps);
    expect(p.steps[0]!.description).toBe(`reboot pve3 through the API of pve1 (127.0.0.1) (POST /nodes/pve3/status command=reboot); the machine must network-boot first`);
    expect(p.steps[2]!.description).toBe(`remove pve3 from cluster lab (delnode through pve1 (127.0.0.1), with the root@pam ticket) and check it is gone`);
    expect(p.notes).toEqual(['No guests on pve3, as far as the API token sees: it needs VM.Audit on /vms to see every guest (Proxmox leaves out the others instead of refusing).', networkBoot('pve3')]);
    expect(memberRebuildOf(p)).toEqual({ node: 'pve3', cluster: 'lab', via, migrateTo: null, allowQuorumLoss: false });
    expect(s.requests.every((r) => r.method === 'GET')).toBe(true);
    expect(s.cluster.nodes.every((n) => n.online)).toBe(true);
  });

  it('refuses a member with guests as guests_on_node, counting them and saying how to go on', async () => {
    const { plan } = await start({ guests: guestsOn([100, 'web', 'pve3'], [101, 'db', 'pve3'], [200, 'dns', 'pve2']) });
    const p = await plan('pve3');
    expect(p.guests.map((g) => g.vmid)).toEqual([100, 101]);
    expect(p.refusals).toEqual([
      {
        code: 'guests_on_node',
        message:
          '2 guests are on pve3 (100 web, 101 db): removing a node with guests leaves their configuration behind without their disks. Ask for the migration (migrate=true; POST body migrate_guests: true), optionally with migrate_target, and the rebuild first moves them with migrateall to that member or the least loaded one; or move them yourself, then ask again.',
        override: 'migrate',
      },
    ]);
    expect(p.migrateTo).toBeNull();
    expect(() => memberRebuildOf(p)).toThrow('the rebuild of pve3 is refused: guests_on_node');
  });

  it('moves the guests to the least loaded online member when migrate is asked, first of the steps', async () => {
    const { plan, via } = await start({ guests: guestsOn([100, 'web', 'pve3'], [101, 'db', 'pve3'], [200, 'dns', 'pve1']) });
    const p = await plan('pve3', { migrate: true });
    expect(p.refusals).toEqual([]);
    expect(p.migrateTo).toBe('pve2');
    expect(p.steps.map((step) => step.name)).toEqual(['migrate_guests', ...memberSteps]);
    expect(p.steps[0]!.description).toBe('move the 2 guests of pve3 to pve2 (migrateall through pve1 (127.0.0.1)), waiting for the task');
    expect(p.notes[0]).toBe('2 guests of pve3 move to pve2, the online member with the fewest guests (0), before the reboot, up to timeouts.migrate.');
    expect(memberRebuildOf(p)).toEqual({ node: 'pve3', cluster: 'lab', via, migrateTo: 'pve2', allowQuorumLoss: false });
  });

  it('moves the guests to the member the operator picks', async () => {
    const { plan } = await start({ guests: guestsOn([100, 'web', 'pve3'], [200, 'dns', 'pve1']) });
    const p = await plan('pve3', { migrate: true, migrateTarget: 'pve1' });
    expect(p.migrateTo).toBe('pve1');
    expect(p.notes[0]).toBe('1 guest of pve3 moves to pve1, before the reboot, up to timeouts.migrate.');
  });

  it.each([
    ['pve9', 'migrate_target: pve9 is not a member of cluster lab; the online members other than pve3: pve1'],
    ['pve2', 'migrate_target: pve2 is offline; the online members other than pve3: pve1'],
    ['pve3', 'migrate_target: pve3 is the node being rebuilt; the online members other than pve3: pve1'],
  ])('refuses the migration target %s as invalid input naming migrate_target', async (target, message) => {
    const { s, plan } = await start({ guests: guestsOn([100, 'web', 'pve3']), nodes: [1, 2, 3, 4, 5].map((i) => ({ name: `pve${i}`, ip: `192.0.2.${10 + i}` })) });
    s.cluster.setOnline('pve2', false);
    s.cluster.setOnline('pve4', false);
    s.cluster.setOnline('pve5', false);
    const err = await rejection(plan('pve3', { migrate: true, migrateTarget: target }));
    expect(err).toBeInstanceOf(InvalidInputError);
    expect({ code: (err as InvalidInputError).code, field: (err as InvalidInputError).field, message: err.message }).toEqual({ code: 'invalid_request', field: 'migrate_target', message });
  });

  it('refuses a member of a 2-node cluster as quorum_at_risk, then states what allowing the quorum loss means', async () => {
    const { plan } = await start({ layout: 'two-node' });
    const refused = await plan('pve2');
    expect(refused.quorumWithout).toEqual({ totalVotes: 2, onlineVotes: 1, needed: 2, quorate: false });
    expect(refused.refusals).toEqual([
      {
        code: 'quorum_at_risk',
        message:
          'Without pve2, from the reboot of pve2 until it is removed, cluster lab has no quorum (1 of 2 votes online, 2 needed): /etc/pve is read-only on the other members (no guest can be started, changed or moved there), and removing pve2 needs quorum. To go on anyway, allow quorum loss (allow_quorum_loss=true): an operator then runs pvecm expected 1 on a remaining member while the rebuild waits.',
        override: 'allow_quorum_loss',
      },
    ]);
    const allowed = await plan('pve2', { allowQuorumLoss: true });
    expect(allowed.refusals).toEqual([]);
    expect(allowed.allowQuorumLoss).toBe(true);
    expect(allowed.notes).toContain(
      'Quorum loss allowed: from the reboot of pve2 until it is removed, cluster lab has no quorum (1 of 2 votes online, 2 needed): /etc/pve is read-only on the other members (no guest can be started, changed or moved there), and removing pve2 needs quorum. An operator must run pvecm expected 1 on pve1 (the service never does that itself); the rebuild waits for quorum before removing pve2, up to timeouts.leave_cluster, and fails after that.',
    );
    expect(allowed.steps.find((step) => step.name === 'remove_node')?.description).toMatch(/, once quorum is back$/);
    expect(memberRebuildOf(allowed)?.allowQuorumLoss).toBe(true);
  });

  it('refuses a member of a 3-node cluster already missing a node as quorum_at_risk', async () => {
    const { s, plan } = await start();
    s.cluster.setOnline('pve2', false);
    const p = await plan('pve3');
    expect(p.cluster).toMatchObject({ quorate: true, online: 2 });
    expect(p.quorumWithout).toEqual({ totalVotes: 3, onlineVotes: 1, needed: 2, quorate: false });
    expect(p.refusals.map((r) => r.code)).toEqual(['quorum_at_risk']);
  });

  it('does not count an offline member twice: rebuilding the node that is already down keeps the quorum it has', async () => {
    const { s, plan } = await start();
    s.cluster.setOnline('pve3', false);
    const p = await plan('pve3');
    expect(p.quorumWithout).toEqual({ totalVotes: 3, onlineVotes: 2, needed: 2, quorate: true });
    expect(p.refusals).toEqual([]);
    expect(p.notes).toContain('pve3 is offline already: the reboot through the API cannot reach it; power it on so that it network-boots.');
  });

  it('refuses a cluster that is not quorate now as cluster_not_quorate, naming the offline members', async () => {
    const { s, plan } = await start();
    s.cluster.setOnline('pve2', false);
    s.cluster.setOnline('pve3', false);
    const p = await plan('pve3', { allowQuorumLoss: true });
    expect(p.refusals).toEqual([
      { code: 'cluster_not_quorate', message: 'Cluster lab is not quorate now (1 of 3 votes online, 2 needed): without quorum no node can be removed or joined. Bring pve2, pve3 back first, then ask again.' },
    ]);
  });

  it('refuses a cluster with a QDevice as qdevice_present, saying to remove it first', async () => {
    const { plan } = await start({ qdevice: true });
    expect((await plan('pve3')).refusals).toEqual([
      { code: 'qdevice_present', message: 'Cluster lab has a QDevice, and Proxmox wants it removed before a node is removed or added: remove it with pvecm qdevice remove on a member, rebuild, then set it up again with pvecm qdevice setup.' },
    ]);
  });

  it('refuses replication jobs to or from the node as replication_jobs, listing only those', async () => {
    const { plan } = await start({
      guests: guestsOn([100, 'web', 'pve3'], [200, 'dns', 'pve1'], [300, 'db', 'pve1']),
      replication: [
        { id: '100-0', guest: 100, target: 'pve2' }, // from pve3: no source yet, its guest is there
        { id: '200-0', guest: 200, target: 'pve3', source: 'pve1' }, // to pve3
        { id: '300-0', guest: 300, target: 'pve2', source: 'pve1' }, // neither
      ],
    });
    const p = await plan('pve3', { migrate: true });
    expect(p.replication.map((j) => j.id)).toEqual(['100-0', '200-0']);
    expect(p.refusals).toEqual([
      { code: 'replication_jobs', message: '2 replication jobs replicate to or from pve3: 100-0 (guest 100 to pve2), 200-0 (guest 200 to pve3). Remove them first (Datacenter → Replication, or pvesr delete <id> on a member), then ask again.' },
    ]);
  });

  it('lists the HA resources on the node and says what HA does with them', async () => {
    const { plan } = await start({ guests: guestsOn([100, 'web', 'pve3'], [200, 'dns', 'pve1']), haResources: [{ sid: 'vm:100' }, { sid: 'vm:200' }] });
    const p = await plan('pve3', { migrate: true });
    expect(p.haResources).toEqual([{ sid: 'vm:100', state: 'started', node: 'pve3' }]);
    expect(p.guests[0]?.hastate).toBe('started');
    expect(p.notes).toContain('1 HA resource on pve3 (vm:100): migrateall moves HA-managed guests as HA migrations; one left on pve3 when it goes down is fenced by HA and recovered on another member.');
  });

  it('runs the steps through another online member, with its address and fingerprint, when existing_node is the node itself', async () => {
    const { s, plan } = await start({ localNode: 'pve3' });
    const pve1 = s.cluster.nodes.find((n) => n.name === 'pve1')!;
    const p = await plan('pve3');
    expect(p.refusals).toEqual([]);
    expect(p.via).toEqual({ name: 'pve1', address: '192.0.2.11', fingerprint: pve1.fingerprint });
    expect(p.notes).toContain('proxmox.existing_node (127.0.0.1) is pve3 itself: the steps run through pve1 (192.0.2.11), another online member, with its own certificate fingerprint.');
    expect(p.steps.find((step) => step.name === 'join')?.description).toBe('join cluster lab through pve1 (192.0.2.11) (pvecm add, with its fingerprint)');
  });

  it('refuses as no_other_member when nobody else is online to run the steps through', async () => {
    const { s, plan } = await start({ localNode: 'pve3' });
    s.cluster.setOnline('pve1', false);
    s.cluster.setOnline('pve2', false);
    const p = await plan('pve3');
    expect(p.via).toBeNull();
    expect(p.refusals.map((r) => r.code)).toEqual(['cluster_not_quorate', 'no_other_member']);
    expect(p.refusals[1]?.message).toBe('No member of cluster lab other than pve3 is online to run the steps through (remove pve3, then join the new install): bring another member online first.');
  });

  it('says the cluster is not read without an API token, and plans a fresh-host rebuild', async () => {
    const p = await planRebuild(null, { hostname: 'pve3' }, defaultRebuildChoice, { existingNode: '192.0.2.11', fingerprint: 'AB' });
    expect(p).toMatchObject({ configured: false, member: false, cluster: null, refusals: [], via: null });
    expect(p.message).toBe('the cluster is not read: without proxmox.api_token (and proxmox.existing_node, proxmox.join_fingerprint) every rebuild is a fresh-host rebuild, and a host still in the cluster fails at the join with "can\'t add existing node"');
    expect(p.steps.map((step) => step.name)).toEqual(['install', 'join', 'check_member']);
  });

  it('fails as cluster_unreachable when the member does not answer or is not the pinned one', async () => {
    const port = await freePort();
    const api = new ProxmoxApi({ host: '127.0.0.1', port, fingerprint: 'AB'.repeat(32), apiToken: `${auditorToken.id}=${auditorToken.secret}` });
    const err = await rejection(planRebuild(api, { hostname: 'pve3' }, defaultRebuildChoice, { existingNode: '127.0.0.1', fingerprint: 'AB'.repeat(32) }));
    expect(err).toBeInstanceOf(ClusterUnreachableError);
    expect((err as ClusterUnreachableError).code).toBe('cluster_unreachable');
    expect(err.message).toBe(`cannot read the cluster through proxmox.existing_node 127.0.0.1:${port}, so whether pve3 is a member is unknown and nothing was started: 127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`);
    const { s } = await start();
    const pinnedElse = new ProxmoxApi({ host: '127.0.0.1', port: s.port, fingerprint: 'AB'.repeat(32), apiToken: `${auditorToken.id}=${auditorToken.secret}` });
    const mismatch = await rejection(planRebuild(pinnedElse, { hostname: 'pve3' }, defaultRebuildChoice, { existingNode: '127.0.0.1', fingerprint: 'AB'.repeat(32) }));
    expect((mismatch as ClusterUnreachableError).apiError.code).toBe('fingerprint_mismatch');
  });
});
