// What a person sees on the terminal once the service runs: where the dashboard, the API and the Web UI are.
import type { Role } from '../cli-args';
import type { Config } from '../config/load-config';
import type { Logger } from '../logging';
import { tlsSummary } from './tls';

/** Logs the URLs and prints them as a short block on stdout. */
export function printBanner(o: { config: Readonly<Config>; role: Role; listen: { host: string; port: number }; temporal: { address: string; embedded: boolean }; log: Logger }): void {
  const { config, role, listen, temporal } = o;
  const local = `http://${['0.0.0.0', '::'].includes(listen.host) ? '127.0.0.1' : listen.host}:${listen.port}`;
  const tls = role === 'worker' ? null : tlsSummary(config);
  const urls = { role, dashboard: `${local}/`, api: `${local}/api`, docs: `${local}/docs`, readyz: `${local}/readyz`, temporalUi: config.temporal.uiUrl || null, temporal: temporal.address, tls };
  o.log.info(urls, 'provisioning is running');
  const lines =
    role === 'worker'
      ? [`  Worker on task queue ${config.temporal.taskQueue} at ${temporal.address}; health: ${urls.readyz}`]
      : [
          `  Dashboard:        ${urls.dashboard}`,
          `  API:              ${urls.api}  (OpenAPI: ${urls.docs})`,
          `  Temporal Web UI:  ${urls.temporalUi ?? '(set temporal.ui_url)'}`,
          `  Temporal server:  ${temporal.address}${temporal.embedded ? ' (embedded dev server)' : ''}`,
          ...(tls ? [`  Boot API (HTTPS): ${tls.public_url}  (listening on ${tls.listen})`, `  Certificate:      SHA-256 ${tls.fingerprint ?? '(unreadable)'}`] : []),
          `  Role:             ${role}`,
        ];
  process.stdout.write(['', ...lines, ''].join('\n') + '\n');
}
