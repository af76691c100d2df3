// The REST API as the CLI calls it: one base URL, the operator token, JSON in and out. Every failure is one of two
// errors: the API said no (ApiError, with the API's own code and message) or the URL could not be reached.

/** Thrown when the API answers with an error; `code` and `message` are the API's (`{ error: { code, message, field? } }`). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field: string | undefined,
    readonly body: unknown, // the response as parsed, for --json
  ) {
    super(message);
  }
}

/** Thrown when no HTTP answer came back from `url`: refused, unresolvable name, timeout, TLS failure. */
export class UnreachableError extends Error {
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`cannot reach ${url}: ${reason}`);
  }
}

export interface ApiClientOptions {
  url: string; // base URL of the service, e.g. http://127.0.0.1:8080 (a path prefix is kept)
  token: string; // operator token; empty: none sent
  timeoutMs?: number; // per request, not for the event stream or uploads
}

/** What `request` sends besides the method and path. */
export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  json?: unknown; // a JSON body
  body?: ReadableStream<Uint8Array>; // a streamed body (an ISO upload); no timeout then
  headers?: Record<string, string>;
}

/** A client of the operator API at one base URL. */
export class ApiClient {
  readonly base: URL;
  private readonly timeoutMs: number;

  constructor(private readonly options: ApiClientOptions) {
    this.base = new URL(options.url.endsWith('/') ? options.url : `${options.url}/`);
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** The base URL as the user gave it, for messages. */
  get url(): string {
    return this.options.url.replace(/\/+$/, '');
  }

  /** The absolute URL of an API path (`/api/hosts`) with its query; undefined values are left out. */
  urlOf(path: string, query: RequestOptions['query'] = {}): URL {
    const url = new URL(path.replace(/^\//, ''), this.base);
    for (const [key, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(key, String(value));
    return url;
  }

  /** Headers every request carries: the bearer token when there is one. */
  authHeaders(): Record<string, string> {
    return this.options.token === '' ? {} : { authorization: `Bearer ${this.options.token}` };
  }

  /** Sends one request and returns the parsed JSON body (null for an empty one); throws ApiError or UnreachableError. */
  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json', ...this.authHeaders(), ...options.headers };
    let body: string | ReadableStream<Uint8Array> | undefined;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    } else if (options.body) {
      body = options.body;
    }
    const response = await this.fetch(this.urlOf(path, options.query), {
      method,
      headers,
      body,
      ...(options.body ? { duplex: 'half' } : { signal: AbortSignal.timeout(this.timeoutMs) }),
    });
    const text = await response.text().catch((err: unknown) => {
      throw new UnreachableError(this.url, `the answer to ${method} ${path} broke off (${describeCause(err)})`);
    });
    const parsed = parseJson(text);
    if (response.ok) return (text === '' ? null : parsed.ok ? parsed.value : text) as T;
    throw errorOf(response, method, path, text, parsed);
  }

  /** fetch() with a connection failure turned into UnreachableError naming the base URL. */
  async fetch(url: URL, init: RequestInit & { duplex?: 'half' }): Promise<Response> {
    try {
      return await fetch(url, init);
    } catch (err) {
      throw new UnreachableError(this.url, describeCause(err));
    }
  }
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

/** The API's error envelope as an ApiError; an answer that is not one (a proxy's page) says what came back. */
function errorOf(response: Response, method: string, path: string, text: string, parsed: ReturnType<typeof parseJson>): ApiError {
  const envelope = parsed.ok ? (parsed.value as { error?: unknown }) : null;
  const error = envelope && typeof envelope === 'object' ? envelope.error : undefined;
  if (error && typeof error === 'object' && typeof (error as { message?: unknown }).message === 'string') {
    const e = error as { code?: unknown; message: string; field?: unknown };
    return new ApiError(response.status, typeof e.code === 'string' ? e.code : 'error', e.message, typeof e.field === 'string' ? e.field : undefined, parsed.ok ? parsed.value : text);
  }
  const snippet = text.trim().replace(/\s+/g, ' ').slice(0, 120);
  const message = `${method} ${path} answered ${response.status} ${response.statusText}${snippet ? `: ${snippet}` : ''} (not an error of the provisioning API: is --url right?)`;
  return new ApiError(response.status, 'unexpected_response', message, undefined, parsed.ok ? parsed.value : text);
}

/** The innermost reason fetch gives ("connect ECONNREFUSED 127.0.0.1:1", "getaddrinfo ENOTFOUND nowhere"). */
export function describeCause(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause !== undefined) e = e.cause;
  if (e instanceof Error) {
    if (e.name === 'TimeoutError') return 'no answer in time';
    const code = (e as NodeJS.ErrnoException).code;
    // AggregateError (IPv4 and IPv6 both refused) has an empty message and the code
    return e.message || code || e.name;
  }
  return String(e);
}
