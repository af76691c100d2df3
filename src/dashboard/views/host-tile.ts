import { html, type Html } from '../html';
import type { TileModel } from '../view-models';

const icons = { idle: '○', busy: '◔', ok: '✓', bad: '✕' } as const;

/** One host tile of the grid (also what SSE sends to replace it). */
export function renderTile(t: TileModel): Html {
  return html`<article class="tile tone-${t.tone}" id="host-${t.id}" data-host-id="${t.id}" data-state="${t.state}" data-search="${`${t.hostname} ${t.mac}`}" data-hostname="${t.hostname}">
  <header><a class="hostname" href="/hosts/${t.id}">${t.hostname}</a><span class="state" title="${t.state}"><span aria-hidden="true">${icons[t.tone]}</span> ${t.stateLabel}</span></header>
  <dl>
    <dt>MAC</dt><dd class="mono">${t.mac}</dd>
    <dt>Type</dt><dd>${t.serverType}</dd>
    ${t.power ? html`<dt>Power</dt><dd class="power-state power-${t.power.state}" title="as of ${t.power.at}">${t.power.state}</dd>` : ''}
    ${t.activeSince ? html`<dt>In stage</dt><dd><time class="elapsed" data-since="${t.activeSince}" datetime="${t.activeSince}">since ${t.activeSince}</time></dd>` : ''}
  </dl>
  ${t.waiting ? html`<p class="waiting">${t.waiting}</p>` : ''}
  ${t.failure ? html`<p class="failure"><strong>${t.failure.reason.replace(/_/g, ' ')}</strong>: ${t.failure.message}</p>` : ''}
  <footer class="actions">
    ${t.tone === 'busy'
      ? html`<button type="button" data-action="cancel" data-host-id="${t.id}" data-hostname="${t.hostname}">Cancel</button>`
      : html`<button type="button" data-action="rebuild" data-host-id="${t.id}" data-hostname="${t.hostname}">Rebuild</button>
    <button type="button" class="danger" data-action="delete" data-host-id="${t.id}" data-hostname="${t.hostname}">Delete</button>`}
    <span class="action-error" role="alert"></span>
  </footer>
</article>`;
}
