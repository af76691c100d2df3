import type { AuditEntry } from '../../store/audit-store';
import { html } from '../html';
import { layout } from './layout';

/** The Audit page's filters, as they came in the query string (echoed into the form). */
export interface AuditFilters {
  host?: string | undefined;
  mac?: string | undefined;
  kind?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
}

/** The Audit page at /audit: the trail newest first, filtered, a page at a time. */
export function renderAuditPage(o: { entries: AuditEntry[]; nextBefore: number | null; filters: AuditFilters; kinds: readonly string[]; error?: string | undefined; retention: string; csrfToken?: string | undefined }): string {
  const f = o.filters;
  const query = (extra: Record<string, string>) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(f)) if (v) q.set(k, v);
    for (const [k, v] of Object.entries(extra)) q.set(k, v);
    return `/audit?${q.toString()}`;
  };
  const body = html`<h1>Audit</h1>
<p>Every operator action (API and dashboard), login and refused request, and what each booting MAC was told and why; kept for ${o.retention}. Also <code>GET /api/audit</code>.</p>
<form method="get" action="/audit" class="audit-filters">
<label>Host id <input name="host" inputmode="numeric" value="${f.host ?? ''}" size="5"></label>
<label>MAC <input name="mac" value="${f.mac ?? ''}" size="17" placeholder="aa:bb:cc:dd:ee:ff"></label>
<label>Kind <select name="kind"><option value="">any</option>${o.kinds.map((k) => html`<option value="${k}"${f.kind === k ? html` selected` : ''}>${k}</option>`)}</select></label>
<label>Since <input name="since" type="datetime-local" value="${f.since ?? ''}"></label>
<label>Until <input name="until" type="datetime-local" value="${f.until ?? ''}"></label>
<button type="submit">Filter</button> <a href="/audit">clear</a>
${o.error ? html`<span class="form-error" role="alert">${o.error}</span>` : ''}
</form>
${o.entries.length === 0
  ? html`<p class="muted" id="audit-empty">No entries${Object.values(f).some(Boolean) ? ' match these filters' : ''}.</p>`
  : html`<table class="images audit" id="audit-table"><thead><tr><th>When</th><th>Kind</th><th>Who</th><th>From</th><th>Host</th><th>Result</th><th>What</th></tr></thead><tbody>
${o.entries.map(
  (e) => html`<tr class="audit-${e.result}" data-kind="${e.kind}"><td><time datetime="${e.at}">${e.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</time></td><td>${e.kind}</td><td>${e.actor}</td><td>${e.address ?? ''}</td>
<td>${e.host_id !== null ? html`<a href="/hosts/${String(e.host_id)}">${e.hostname ?? `#${e.host_id}`}</a>` : ''}${e.mac ? html` <span class="muted">${e.mac}</span>` : ''}</td><td>${e.result}</td><td>${e.message}</td></tr>`,
)}
</tbody></table>`}
${o.nextBefore !== null ? html`<p><a href="${query({ before: String(o.nextBefore) })}" rel="next">Older entries →</a></p>` : ''}`;
  return layout({ title: 'Audit', body, bodyAttrs: html`data-page="audit"`, csrfToken: o.csrfToken });
}
