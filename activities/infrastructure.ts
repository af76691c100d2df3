import { ApplicationFailure, log } from '@temporalio/activity';
import { rebuildRun } from './rebuild-run';
import type { OperationStore } from '../src/store/operation-store';

/** Where the Infrastructure inventory lives and how server types map to its ids. */
export interface InfrastructureSettings {
  baseUrl: string; // '' → registration skipped
  serverTypeMap: Readonly<Record<string, string>>;
  fetch?: typeof fetch;
}

/** The host as registered in Infrastructure: `PUT {base_url}/api/servers/{mac}` (an idempotent upsert). */
export interface InfrastructureRecord {
  hostname: string;
  mac: string;
  ip_address: string;
  server_type_id: string;
  machine_id: string | null;
  hardware_id: string | null;
  managed_by: 'provisioning';
}

/** Returns the activity that registers the ready host in Infrastructure; a retry updates the same record. */
export function registerInInfrastructure(deps: { operations: OperationStore; infrastructure: InfrastructureSettings }) {
  return async function registerInInfrastructure(input: {
    hostId: number;
    hostname: string;
    mac: string;
    serverType: string;
    ipAddress: string;
    machineId: string | null;
    hardwareId: string | null;
  }): Promise<{ registered: boolean }> {
    const { baseUrl, serverTypeMap } = deps.infrastructure;
    const operationId = deps.operations.byRunId(rebuildRun().runId)?.id ?? null;
    const record = (kind: string, message: string) => deps.operations.append({ hostId: input.hostId, operationId, kind, message });
    if (!baseUrl) {
      record('infrastructure_skipped', 'Infrastructure registration skipped: infrastructure.base_url is empty');
      return { registered: false };
    }
    const typeId = serverTypeMap[input.serverType];
    if (!typeId) {
      throw ApplicationFailure.nonRetryable(
        `infrastructure.server_type_map has no entry for server type ${input.serverType}`,
        'InfrastructureRejected',
      );
    }
    const body: InfrastructureRecord = {
      hostname: input.hostname,
      mac: input.mac,
      ip_address: input.ipAddress,
      server_type_id: typeId,
      machine_id: input.machineId,
      hardware_id: input.hardwareId,
      managed_by: 'provisioning',
    };
    const url = `${baseUrl}/api/servers/${encodeURIComponent(input.mac)}`;
    let response: Response;
    try {
      response = await (deps.infrastructure.fetch ?? fetch)(url, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      throw new Error(`Infrastructure at ${baseUrl} is unreachable: ${(err as Error).message}`); // retried
    }
    const text = (await response.text()).slice(0, 500);
    if (response.ok) {
      record('infrastructure_registered', `registered in Infrastructure as ${input.hostname} (type ${typeId})`);
      log.info('registered in Infrastructure', { hostId: input.hostId, status: response.status });
      return { registered: true };
    }
    const message = `Infrastructure answered ${response.status} to PUT ${url}: ${text}`;
    if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429) {
      throw ApplicationFailure.nonRetryable(message, 'InfrastructureRejected');
    }
    throw new Error(message); // 5xx, 408, 429: retried while the service is down
  };
}
