// The API's JSON bodies as far as the CLI reads them (README "API"); --json prints them whole.

export interface HostBody {
  id: number;
  hostname: string;
  mac: string;
  server_type: string;
  state: string;
  ip_address: string | null;
  hardware_id: string | null;
  machine_id: string | null;
  power: { method: string } & Record<string, unknown>;
  created_at: string;
  updated_at: string;
}

export interface OperationBody {
  id: number;
  kind: string;
  workflow_id: string;
  status: 'running' | 'succeeded' | 'failed';
  stage: string | null;
  failure_reason: string | null;
  failure_message: string | null;
  started_at: string;
  finished_at: string | null;
}

export interface OperationEventBody {
  id: number;
  at: string;
  kind: string;
  state: string | null;
  message: string;
}

export interface HostDetailBody extends HostBody {
  current_operation: (OperationBody & { events: OperationEventBody[] }) | null;
  operations: OperationBody[];
}

export interface RebuildStartedBody {
  operation_id: number;
  workflow_id: string;
  run_id: string;
}

export interface ImageJobBody {
  id: string;
  name: string;
  source: string;
  state: 'downloading' | 'preparing' | 'ready' | 'failed';
  step: string;
  bytes_done: number;
  bytes_total: number | null;
  error: { code: string; message: string } | null;
  notes: string[];
  started_at: string;
  finished_at: string | null;
}

export interface ImageBody {
  name: string;
  size: number;
  modified_at: string;
  prepared: boolean;
  release: string | null;
  prepared_at: string | null;
  answer_token: boolean;
  stale: boolean | null;
  stale_reasons: string[];
}

export interface ImagesBody {
  directory: string;
  images: ImageBody[];
  jobs: ImageJobBody[];
}

export interface ExplainBody {
  mac: string;
  action: 'install' | 'local-disk';
  reason: string;
  host: { id: number; hostname: string; state: string; server_type: string } | null;
  rebuild: { operation_id: number; workflow_id: string; stage: string | null } | null;
  image: string | null;
  chain: Array<{ check: string; ok: boolean; detail: string }>;
}
