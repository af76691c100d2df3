// What the CLI writes: plain lines and aligned tables on stdout, messages on stderr, colour only for a terminal
// (never with NO_COLOR, --no-color or TERM=dumb; FORCE_COLOR forces it).
import picocolors from 'picocolors';

export type Colors = ReturnType<typeof picocolors.createColors>;

/** Where output goes and whether it is coloured; the commands write only through this. */
export interface Output {
  json: boolean; // --json: raw API JSON on stdout
  out: Colors; // colours for stdout
  err: Colors; // colours for stderr
  line(text?: string): void; // stdout
  note(text: string): void; // stderr: progress and hints that are not the result
  printJson(value: unknown): void; // one JSON document (pretty) on stdout
  printJsonLine(value: unknown): void; // one JSON object per line (event streams)
}

/** Whether a stream gets colour: a terminal, unless NO_COLOR (any value) or TERM=dumb; FORCE_COLOR wins. */
export function colorEnabled(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv, flag: boolean): boolean {
  if (!flag) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return stream.isTTY === true && env.TERM !== 'dumb';
}

export function createOutput(options: { json: boolean; color: boolean; env: NodeJS.ProcessEnv }): Output {
  const write = (stream: NodeJS.WriteStream, text: string): void => {
    stream.write(text);
  };
  return {
    json: options.json,
    out: picocolors.createColors(colorEnabled(process.stdout, options.env, options.color)),
    err: picocolors.createColors(colorEnabled(process.stderr, options.env, options.color)),
    line: (text = '') => write(process.stdout, `${text}\n`),
    note: (text) => write(process.stderr, `${text}\n`),
    printJson: (value) => write(process.stdout, `${JSON.stringify(value, null, 2)}\n`),
    printJsonLine: (value) => write(process.stdout, `${JSON.stringify(value)}\n`),
  };
}

const ansi = /\x1b\[[0-9;]*m/g;

/** Visible width of a cell (colour codes take no room). */
function width(text: string): number {
  return text.replace(ansi, '').length;
}

/** An aligned table: a header row, then rows; the last column is not padded. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>, c: Colors): string[] {
  const widths = header.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ''))));
  const render = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell + ' '.repeat(widths[i]! - width(cell))))
      .join('  ')
      .trimEnd();
  return [c.bold(render(header)), ...rows.map(render)];
}

const activeStates = new Set(['pxe_ready', 'pxe_booted', 'installing', 'installed', 'first_boot', 'joining']);

/** A host state in its colour: ready green, failed red, a rebuild in progress yellow. */
export function stateText(state: string, c: Colors): string {
  if (state === 'ready') return c.green(state);
  if (state === 'failed') return c.red(state);
  if (activeStates.has(state)) return c.yellow(state);
  return state;
}

/** `1234567` → `1.2 MB`. */
export function bytesText(n: number | null | undefined): string {
  if (n === null || n === undefined) return '-';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** `125000` ms → `2m5s`. */
export function durationText(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** The local wall-clock time of an ISO timestamp, `14:03:07`. */
export function clockText(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}
