// The one way the service stops: SIGINT/SIGTERM, a failed start or a worker that stopped on its own all close what
// was started, newest first, and exit.
import type { Logger } from './logging';

/** Something started that must be closed on the way out. */
export interface Closable {
  close(): Promise<void> | void;
}

export class Shutdown {
  private readonly started: Array<{ name: string; close: () => Promise<void> | void }> = [];
  private exiting = false;

  constructor(private readonly log: Logger) {}

  /** Exits on SIGINT or SIGTERM with status 0. */
  onSignals(): this {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void this.exit(signal, 0));
    return this;
  }

  /** True once the service is on its way out. */
  get stopping(): boolean {
    return this.exiting;
  }

  /** Registers `part` to be closed on exit (after everything registered later); returns it. */
  add<T extends Closable>(name: string, part: T): T {
    this.started.push({ name, close: () => part.close() });
    return part;
  }

  /** Closes everything registered, newest first (a failing step is logged and the rest still close), then exits. */
  async exit(reason: string, code: number): Promise<void> {
    if (this.exiting) return;
    this.exiting = true;
    this.log.info({ reason }, 'shutting down');
    for (const { name, close } of this.started.reverse()) {
      try {
        await close();
      } catch (err) {
        this.log.error({ err, step: name }, 'shutdown step failed');
      }
    }
    this.log.info('stopped');
    process.exit(code);
  }
}
