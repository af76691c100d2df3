// The ids a rebuild is known by, in one place: the workflow id (also the per-host lock) and the rebuild key's id.

/** The workflow id of a host's rebuild: `rebuild-<hostId>`. Two running rebuilds of one host cannot share it. */
export const rebuildWorkflowId = (hostId: number): string => `rebuild-${hostId}`;

/** The id of a rebuild run's key pair: `rk-<runId>`. One key per run, so a retried activity finds the key it made. */
export const rebuildKeyId = (runId: string): string => `rk-${runId}`;

/** The run id a rebuild key belongs to (the inverse of rebuildKeyId). */
export const runIdOfRebuildKey = (keyId: string): string => keyId.replace(/^rk-/, '');
