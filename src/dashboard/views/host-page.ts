import { html, raw, type Html } from '../html';
import type { PowerSettings } from '../../power/types';
import type { HostDetailModel } from '../view-models';
import { layout } from './layout';

function duration(ms: number | null): string {
  if (ms === null) return '';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

/** The detail body (also fetched as a fragment to refresh it live). */
export function renderHostDetail(m: HostDetailModel): Html {
  const h = m.host;
  return html`<div id="host-detail" data-host-id="${h.id}" data-state="${h.state}">
<header class="detail-head tone-${m.tile.tone}">
  <h1>${h.hostname}</h1>
  <span class="state"> ${m.tile.stateLabel}</span>
  <footer class="actions">
    ${m.tile.tone === 'busy'
      ? html`<button type="button" data-action="cancel" data-host-id="${h.id}" data-hostname="${h.hostname}">Cancel rebuild</button>`
      : html`<a class="button" href="/hosts/${h.id}/rebuild" data-action-link="rebuild">Rebuild…</a>
    <button type="button" class="danger" data-action="delete" data-host-id="${h.id}" data-hostname="${h.hostname}">Delete</button>`}
    <span class="action-error" role="alert"></span>
  </footer>
</header>
${m.tile.failure ? html`<p class="failure"><strong>${m.tile.failure.reason.replace(/_/g, ' ')}</strong>: ${m.tile.failure.message}</p>` : ''}

<section class="facts">
  <h2>Facts</h2>
  <dl>
    <dt>MAC</dt><dd class="mono">${h.mac}</dd>
    <dt>Server type</dt><dd>${m.serverType ? `${m.serverType.displayName} (${h.serverType})` : h.serverType}</dd>
    <dt>IP address</dt><dd class="mono">${h.ipAddress ?? '—'}</dd>
    <dt>Hardware id</dt><dd class="mono">${h.hardwareId ?? '—'}</dd>
    <dt>Machine id</dt><dd class="mono">${h.machineId ?? '—'}</dd>
    <dt>Power</dt><dd class="power-summary">${m.power.summary}${m.tile.power ? html` · <span class="power-state power-${m.tile.power.state}">${m.tile.power.state}</span> as of <time datetime="${m.tile.power.at}">${m.tile.power.at.replace('T', ' ').slice(0, 19)}</time>` : ''}</dd>
    <dt>SSH host keys</dt><dd>${m.hostKeyFingerprints.length === 0 ? '—' : html`<ul class="mono">${m.hostKeyFingerprints.map((k) => html`<li>${k.type} ${k.fingerprint}</li>`)}</ul>`}</dd>
  </dl>
</section>

<section class="stepper-section">
  <h2>${m.operations[0] ? `Rebuild ${m.operations[0].operation.status === 'running' ? 'in progress' : m.operations[0].operation.status}` : 'No rebuild yet'}</h2>
  <ol class="stepper">
    ${m.steps.map((s) => html`<li class="step step-${s.status}" data-state="${s.state}"><span class="step-label">${s.label}</span>${s.at ? html`<time datetime="${s.at}">${s.at.slice(11, 19)}</time>` : ''}${s.status === 'current' && s.at ? html`<span class="elapsed" data-since="${s.at}">${duration(s.durationMs)}</span>` : html`<span class="duration">${duration(s.durationMs)}</span>`}</li>`)}
  </ol>
  ${m.tile.waiting ? html`<p class="waiting">${m.tile.waiting}</p>` : ''}
  ${m.clusterSteps
    ? html`<h3>Cluster member steps</h3>
  <ol class="stepper cluster-steps">
    ${m.clusterSteps.map((s) => html`<li class="step step-${s.status}" data-step="${s.name}" title="${s.message ?? ''}"><span class="step-label">${s.label}</span>${s.at ? html`<time datetime="${s.at}">${s.at.slice(11, 19)}</time>` : ''}</li>`)}
  </ol>`
    : ''}
</section>

<section class="timeline">
  <h2>History</h2>
  ${m.operations.length === 0 ? html`<p>No operations yet.</p>` : ''}
  ${m.operations.map(
    ({ operation: o, events, workflowUrl }) => html`<article class="operation">
    <h3>Rebuild #${o.id} · ${o.status}${o.failureReason ? ` (${o.failureReason.replace(/_/g, ' ')})` : ''} · started ${o.startedAt.replace('T', ' ').slice(0, 19)}${workflowUrl ? html` · <a href="${workflowUrl}" target="_blank" rel="noopener">workflow in Temporal</a>` : ''}</h3>
    <ol class="events">
      ${events.map((e) => html`<li class="event kind-${e.kind}"><time datetime="${e.at}">${e.at.replace('T', ' ').slice(0, 19)}</time> <span class="kind">${e.kind.replace(/_/g, ' ')}</span> ${e.message}${e.details && (e.details.stdout || e.details.stderr) ? html`<pre>${String(e.details.stdout ?? '')}${String(e.details.stderr ?? '')}</pre>` : ''}</li>`)}
    </ol>
  </article>`,
  )}
  ${m.looseEvents.length > 0 ? html`<article class="operation"><h3>Outside a rebuild: boot requests, power</h3><ol class="events">${m.looseEvents.map((e) => html`<li class="event kind-${e.kind}"><time datetime="${e.at}">${e.at.replace('T', ' ').slice(0, 19)}</time> <span class="kind">${e.kind.replace(/_/g, ' ')}</span> ${e.message}</li>`)}</ol></article>` : ''}
</section>
</div>`;
}

const methodLabels: Record<PowerSettings['method'], string> = { manual: 'Manual (by hand)', wol: 'Wake-on-LAN', ipmi: 'IPMI', redfish: 'Redfish', proxmox: 'Proxmox API reboot' };

/** One input of the power form; `field` is the API's (power.address), where its error is shown. */
function input(label: string, name: string, field: string, value: string | number | null, attrs: Html = html``): Html {
  return html`<label>${label} <input name="${name}" value="${value ?? ''}" ${attrs}><span class="field-error" data-field="power.${field}"></span></label>`;
}

/**
 * The Power section: the actions (Off and Cycle of a ready host, a cluster member, ask first) and the settings form.
 * Outside the live-refreshed detail, so a refresh neither clears a half-typed form nor the last result.
 */
export function renderPowerSection(m: HostDetailModel): Html {
  const h = m.host;
  const p = m.power.settings;
  const pw = (method: 'ipmi' | 'redfish') =>
    html`<label>Password <input type="password" name="${method}_password" autocomplete="new-password" placeholder="${p.method === method && p.passwordSet ? 'set (leave empty to keep it)' : 'required'}"><span class="field-error" data-field="power.password"></span></label>`;
  const fieldset = (method: PowerSettings['method'], body: Html) => html`<fieldset data-method="${method}" ${p.method === method ? '' : 'hidden'}><legend>${methodLabels[method]}</legend>${body}</fieldset>`;
  return html`<section class="power" id="power" data-host-id="${h.id}" data-hostname="${h.hostname}" data-method="${p.method}">
  <h2>Power</h2>
  ${p.method === 'manual'
    ? html`<p>No power control: power on or reboot the machine into network boot by hand, or choose a method below.</p>`
    : html`<footer class="actions power-actions">
    <button type="button" data-power="on">On</button>
    <button type="button" data-power="off" class="danger">Off</button>
    <button type="button" data-power="cycle" class="danger">Cycle</button>
    <button type="button" data-power="pxe-once">PXE once</button>
    <button type="button" data-power="test">Test power</button>
    <span class="power-result" role="status"></span>
  </footer>`}
  <details${p.method === 'manual' ? ' open' : ''}><summary>Power settings</summary>
  <form id="power-form" class="power-form" data-host-id="${h.id}">
    <label>Method <select name="method">${Object.entries(methodLabels).map(([method, label]) => html`<option value="${method}" ${p.method === method ? 'selected' : ''}>${label}</option>`)}</select><span class="field-error" data-field="power.method"></span></label>
    ${fieldset('wol', html`${input('Broadcast address', 'wol_broadcast', 'broadcast', p.method === 'wol' ? p.broadcast : null, html`placeholder="of pxe.subnet"`)}${input('Port', 'wol_port', 'port', p.method === 'wol' ? p.port : 9, html`type="number" min="1" max="65535"`)}`)}
    ${fieldset('ipmi', html`${input('BMC address', 'ipmi_address', 'address', p.method === 'ipmi' ? p.address : null)}${input('Port', 'ipmi_port', 'port', p.method === 'ipmi' ? p.port : 623, html`type="number" min="1" max="65535"`)}${input('User', 'ipmi_username', 'username', p.method === 'ipmi' ? p.username : null, html`autocomplete="off"`)}${pw('ipmi')}`)}
    ${fieldset('redfish', html`${input('BMC URL', 'redfish_url', 'url', p.method === 'redfish' ? p.url : null, html`placeholder="https://…"`)}${input('User', 'redfish_username', 'username', p.method === 'redfish' ? p.username : null, html`autocomplete="off"`)}${pw('redfish')}${input('System id', 'redfish_system_id', 'system_id', p.method === 'redfish' ? p.systemId : null, html`placeholder="the only one"`)}${input('Certificate fingerprint (SHA-256)', 'redfish_fingerprint', 'fingerprint', p.method === 'redfish' ? p.fingerprint : null)}${input('or CA file', 'redfish_ca_file', 'ca_file', p.method === 'redfish' ? p.caFile : null, html`placeholder="/etc/…/bmc-ca.pem"`)}`)}
    ${fieldset('proxmox', input('Node', 'proxmox_node', 'node', p.method === 'proxmox' ? p.node : null, html`placeholder="${h.hostname}"`))}
    <button type="submit">Save power settings</button><span class="form-error" role="alert"></span>
  </form>
  </details>
</section>`;
}

// Fills the Preview section from GET /api/hosts/{id}/preview on demand; text only (textContent), never markup.
const previewScript = `<script>
(function () {
  var section = document.getElementById('preview');
  if (!section) return;
  var button = section.querySelector('[data-preview-load]');
  var status = section.querySelector('.preview-status');
  var part = function (name) { return section.querySelector('[data-preview="' + name + '"]'); };
  button.addEventListener('click', function () {
    button.disabled = true;
    status.textContent = 'loading…';
    fetch('/api/hosts/' + section.dataset.hostId + '/preview', { headers: { accept: 'application/json' }, credentials: 'same-origin' })
      .then(function (res) { return res.json().then(function (json) { return { ok: res.ok, json: json }; }); })
      .then(function (r) {
        button.disabled = false;
        if (!r.ok) { status.textContent = (r.json.error && r.json.error.message) || 'the preview failed'; return; }
        var p = r.json;
        status.textContent = '';
        button.textContent = 'Refresh preview';
        part('ipxe').textContent = p.ipxe;
        part('answer').textContent = p.answer === null ? '(none: see the problems above)' : p.answer;
        part('first_boot').textContent = p.first_boot;
        var summary = part('summary');
        summary.className = 'setup-summary ' + (p.valid ? 'ok' : 'missing');
        summary.textContent = p.valid ? 'No problems: the next rebuild would serve these.' : (p.problems.length === 1 ? '1 problem' : p.problems.length + ' problems') + ' before a rebuild:';
        var list = part('problems');
        list.textContent = '';
        list.hidden = p.problems.length === 0;
        p.problems.forEach(function (x) { var li = document.createElement('li'); li.dataset.part = x.part; li.textContent = x.part.replace('_', '-') + ': ' + x.message; list.appendChild(li); });
        part('redacted').textContent = 'Redacted: ' + p.redacted.join('; ') + '. ' + p.notes.join('. ') + (p.notes.length ? '.' : '');
        part('body').hidden = false;
      })
      .catch(function (err) { button.disabled = false; status.textContent = 'the preview failed: ' + err.message; });
  });
})();
</script>`;

/**
 * The Preview section: what the host's next rebuild would serve it (iPXE script, answer file, first-boot script) and
 * the problems found, loaded from the API when asked. Outside the live-refreshed detail, so a refresh keeps it.
 */
export function renderPreviewSection(m: HostDetailModel): Html {
  return html`<section class="preview" id="preview" data-host-id="${m.host.id}">
  <h2>Preview</h2>
  <p class="muted">What the next rebuild of ${m.host.hostname} would serve it, checked against the installer's rules before the machine is touched. The root password hash and the boot tokens are redacted; nothing is started or changed.</p>
  <footer class="actions"><button type="button" data-preview-load>Show preview</button><span class="preview-status" role="status"></span></footer>
  <div data-preview="body" hidden>
    <p data-preview="summary"></p>
    <ul class="failure" data-preview="problems"></ul>
    <div style="display:grid; gap:.6rem">
      <article class="operation"><h3>iPXE script</h3><pre data-preview="ipxe"></pre></article>
      <article class="operation"><h3>Answer file (TOML)</h3><pre data-preview="answer"></pre></article>
      <article class="operation"><h3>First-boot script</h3><pre data-preview="first_boot"></pre></article>
    </div>
    <p class="muted" data-preview="redacted"></p>
  </div>
</section>
${raw(previewScript)}`;
}

/** The whole host page. */
export function renderHostPage(m: HostDetailModel, csrfToken?: string): string {
  return layout({ title: m.host.hostname, body: html`<p><a href="/">← all hosts</a></p>${renderHostDetail(m)}${renderPowerSection(m)}${renderPreviewSection(m)}`, bodyAttrs: html`data-page="host" data-host-id="${m.host.id}"`, csrfToken });
}
