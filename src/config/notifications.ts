// The `notifications:` list of provisioning.yaml (issue 18): where a rebuild's outcome is sent (a generic webhook or
// an ntfy topic), for which events, and what the message says. Secrets (a header value, an ntfy token, a URL that
// holds a token or a secret topic) come from environment variables the file names, never from the file itself.
import { Reader } from './reader';

/** What a notification is about; a target lists the ones it wants under `on` (default: all). */
export const notificationEvents = ['ready', 'failed', 'stage_timeout', 'identity_mismatch'] as const;
export type NotificationEvent = (typeof notificationEvents)[number];

/** ntfy's priorities (docs.ntfy.sh/publish, "Message priority"): names or 1 (min) to 5 (max, also urgent). */
export const ntfyPriorities = ['min', 'low', 'default', 'high', 'urgent', 'max', '1', '2', '3', '4', '5'] as const;
export type NtfyPriority = (typeof ntfyPriorities)[number];

/** The priority of each event on an ntfy target unless its `priority:` says otherwise. */
export const defaultNtfyPriority: Readonly<Record<NotificationEvent, NtfyPriority>> = {
  ready: 'default',
  failed: 'high',
  stage_timeout: 'high',
  identity_mismatch: 'urgent',
};

interface TargetBase {
  name: string; // shown in the host's history and the log: "webhook hooks.example.com" (never the URL's path or query)
  url: string; // where the message is POSTed (may hold a secret when it came from url_env)
  on: readonly NotificationEvent[];
  bodyTemplate: string | null; // null: the type's default body
  secrets: readonly string[]; // every secret value of this target, masked out of any text it could appear in
}

/** A generic webhook: POST of a JSON document (or the body template) with the configured headers. */
export interface WebhookTarget extends TargetBase {
  type: 'webhook';
  headers: Readonly<Record<string, string>>; // headers and headers_env together, values resolved
  contentType: string; // application/json
}

/** An ntfy topic: POST of the message text with Title, Priority, Tags and Click headers (docs.ntfy.sh/publish). */
export interface NtfyTarget extends TargetBase {
  type: 'ntfy';
  token: string; // '' → no Authorization header; else sent as Bearer
  priority: Readonly<Record<NotificationEvent, NtfyPriority>>;
}

export type NotificationTarget = WebhookTarget | NtfyTarget;

/** The fields a body template may use as {{field}}; each with an example value, which validation renders too. */
export const notificationFields = {
  event: 'failed', // ready | failed | stage_timeout | identity_mismatch
  title: 'pve-ms-03: rebuild failed at joining (join_rejected)',
  message: 'rebuild failed at joining: pvecm add: unable to add node: "pve-ms-03" already defined',
  hostname: 'pve-ms-03',
  mac: 'aa:bb:cc:dd:ee:03',
  host_id: 3,
  server_type: 'minisforum-ms-01',
  state: 'failed', // the host's state now: ready, failed, or pxe_ready after a power retry
  stage: 'joining', // where it failed or timed out; empty when ready
  reason: 'join_rejected', // the failure reason; stage_timeout for a power retry; empty when ready
  retry: '', // a power retry: "1 of 2"; else empty
  operation_id: 12,
  workflow_id: 'rebuild-3',
  at: '2025-05-01T10:42:00.000Z',
  dashboard_url: 'http://192.168.1.100:8080/hosts/3',
} as const;
export type NotificationFieldName = keyof typeof notificationFields;
export type NotificationFields = { readonly [K in NotificationFieldName]: string | number | null };

const fieldNames = Object.keys(notificationFields) as NotificationFieldName[];
const placeholder = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/** True for a content type whose body is JSON: template values are then inserted JSON-escaped. */
export function isJsonContentType(contentType: string): boolean {
  return /^application\/([\w.+-]*\+)?json\b/i.test(contentType.trim());
}

/**
 * Returns `template` with each {{field}} replaced by its value (null as empty). For a JSON body each value is escaped
 * as the inside of a JSON string, so `"text": "{{message}}"` stays valid JSON whatever the message holds.
 */
export function renderTemplate(template: string, fields: NotificationFields, json: boolean): string {
  return template.replace(placeholder, (whole, name: string) => {
    if (!(name in fields)) return whole;
    const value = fields[name as NotificationFieldName];
    const text = value === null ? '' : String(value);
    return json ? JSON.stringify(text).slice(1, -1) : text;
  });
}

/** The names in `template` that are not fields. */
function unknownFields(template: string): string[] {
  return [...template.matchAll(placeholder)].map((m) => m[1]!).filter((name) => !(fieldNames as string[]).includes(name));
}

