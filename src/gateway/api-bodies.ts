// API representations: snake_case JSON built from domain objects. Only listed fields leave the service.
import type { ServerType } from '../config/server-types';
import type { Host } from '../domain/host';
import type { Operation, OperationEvent } from '../store/operation-store';

export function hostBody(h: Host) {
  return {
    id: h.id,
    hostname: h.hostname,
    mac: h.mac,
    server_type: h.serverType,
    state: h.state,
    ip_address: h.ipAddress,
    hardware_id: h.hardwareId,
    machine_id: h.machineId,
    created_at: h.createdAt,
    updated_at: h.updatedAt,
  };
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
