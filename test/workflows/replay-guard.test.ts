// The replay check can fail: a copy of the rebuild workflow with one more step before allowPxeBoot is rejected by the
// recorded histories, and the same step behind patched() is accepted. The copy lives beside workflows/ (same depth,
// so its imports resolve) and is bundled like the real one.
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { afterAll, describe, expect, it } from 'vitest';
import { activitiesRun, describeReplayFailure } from '../helpers/history';

const root = resolve(__dirname, '../..');
const historiesDir = join(root, 'test/histories');
const histories = () =>
  readdirSync(historiesDir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.json'))
    .map((f) => ({ workflowId: f, history: historyFromJSON(JSON.parse(readFileSync(join(historiesDir, f), 'utf8'))) }));
const copies: string[] = [];
afterAll(() => copies.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

const original = 'await quick.allowPxeBoot({ hostId: input.hostId, mac: input.mac });';
const extraStep = "await quick.recordRebuildEvent({ hostId: input.hostId, kind: 'probe', message: 'an extra step' });";

/** Bundles a copy of workflows/ whose rebuild workflow runs `step` just before allowPxeBoot. */
async function bundleWith(step: string): Promise<string> {
  const dir = mkdtempSync(join(root, '.replay-guard-'));
  copies.push(dir);
  cpSync(join(root, 'workflows'), dir, { recursive: true });
  const file = join(dir, 'rebuild-host.ts');
  const source = readFileSync(file, 'utf8');
  expect(source).toContain(original);
  writeFileSync(file, source.replace(original, `${step}\n    ${original}`));
  const noop = () => undefined;
  const { code } = await bundleWorkflowCode({ workflowsPath: join(dir, 'index.ts'), logger: { trace: noop, debug: noop, info: noop, warn: noop, error: noop, log: noop } });
  return code;
}

async function replayErrors(code: string): Promise<string[]> {
  const errors: string[] = [];
  const all = histories();
  for await (const result of Worker.runReplayHistories({ workflowBundle: { code } }, all)) {
    const { history } = all.find((h) => h.workflowId === result.workflowId)!;
    if (result.error) errors.push(describeReplayFailure(result.workflowId, history, result.error));
  }
  return errors;
}

describe('the replay check', () => {
  it('rejects an extra step before allowPxeBoot, naming the histories it breaks', async () => {
    const errors = await replayErrors(await bundleWith(extraStep));
    expect(errors.length).toBeGreaterThan(0);
    // Every history that got as far as allowing PXE right after its key breaks, at its third marker (beginRebuild,
    // generateRebuildKey, allowPxeBoot are events 5-7); a member rebuild since member-steps-v2 allows it later.
    const allowsAfterKey = histories().filter((h) => activitiesRun(h.history)[2] === 'allowPxeBoot');
    expect(errors.length).toBe(allowsAfterKey.length);
    for (const error of errors) {
      expect(error).toMatch(/\.json: DeterminismViolationError at event 7: .*recorded marker 'allowPxeBoot' does not match .* 'recordRebuildEvent'/);
    }
  }, 120_000);

  it('accepts the same step behind patched()', async () => {
    expect(await replayErrors(await bundleWith(`if (patched('replay-guard-probe')) ${extraStep}`))).toEqual([]);
  }, 120_000);
});