type Env = Readonly<Record<string, string | undefined>>;

const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;
const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Headers that carry credentials: their values belong in the environment (headers_env), not in the file.
const secretHeaders = ['authorization', 'proxy-authorization', 'cookie'];
// Set by the service on every request; a target cannot replace them.
const reservedHeaders = ['content-length', 'host', 'transfer-encoding', 'connection'];
const typeKeys = {
  webhook: ['headers', 'headers_env', 'content_type'],
  ntfy: ['token_env', 'priority'],
} as const;

/**
 * Reads the `notifications:` list (its raw YAML value); every problem goes to `problems` as `notifications[i].key:
 * message`, naming an environment variable but never its value. Absent or empty: no notifications.
 */
export function readNotifications(raw: unknown, problems: string[], env: Env, example: string): NotificationTarget[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    problems.push(`notifications: expected a list of targets (- type: webhook or ntfy, with url), got ${JSON.stringify(raw)}`);
    return [];
  }
  const targets: NotificationTarget[] = [];
  raw.forEach((item: unknown, i) => {
    const path = `notifications[${i}]`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      problems.push(`${path}: expected a mapping with type and url, got ${JSON.stringify(item)}`);
      return;
    }
    const before = problems.length;
    const target = readTarget(new Reader(item as Record<string, unknown>, path, problems, example), env);
    if (target && problems.length === before) targets.push(target);
  });
  // Names identify a target in the history; two alike get a number so each stays findable.
  const seen = new Map<string, number>();
  return targets.map((t) => {
    const n = (seen.get(t.name) ?? 0) + 1;
    seen.set(t.name, n);
    return n === 1 ? t : { ...t, name: `${t.name} #${n}` };
  });
}


function readTarget(r: Reader, env: Env): NotificationTarget | null {
  const type = r.raw('type');
  if (type !== 'webhook' && type !== 'ntfy') {
    r.problem('type', type === undefined || type === null ? 'required: webhook or ntfy' : `expected webhook or ntfy, got ${JSON.stringify(type)}`);
    return null;
  }
  const other = type === 'webhook' ? 'ntfy' : 'webhook';
  for (const key of typeKeys[other]) {
    if (r.raw(key) !== undefined) r.problem(key, `only for type ${other}`);
  }
  const secrets: string[] = [];
  const url = readUrl(r, env, secrets);
  const name = r.string('name', '', (v) => (v.trim() === '' ? 'must not be empty (leave it out for "<type> <host of the url>")' : null));
  const on = readEvents(r);
  const bodyTemplate = r.string('body_template', '', (v) => (v.trim() === '' ? 'must not be empty (leave it out for the default body)' : null));
  const base = { url, on, bodyTemplate: bodyTemplate || null, secrets, name: name || `${type} ${hostOf(url)}` };
  let target: NotificationTarget;
  if (type === 'webhook') {
    const contentType = r.string('content_type', 'application/json', (v) =>
      /^[\w.+-]+\/[\w.+-]+(\s*;[^\r\n]*)?$/.test(v) ? null : `expected a media type like application/json or text/plain, got ${JSON.stringify(v)}`,
    );
    target = { type, ...base, headers: readHeaders(r, env, secrets), contentType };
  } else {
    const token = readEnvValue(r, 'token_env', env);
    if (token) secrets.push(token);
    target = { type, ...base, token, priority: readPriorities(r.section('priority')) };
  }
  if (bodyTemplate) checkTemplate(r, bodyTemplate, target.type === 'webhook' && isJsonContentType(target.contentType));
  r.rejectUnknown();
  return target;
}

/** `url` in the file, or `url_env` naming the variable that holds it (a URL with a token, a secret ntfy topic). */
function readUrl(r: Reader, env: Env, secrets: string[]): string {
  if (r.raw('url') !== undefined && r.raw('url_env') !== undefined) {
    r.problem('url_env', 'set url or url_env, not both');
    return '';
  }
  const inFile = r.string('url', '', (v) => checkTargetUrl(v, 'url'));
  const fromEnv = readEnvValue(r, 'url_env', env, (v) => checkTargetUrl(v, 'url_env'));
  if (inFile === '' && fromEnv === '' && !r.hasProblem('url') && !r.hasProblem('url_env')) {
    r.problem('url', 'required: the http:// or https:// URL to POST to (or url_env: the environment variable that holds it)');
  }
  if (fromEnv !== '') secrets.push(fromEnv);
  return inFile || fromEnv;
}

