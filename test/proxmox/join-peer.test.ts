// chooseJoinPeer against the HTTPS stand-in: which member a new node joins through, and when none can be chosen.
import { afterEach, describe, expect, it } from 'vitest';
import { ProxmoxApi } from '../../src/proxmox/api-client';
import { chooseJoinPeer, JoinPeerError } from '../../src/proxmox/join-peer';
import { auditorToken, startProxmoxApiStandIn, type ProxmoxApiStandIn } from '../helpers/proxmox-api-standin';

const running: ProxmoxApiStandIn[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

async function cluster(layout: 'three-node' | 'two-node' | 'standalone' = 'three-node') {
  const standIn = await startProxmoxApiStandIn({ layout });
  running.push(standIn);
  return { standIn, api: new ProxmoxApi({ host: '127.0.0.1', port: standIn.port, fingerprint: standIn.fingerprint, apiToken: `${auditorToken.id}=${auditorToken.secret}` }) };
}
const fingerprintOf = (s: ProxmoxApiStandIn, name: string) => s.cluster.nodes.find((n) => n.name === name)!.fingerprint;

describe('chooseJoinPeer', () => {
  it('takes existing_node when it is an online member other than the host, with its own pve_fp', async () => {
    const { standIn, api } = await cluster();
    expect(await chooseJoinPeer(api, 'pve-new', { address: '192.0.2.12', fingerprint: 'ignored' })).toEqual({
      name: 'pve2',
      address: '192.0.2.12',
      fingerprint: fingerprintOf(standIn, 'pve2'),
      why: 'proxmox.existing_node 192.0.2.12 (pve2) is online',
    });
  });

  it('never joins a member through itself: rebuilding pve2, configured as existing_node, goes through another', async () => {
    const { api } = await cluster();
    const peer = await chooseJoinPeer(api, 'pve2', { address: '192.0.2.12', fingerprint: 'x' });
    expect(peer.name).not.toBe('pve2');
    expect(peer.why).toBe(`proxmox.existing_node 192.0.2.12 is offline or is the host being rebuilt; ${peer.name} is an online member`);
  });

  it('refuses, to be tried again later, a cluster without quorum or without another online member', async () => {
    const { standIn, api } = await cluster('two-node');
    const [a, b] = standIn.cluster.nodes;
    standIn.cluster.setOnline(b!.name, false);
    const noQuorum = await chooseJoinPeer(api, 'pve-new', { address: a!.ip, fingerprint: 'x' }).catch((e: unknown) => e);
    expect(noQuorum).toBeInstanceOf(JoinPeerError);
    expect(noQuorum).toMatchObject({ retryable: true, message: `cluster ${standIn.cluster.name} is not quorate (1 of 2 votes online, 2 needed): no node can join now` });
    standIn.cluster.setOnline(b!.name, true);
    await expect(chooseJoinPeer(api, a!.name, { address: a!.ip, fingerprint: 'x' })).resolves.toMatchObject({ name: b!.name });
  });

  it('refuses for good a standalone node and a certificate that is not the pinned one', async () => {
    const { api } = await cluster('standalone');
    await expect(chooseJoinPeer(api, 'pve-new', { address: '127.0.0.1', fingerprint: 'x' })).rejects.toMatchObject({ retryable: false, message: `${api.address} is a standalone node, in no cluster: create the cluster first with pvecm create on it` });
    const { standIn } = await cluster();
    const wrongPin = new ProxmoxApi({ host: '127.0.0.1', port: standIn.port, fingerprint: '00'.repeat(32), apiToken: `${auditorToken.id}=${auditorToken.secret}` });
    const err = await chooseJoinPeer(wrongPin, 'pve-new', { address: '192.0.2.11', fingerprint: 'x' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ retryable: false });
    expect((err as Error).message).toMatch(/^cannot choose a member to join through: 127\.0\.0\.1:\d+ presents certificate /);
  });
});
