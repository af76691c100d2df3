import type { ServerType } from '../../config/server-types';
import { hostStates, type HostState } from '../../domain/host-state-machine';
import { html, type Html } from '../html';
import { stateLabel, type TileModel } from '../view-models';
import { renderTile } from './host-tile';
import { layout } from './layout';
import type { ClusterSnapshot } from '../../proxmox/cluster-monitor';

/** The host grid at `/`: filter, register form and tiles; `filter` applies server-side too (JS off). */
export function renderGridPage(o: { tiles: TileModel[]; serverTypes: ServerType[]; filter: { state: HostState | ''; q: string }; cluster?: ClusterSnapshot | null; csrfToken?: string }): string {
  const q = o.filter.q.toLowerCase();
  const shown = o.tiles.filter((t) => (!o.filter.state || t.state === o.filter.state) && (!q || `${t.hostname} ${t.mac}`.toLowerCase().includes(q)));
  const body = html`
${o.cluster ? renderClusterStrip(o.cluster) : ''}
<section class="toolbar" aria-label="Filter hosts">
  <form method="get" action="/" id="filter">
    <label>State <select name="state" id="filter-state">
      <option value="">all</option>
      ${hostStates.map((s) => html`<option value="${s}" ${o.filter.state === s ? 'selected' : ''}>${stateLabel(s)}</option>`)}
    </select></label>
    <label>Search <input type="search" name="q" id="filter-q" value="${o.filter.q}" placeholder="hostname or MAC" autocomplete="off"></label>
    <noscript><button type="submit">Apply</button></noscript>
  </form>
  <span class="count"><span id="host-count">${o.tiles.length}</span> hosts</span>
</section>

<section class="grid" id="grid" aria-live="polite">
${shown.map(renderTile)}
</section>
<p class="empty" id="empty" ${o.tiles.length > 0 ? 'hidden' : ''}>No hosts yet. Register the first one below: its hostname, the MAC address of the NIC it PXE boots from, and its server type (from <code>server-types.yaml</code>). <a href="/setup">Setup</a> shows what a first rebuild needs.</p>

<section class="register">
  <h2>Register a host</h2>
  <form id="register" method="post" action="/api/hosts" novalidate>
    <label>Hostname <input name="hostname" required maxlength="63" placeholder="pve-ms-03" autocomplete="off"><span class="field-error" data-field="hostname"></span></label>
    <label>MAC <input name="mac" required placeholder="aa:bb:cc:dd:ee:ff" autocomplete="off"><span class="field-error" data-field="mac"></span></label>
    <label>Server type <select name="server_type" required>
      ${o.serverTypes.map((t) => html`<option value="${t.key}">${t.displayName} (${t.key})</option>`)}
    </select><span class="field-error" data-field="server_type"></span></label>
    <button type="submit">Register</button>
    <span class="form-error" role="alert"></span>
  </form>
</section>`;
  return layout({ title: 'Hosts', body, bodyAttrs: html`data-page="grid"`, csrfToken: o.csrfToken });
}

/** The cluster as last checked: name, quorum, members online; or what is wrong. */
export function renderClusterStrip(s: ClusterSnapshot): Html {
  const c = s.cluster;
  const ok = s.problem === null && c !== null;
  return html`<section class="cluster ${ok ? 'ok' : 'missing'}" id="cluster" aria-label="Proxmox cluster" data-quorate="${c?.quorate ? 'yes' : 'no'}">
  ${
    c && c.name !== null
      ? html`Cluster <strong>${c.name}</strong>: ${c.quorate ? 'quorate' : html`<strong>not quorate</strong>`} (${c.votes.online} of ${c.votes.total} votes, ${c.votes.needed} needed)
  <span class="members">${c.members.map((m) => html`<span class="member ${m.online ? 'online' : 'offline'}" data-member="${m.name}" title="${m.ip ?? ''}">${m.online ? '●' : '○'} ${m.name}</span> `)}</span>`
      : s.checkedAt === null
        ? html`Cluster at ${s.member}: checking…`
        : ''
  }
  ${s.problem ? html`<p class="cluster-problem" role="alert">${s.problem}</p>` : ''}
</section>`;
}
