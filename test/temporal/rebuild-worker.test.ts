// RebuildWorker runs the rebuild Worker and the SSH Worker as one: they stop together, so a worker process never
// keeps running rebuilds that no one can join (or joins for rebuilds no one runs).
import type { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { RebuildWorker } from '../../src/temporal/worker';

type State = ReturnType<Worker['getState']>;

/** A stand-in for a Temporal Worker: run() resolves on shutdown(), or rejects when the test fails it. */
function fakeWorker() {
  let state: State = 'INITIALIZED';
  let settle!: { resolve: () => void; reject: (err: Error) => void };
  const fake = {
    run: () =>
      new Promise<void>((resolve, reject) => {
        state = 'RUNNING';
        settle = { resolve: () => ((state = 'STOPPED'), resolve()), reject: (err) => ((state = 'FAILED'), reject(err)) };
      }),
    shutdown: () => {
      state = 'DRAINING';
      queueMicrotask(() => settle.resolve());
    },
    getState: () => state,
    fail: (err: Error) => settle.reject(err),
  };
  return fake;
}

const pair = () => {
  const main = fakeWorker();
  const ssh = fakeWorker();
  return { main, ssh, worker: new RebuildWorker(main as unknown as Worker, ssh as unknown as Worker) };
};

describe('RebuildWorker', () => {
  it('runs both Workers and drains both on shutdown', async () => {
    const { main, ssh, worker } = pair();
    const done = worker.run();
    expect(worker.getState()).toBe('RUNNING');
    worker.shutdown();
    await done;
    expect([main.getState(), ssh.getState()]).toEqual(['STOPPED', 'STOPPED']);
  });

  it('stops the rebuild Worker when the SSH Worker fails, and reports that failure', async () => {
    const { main, ssh, worker } = pair();
    const done = worker.run();
    ssh.fail(new Error('ssh task queue poller failed'));
    await expect(done).rejects.toThrow('ssh task queue poller failed');
    expect(main.getState()).toBe('STOPPED');
    expect(worker.getState()).toBe('FAILED');
  });

  it('stops the SSH Worker when the rebuild Worker stops on its own', async () => {
    const { main, ssh, worker } = pair();
    const done = worker.run();
    main.shutdown();
    await done;
    expect(ssh.getState()).toBe('STOPPED');
    expect(worker.getState()).toBe('STOPPED');
  });
});
