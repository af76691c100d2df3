// Every recorded rebuild history (test/histories/<commit that wrote it>/*.json, written by `npm run histories:record`)
// replays on the current workflow bundle: a change to the commands the workflow issues that is not behind patched()
// fails here, naming the history. Histories are never deleted while a release that writes them may have open runs.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';
import { describeReplayFailure } from '../helpers/history';

const dir = join(__dirname, '../histories');
const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.json')).sort();

describe('recorded rebuild histories', () => {
  it('exist', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it('include runs left open at every wait of the rebuild, as an upgrade meets them', () => {
    // The host state each wait is in (test/workflows/open-runs.test.ts drives a rebuild to each): the boot events,
    // the join, Infrastructure registration (both joining), the key removal in the cleanup (failed).
    const waits = ['pxe_ready', 'pxe_booted', 'installing', 'installed', 'joining', 'failed'];
    const openAt = new Set(files.map((f) => /--open-at-([a-z_]+)\.json$/.exec(f)?.[1]).filter(Boolean));
    expect(waits.filter((w) => !openAt.has(w))).toEqual([]);
  });

  it.each(files)('%s replays on the current workflow code', async (file) => {
    const history = historyFromJSON(JSON.parse(readFileSync(join(dir, file), 'utf8')));
    await Worker.runReplayHistory({ workflowBundle: { code: inject('workflowCode') } }, history, file).catch((err: Error) => {
      throw new Error(describeReplayFailure(file, history, err));
    });
  });
});
