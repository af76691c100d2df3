/**
 * Resources a test acquired, released in reverse order after it: each once, and only those that were acquired
 * (a set-up that failed half-way leaves the rest unset).
 */
export class Resources {
  private readonly stack: Array<() => Promise<void>> = [];

  /** Registers `value` with its release function and returns it. */
  add<T>(value: T, release: (value: T) => Promise<void>): T {
    this.stack.push(() => release(value));
    return value;
  }

  async releaseAll(): Promise<void> {
    while (this.stack.length > 0) await this.stack.pop()!();
  }
}
