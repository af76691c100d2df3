import type { SetupItem } from '../../config/setup-checks';
import { html, type Html } from '../html';
import { renderPrepareForm } from './images-page';
import { layout } from './layout';

/** The checklist: refreshed in place every few seconds by the page's script (`?fragment=1`). */
export function renderSetupList(items: readonly SetupItem[]): Html {
  const ready = items.every((i) => !i.required || i.ok);
  return html`<div id="setup-list" data-ready="${ready ? 'yes' : 'no'}">
<p class="setup-summary ${ready ? 'ok' : 'missing'}" role="status">${ready ? 'Everything a rebuild needs is in place.' : `${items.filter((i) => i.required && !i.ok).length} of the required items are missing.`}</p>
<ul class="setup">
${items.map(
  (i) => html`<li class="setup-item ${i.ok ? 'ok' : i.required ? 'missing' : 'optional'}" data-item="${i.id}">
  <span class="mark" aria-hidden="true">${i.ok ? '✓' : i.required ? '✗' : '–'}</span>
  <div><strong>${i.title}</strong>${i.required ? '' : html` <span class="muted">(optional)</span>`}
  <p>${i.detail}</p>
  ${i.ok ? '' : html`<p class="how">${i.key ? html`Set <code>${i.key}</code>` : 'Set it'}${i.example ? html`, for example <code>${i.example}</code>` : ''}, in ${i.id === 'boot_image' ? html`<a href="/images">the Images page</a> (or POST /api/images, or <code>make image ISO=…</code>)` : i.where}${i.key ? ', then restart the service' : ''}.</p>`}
  </div>
</li>`,
)}
</ul></div>`;
}

/** The Setup page at /setup. */
export function renderSetupPage(items: readonly SetupItem[], csrfToken?: string): string {
  // Outside the list: the list is re-rendered every few seconds, the form keeps what the operator typed.
  const noImage = items.some((i) => i.id === 'boot_image' && !i.ok);
  const body = html`<h1>Setup</h1>
<p>What the first rebuild needs. This list checks again every few seconds.</p>
${renderSetupList(items)}
${noImage ? html`<section class="register" id="setup-prepare"><h2>Prepare a boot image from Proxmox's ISO</h2>${renderPrepareForm()}<p class="hint">Its progress shows on <a href="/images">the Images page</a>; offline, <code>make image ISO=proxmox-ve_9.1-1.iso</code> does the same.</p></section>` : ''}`;
  return layout({ title: 'Setup', body, bodyAttrs: html`data-page="setup"`, csrfToken });
}
