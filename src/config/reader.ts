// A small reader over parsed YAML that collects every problem with its dotted key path, so a bad file
// is reported in full, one line per key, before the process exits.

/** Thrown when a configuration file is invalid; `problems` lists every `file: key: message` line. */
export class ConfigError extends Error {
  readonly code = 'invalid_config';
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(problems.map((p) => `${file}: ${p}`).join('\n'));
    this.name = 'ConfigError';
  }
}

type Plain = Record<string, unknown>;

function isPlainObject(value: unknown): value is Plain {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function show(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}

/** Reads typed values out of one YAML mapping, recording problems instead of throwing. */
export class Reader {
  private readonly seen = new Set<string>();

  constructor(
    private readonly node: Plain,
    private readonly path: string,
    private readonly problems: string[],
    private readonly example: string,
  ) {}

  /** Wraps a document root; a non-mapping root is itself a problem. `example` is named in unknown-key errors. */
  static root(doc: unknown, problems: string[], example: string): Reader {
    if (doc === null || doc === undefined) return new Reader({}, '', problems, example);
    if (!isPlainObject(doc)) {
      problems.push(`expected a YAML mapping at the top level, got ${Array.isArray(doc) ? 'a list' : show(doc)}`);
      return new Reader({}, '', problems, example);
    }
    return new Reader(doc, '', problems, example);
  }

  /** The dotted path of `key` under this reader. */
  keyPath(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  /** True when a problem was already recorded for `key` (so a follow-up check does not pile on). */
  hasProblem(key: string): boolean {
    const prefix = `${this.keyPath(key)}:`;
    return this.problems.some((p) => p.startsWith(prefix));
  }

  /** Records a problem for `key`. */
  problem(key: string, message: string): void {
    this.problems.push(`${this.keyPath(key)}: ${message}`);
  }

  /** The raw value of `key` (marks it as known). */
  raw(key: string): unknown {
    this.seen.add(key);
    return this.node[key];
  }

  /** A nested mapping; a missing section reads as empty. */
  section(key: string): Reader {
    const value = this.raw(key);
    if (value === undefined || value === null) return new Reader({}, this.keyPath(key), this.problems, this.example);
    if (!isPlainObject(value)) {
      this.problem(key, `expected a mapping of keys, got ${show(value)}`);
      return new Reader({}, this.keyPath(key), this.problems, this.example);
    }
    return new Reader(value, this.keyPath(key), this.problems, this.example);
  }

  /** The keys present in this mapping. */
  keys(): string[] {
    return Object.keys(this.node);
  }

  /** A secret: the environment value when set (the file's key is still read, so it is not "unknown"), else the file's. */
  secret(key: string, envValue: string | undefined): string {
    const fromFile = this.string(key, '');
    return envValue !== undefined && envValue !== '' ? envValue : fromFile;
  }

  /** A string; `fallback` when absent. `check` returns a problem text (without the key) or null. */
  string(key: string, fallback: string, check?: (value: string) => string | null): string {
    const value = this.raw(key);
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'string' && typeof value !== 'number') {
      this.problem(key, `expected a string, got ${show(value)}`);
      return fallback;
    }
    const text = String(value);
    const trouble = check?.(text) ?? null;
    if (trouble !== null) {
      this.problem(key, trouble);
      return fallback;
    }
    return text;
  }

  /** A list of non-empty strings; `fallback` when absent. */
  stringList(key: string, fallback: string[], check?: (value: string) => string | null): string[] {
    const value = this.raw(key);
    if (value === undefined || value === null) return fallback;
    if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === 'string' && v.trim() !== '')) {
      this.problem(key, `expected a non-empty list of strings, got ${show(value)}`);
      return fallback;
    }
    for (const v of value as string[]) {
      const trouble = check?.(v) ?? null;
      if (trouble !== null) {
        this.problem(key, trouble);
        return fallback;
      }
    }
    return value as string[];
  }

  /** A boolean; `fallback` when absent. */
  boolean(key: string, fallback: boolean): boolean {
    const value = this.raw(key);
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'boolean') {
      this.problem(key, `expected true or false, got ${show(value)}`);
      return fallback;
    }
    return value;
  }

  /** An integer within [min, max]; `fallback` when absent (null: the caller's "not set"). */
  integer<F extends number | null>(key: string, fallback: F, min: number, max: number): number | F {
    const value = this.raw(key);
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      this.problem(key, `expected a whole number from ${min} to ${max}, got ${show(value)}`);
      return fallback;
    }
    return value;
  }

  /** One of `choices`; `fallback` when absent. */
  oneOf<T extends string>(key: string, choices: readonly T[], fallback: T): T {
    const value = this.raw(key);
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
      this.problem(key, `expected one of ${choices.join(', ')}, got ${show(value)}`);
      return fallback;
    }
    return value as T;
  }

  /** Records an "unknown key" problem for every key never read, so typos do not pass silently. */
  rejectUnknown(): void {
    for (const key of Object.keys(this.node)) {
      if (!this.seen.has(key)) this.problem(key, `unknown key (check the spelling against ${this.example})`);
    }
  }
}

/** One line per YAML parse error: what is wrong and where. */
export function yamlErrorLines(errors: ReadonlyArray<{ message: string; linePos?: [{ line: number; col: number }, ...unknown[]] | undefined }>): string[] {
  return errors.map((e) => {
    const what = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    const pos = e.linePos?.[0];
    return `YAML syntax error at line ${pos?.line ?? '?'}, column ${pos?.col ?? '?'}: ${what}`;
  });
}