function checkTargetUrl(text: string, key: 'url' | 'url_env'): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    url = new URL('invalid:');
  }
  // The problem for url_env never repeats the value: it is a secret.
  const got = key === 'url' ? `, got ${JSON.stringify(text)}` : '';
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `expected an http:// or https:// URL like https://ntfy.sh/my-topic${got}`;
  if (url.username || url.password) return key === 'url' ? 'a URL with a user or password holds a secret: use url_env, or headers_env for an Authorization header' : 'a URL with a user or password: use headers_env for an Authorization header instead';
  return null;
}

/** The value of the environment variable named by `key`; '' when the key is absent. A named variable must be set. */
function readEnvValue(r: Reader, key: string, env: Env, check?: (value: string) => string | null): string {
  const name = r.string(key, '', (v) => (envName.test(v) ? null : `expected the name of an environment variable like NOTIFY_TOKEN, got ${JSON.stringify(v)}`));
  if (name === '') return '';
  const value = env[name];
  if (value === undefined || value === '') {
    r.problem(key, `environment variable ${name} is not set`);
    return '';
  }
  const trouble = check?.(value) ?? null;
  if (trouble !== null) {
    r.problem(key, `${name}: ${trouble}`);
    return '';
  }
  return value;
}

function readEvents(r: Reader): NotificationEvent[] {
  const value = r.raw('on');
  if (value === undefined || value === null) return [...notificationEvents];
  const valid = Array.isArray(value) && value.length > 0 && value.every((v) => (notificationEvents as readonly unknown[]).includes(v));
  if (!valid) {
    r.problem('on', `expected a list of events out of ${notificationEvents.join(', ')} (leave it out for all), got ${JSON.stringify(value)}`);
    return [...notificationEvents];
  }
  return [...new Set(value as NotificationEvent[])];
}

/** `headers` (plain values, no credentials) and `headers_env` (header → the environment variable with its value). */
function readHeaders(r: Reader, env: Env, secrets: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  const plain = r.section('headers');
  for (const name of plain.keys()) {
    if (!checkHeaderName(plain, name)) continue;
    if (secretHeaders.includes(name.toLowerCase())) {
      plain.problem(name, `a credential does not belong in the file: name its environment variable under headers_env instead (headers_env: { ${name}: NOTIFY_TOKEN })`);
      plain.raw(name);
      continue;
    }
    const value = plain.string(name, '', (v) => (/[\r\n\0]/.test(v) ? 'must be one line' : null));
    if (value !== '') headers[name] = value;
  }
  plain.rejectUnknown();
  const fromEnv = r.section('headers_env');
  for (const name of fromEnv.keys()) {
    if (!checkHeaderName(fromEnv, name)) continue;
    if (Object.keys(headers).some((h) => h.toLowerCase() === name.toLowerCase())) {
      fromEnv.problem(name, 'also set under headers: keep one');
      fromEnv.raw(name);
      continue;
    }
    const value = readEnvValue(fromEnv, name, env, (v) => (/[\r\n\0]/.test(v) ? 'holds a line break, which no header value may' : null));
    if (value !== '') {
      headers[name] = value;
      secrets.push(value);
    }
  }
  fromEnv.rejectUnknown();
  return headers;
}

function checkHeaderName(r: Reader, name: string): boolean {
  if (!headerName.test(name)) {
    r.problem(name, 'not a valid HTTP header name');
  } else if (reservedHeaders.includes(name.toLowerCase())) {
    r.problem(name, 'set by the service itself');
  } else {
    return true;
  }
  r.raw(name);
  return false;
}

function readPriorities(r: Reader): Record<NotificationEvent, NtfyPriority> {
  const priority = { ...defaultNtfyPriority };
  for (const event of notificationEvents) {
    // YAML reads `failed: 5` as a number; string() takes numbers as their text.
    const value = r.string(event, defaultNtfyPriority[event], (v) => ((ntfyPriorities as readonly string[]).includes(v) ? null : `expected one of ${ntfyPriorities.join(', ')}, got ${JSON.stringify(v)}`));
    priority[event] = value as NtfyPriority;
  }
  r.rejectUnknown();
  return priority;
}

/** Known fields only; a JSON body must be valid JSON when rendered (checked with the example values). */
function checkTemplate(r: Reader, template: string, json: boolean): void {
  const unknown = unknownFields(template);
  if (unknown.length > 0) {
    r.problem('body_template', `unknown field ${unknown.map((f) => `{{${f}}}`).join(', ')} (the fields: ${fieldNames.join(', ')})`);
    return;
  }
  if (!json) return;
  try {
    JSON.parse(renderTemplate(template, notificationFields, true));
  } catch (err) {
    r.problem('body_template', `is not valid JSON once rendered (${(err as Error).message}); put each {{field}} inside a JSON string, or set content_type for another format`);
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '?';
  }
}
