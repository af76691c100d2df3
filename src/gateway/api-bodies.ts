// API representations: snake_case JSON built from domain objects. Only listed fields leave the service.
import type { ServerType } from '../config/server-types';
import type { Host } from '../domain/host';
import type { PowerSettings } from '../power/types';
import type { RebuildPlan } from '../proxmox/rebuild-plan';
import type { Operation, OperationEvent } from '../store/operation-store';

export function hostBody(h: Host, power: PowerSettings) {
  return {
    id: h.id,
    hostname: h.hostname,
    mac: h.mac,
    server_type: h.serverType,
    state: h.state,
    ip_address: h.ipAddress,
    hardware_id: h.hardwareId,
    machine_id: h.machineId,
    power: powerSettingsBody(power),
    created_at: h.createdAt,
    updated_at: h.updatedAt,
  };
}

/** A host's power settings: the fields of its method; the password only as `password_set`. */
export function powerSettingsBody(p: PowerSettings) {
  switch (p.method) {
    case 'manual':
      return { method: p.method };
    case 'wol':
      return { method: p.method, broadcast: p.broadcast, port: p.port };
    case 'ipmi':
      return { method: p.method, address: p.address, port: p.port, username: p.username, password_set: p.passwordSet };
    case 'redfish':
      return { method: p.method, url: p.url, username: p.username, password_set: p.passwordSet, system_id: p.systemId, fingerprint: p.fingerprint, ca_file: p.caFile };
    case 'proxmox':
      return { method: p.method, node: p.node };
  }
}

export function operationBody(o: Operation) {
  return {
    id: o.id,
    kind: o.kind,
    workflow_id: o.workflowId,
    run_id: o.runId,
    status: o.status,
    stage: o.stage,
    failure_reason: o.failureReason,
    failure_message: o.failureMessage,
    started_at: o.startedAt,
    finished_at: o.finishedAt,
  };
}

export function eventBody(e: OperationEvent) {
  return { id: e.id, at: e.at, kind: e.kind, state: e.state, message: e.message };
}

export function serverTypeBody(t: ServerType) {
  return {
    key: t.key,
    display_name: t.displayName,
    boot_disk: t.bootDisks,
    management_nic: t.managementNic,
    gpu: t.gpu,
    hostname_prefix: t.hostnamePrefix,
    filesystem: t.filesystem,
    raid: t.raid,
    image: t.image,
  };
}

export function rebuildPlanBody(p: RebuildPlan) {
  return {
    configured: p.configured,
    message: p.message,
    member: p.member,
    cluster: p.cluster && { name: p.cluster.name, quorate: p.cluster.quorate, online: p.cluster.online, members: p.cluster.members.map((m) => ({ name: m.name, nodeid: m.nodeid, ip: m.ip, online: m.online, votes: m.votes, guests: m.guests })) },
    node: p.node && { name: p.node.name, nodeid: p.node.nodeid, online: p.node.online, ip: p.node.ip },
    quorum_without: p.quorumWithout && { total_votes: p.quorumWithout.totalVotes, online_votes: p.quorumWithout.onlineVotes, needed: p.quorumWithout.needed, quorate: p.quorumWithout.quorate },
    guests: p.guests.map((g) => ({ vmid: g.vmid, name: g.name, node: g.node, status: g.status, type: g.type, hastate: g.hastate })),
    ha_resources: p.haResources.map((r) => ({ sid: r.sid, state: r.state, node: r.node })),
    qdevice: p.qdevice,
    replication: p.replication.map((j) => ({ id: j.id, guest: j.guest, source: j.source, target: j.target })),
    via: p.via && { name: p.via.name, address: p.via.address, fingerprint: p.via.fingerprint },
    migrate_to: p.migrateTo,
    allow_quorum_loss: p.allowQuorumLoss,
    refusals: p.refusals.map((r) => ({ code: r.code, message: r.message, ...(r.override ? { override: r.override } : {}) })),
    steps: p.steps.map((s) => ({ name: s.name, description: s.description })),
    notes: [...p.notes],
  };
}
