// What every command gets (the API client and the output) and how a command fails: a CliError with its exit status.
import type { ApiClient } from './api-client';
import type { HostBody } from './api-types';
import type { Output } from './output';

/** The exit statuses of `provisioning` (README "Command line"). */
export const exitCodes = {
  ok: 0,
  failed: 1, // the API refused, the thing was not found, a watched rebuild or preparation failed
  usage: 2, // the command line cannot be understood
  unreachable: 3, // the service could not be reached, or the event stream was lost for good
} as const;

/** Thrown by a command for a failure it has already worded; `status` is the exit status. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly status: number = exitCodes.failed,
  ) {
    super(message);
  }
}

export interface CommandContext {
  api: ApiClient;
  out: Output;
}

const macLike = /^(?:[0-9a-f]{2}[:-]){5}[0-9a-f]{2}$|^(?:[0-9a-f]{4}\.){2}[0-9a-f]{4}$|^[0-9a-f]{12}$/i;

/** `AA-BB-CC-DD-EE-FF`, `aabb.ccdd.eeff` or bare hex → `aa:bb:cc:dd:ee:ff`; anything else unchanged. */
export function normalizeMac(text: string): string {
  if (!macLike.test(text)) return text;
  const hex = text.replace(/[^0-9a-f]/gi, '').toLowerCase();
  return hex.match(/../g)!.join(':');
}

/**
 * Finds the host HOST names: a number is its id (GET /api/hosts/{id} answers for it); otherwise a hostname or a MAC,
 * looked up in GET /api/hosts.
 */
export async function resolveHost(ctx: CommandContext, host: string): Promise<HostBody> {
  if (/^\d+$/.test(host)) return ctx.api.request<HostBody>('GET', `/api/hosts/${host}`);
  const { hosts } = await ctx.api.request<{ hosts: HostBody[] }>('GET', '/api/hosts');
  const wanted = host.toLowerCase();
  const mac = normalizeMac(host);
  const found = hosts.find((h) => h.hostname.toLowerCase() === wanted) ?? hosts.find((h) => h.mac === mac);
  if (!found) throw new CliError(`no host ${JSON.stringify(host)}: give its id, hostname or MAC (provisioning hosts list shows them)`);
  return found;
}
