// JSON histories (what the Web UI and `temporal workflow show --output json` export) read back and replay on the
// workflow bundle. This needs one shared copy of protobufjs 8 for @temporalio/common and @temporalio/proto.
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { rebuildWorkflowId } from '../../src/domain/rebuild-ids';
import { Resources } from '../helpers/release';
import { buildTestApp, shortTimeouts } from '../helpers/test-app';
import { startTestWorker } from '../helpers/test-worker';

const resources = new Resources();
afterEach(() => resources.releaseAll());

describe('a rebuild history as JSON', () => {
  it('reads back from JSON and replays on the workflow bundle', async () => {
    const t = resources.add(await buildTestApp({ timeouts: { ...shortTimeouts, pxeBoot: '300ms' } }), (app) => app.close());
    resources.add(await startTestWorker(t), (w) => w.stop());
    const id: number = (await t.app.inject({ method: 'POST', url: '/api/hosts', payload: { hostname: 'pve-ms-21', mac: 'aa:bb:cc:dd:ee:21', server_type: 'minisforum-ms-01' } })).json().id;
    expect((await t.app.inject({ method: 'POST', url: `/api/hosts/${id}/rebuild` })).statusCode).toBe(202);
    const handle = t.client.workflow.getHandle(rebuildWorkflowId(id));
    expect((await handle.result()).failure?.reason).toBe('stage_timeout');

    const json = historyToJSON(await handle.fetchHistory());
    const history = historyFromJSON(JSON.parse(json));
    expect(history.events?.length).toBeGreaterThan(5);
    await expect(Worker.runReplayHistory({ workflowBundle: { code: inject('workflowCode') } }, history, handle.workflowId)).resolves.toBeUndefined();
  });
});
