import type { BootImage } from '../../images/image-library';
import type { ImageJob } from '../../images/preparation-jobs';
import { html, type Html } from '../html';
import { layout } from './layout';

const mb = (bytes: number) => `${(bytes / 1_048_576).toFixed(bytes < 10 * 1_048_576 ? 1 : 0)} MB`;

/** One preparation: its step, a progress bar while it runs, its error when it failed. */
export function renderJob(j: ImageJob): Html {
  const running = j.state === 'downloading' || j.state === 'preparing';
  const bar = running
    ? j.bytesTotal
      ? html`<progress max="${j.bytesTotal}" value="${j.bytesDone}" aria-label="${j.name}: ${j.step}"></progress> <span class="bytes">${mb(j.bytesDone)} of ${mb(j.bytesTotal)}</span>`
      : html`<progress aria-label="${j.name}: ${j.step}"></progress> <span class="bytes">${mb(j.bytesDone)}</span>`
    : '';
  return html`<li class="job job-${j.state}" id="job-${j.name}" data-state="${j.state}">
  <strong>${j.name}</strong> <span class="job-state">${j.state === 'failed' ? 'failed' : j.state === 'ready' ? 'ready' : j.step}</span>
  ${bar}
  ${j.error ? html`<p class="job-error" role="alert">${j.error.message} <code>${j.error.code}</code></p>` : ''}
  <span class="job-source">${j.source}</span>
</li>`;
}

function renderImage(i: BootImage, inUse: readonly string[]): Html {
  const total = i.sizes.kernel + i.sizes.initrd + i.sizes.iso;
  return html`<tr data-image="${i.name}">
  <td><strong>${i.name}</strong></td>
  <td>${mb(total)}</td>
  <td><time datetime="${i.modifiedAt}">${i.modifiedAt.slice(0, 16).replace('T', ' ')}</time></td>
  <td>${inUse.length > 0 ? html`in use by ${inUse.join(', ')}` : html`<button type="button" class="danger" data-action="delete-image" data-image="${i.name}">Delete</button><span class="action-error" role="alert"></span>`}</td>
</tr>`;
}

/** The Images page at /images: the boot images, the preparations, and the form that prepares one from an ISO URL. */
export function renderImagesPage(o: { images: BootImage[]; jobs: ImageJob[]; inUse: (name: string) => string[]; directory: string; csrfToken?: string }): string {
  const body = html`
<h1>Boot images</h1>
<p>A boot image is a stock Proxmox VE ISO (8.2 or newer) prepared for network boot: its kernel, its initrd in gzip, and
a copy of the ISO that asks this service for its answer file. They live in <code>${o.directory}</code>.</p>

<section class="register">
  <h2>Prepare from an ISO</h2>
  <form id="prepare-image" method="post" action="/api/images" novalidate>
    <label>ISO URL <input name="url" type="url" required size="48" placeholder="https://enterprise.proxmox.com/iso/proxmox-ve_9.1-1.iso" autocomplete="off"><span class="field-error" data-field="url"></span></label>
    <label>SHA-256 (optional) <input name="sha256" size="30" placeholder="from Proxmox's SHA256SUMS" autocomplete="off"><span class="field-error" data-field="sha256"></span></label>
    <label>Name (optional) <input name="name" placeholder="pve-9.1-1" autocomplete="off"><span class="field-error" data-field="name"></span></label>
    <button type="submit">Prepare</button>
    <span class="form-error" role="alert"></span>
  </form>
  <p class="hint">Offline: <code>make image ISO=proxmox-ve_9.1-1.iso</code> on this machine does the same.</p>
</section>

<section class="jobs-section">
  <h2>Preparations</h2>
  <ul class="jobs" id="jobs" aria-live="polite">${o.jobs.map(renderJob)}</ul>
  <p class="empty" id="no-jobs" ${o.jobs.length > 0 ? 'hidden' : ''}>None running.</p>
</section>

<section class="images-section">
  <h2>Images</h2>
  ${
    o.images.length > 0
      ? html`<table class="images" id="images"><thead><tr><th>Name</th><th>Size</th><th>Prepared</th><th></th></tr></thead>
<tbody>${o.images.map((i) => renderImage(i, o.inUse(i.name)))}</tbody></table>`
      : html`<p class="empty" id="no-images">No boot image yet: prepare one from Proxmox's ISO above.</p>`
  }
</section>`;
  return layout({ title: 'Images', body, bodyAttrs: html`data-page="images"`, csrfToken: o.csrfToken });
}
