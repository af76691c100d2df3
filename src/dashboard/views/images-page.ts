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
  ${j.notes.map((n) => html`<p class="job-note">Note: ${n}</p>`)}
  <span class="job-source">${j.source}</span>
</li>`;
}

function renderImage(i: BootImage, inUse: readonly string[], stale: readonly string[] | null): Html {
  const total = i.sizes.kernel + i.sizes.initrd + i.sizes.iso;
  const m = i.metadata;
  const when = m?.preparedAt ?? i.modifiedAt;
  const actions = inUse.length > 0
    ? html`in use by ${inUse.join(', ')}`
    : html`${stale && stale.length > 0 ? html`<button type="button" data-action="reprepare-image" data-image="${i.name}">Prepare again</button> ` : ''}<button type="button" class="danger" data-action="delete-image" data-image="${i.name}">Delete</button><span class="action-error" role="alert"></span>`;
  return html`<tr data-image="${i.name}" data-stale="${stale === null ? 'unknown' : stale.length > 0 ? 'yes' : 'no'}">
  <td><strong>${i.name}</strong>${m ? html`<br><span class="muted">${m.productLong ?? m.product} ${[m.release, m.isorelease].filter(Boolean).join('-')}</span>` : ''}</td>
  <td>${mb(total)}</td>
  <td><time datetime="${when}">${when.slice(0, 16).replace('T', ' ')}</time>${m ? html`<br><span class="muted" title="SHA-256 ${m.source.sha256}">${m.source.file}</span>` : ''}</td>
  <td>${
    m
      ? html`<code>${m.answerUrl}</code>${m.certFingerprint ? html`<br><span class="muted">pins ${m.certFingerprint.slice(0, 23)}…</span>` : ''}${m.tokenSha256 ? html`<br><span class="muted">answer token</span>` : ''}`
      : html`<span class="muted">made by hand: not known</span>`
  }${stale && stale.length > 0 ? html`<p class="stale" role="alert"><strong>Stale:</strong> ${stale.join('; ')}.</p>` : ''}</td>
  <td>${actions}</td>
</tr>`;
}

/** The form that prepares an image from an ISO URL (the Images page, and the Setup page while no image exists). */
export function renderPrepareForm(): Html {
  return html`<form id="prepare-image" method="post" action="/api/images" novalidate>
    <label>ISO URL <input name="url" type="url" required size="48" placeholder="https://enterprise.proxmox.com/iso/proxmox-ve_9.1-1.iso" autocomplete="off"><span class="field-error" data-field="url"></span></label>
    <label>SHA-256 (optional) <input name="sha256" size="30" placeholder="from Proxmox's SHA256SUMS" autocomplete="off"><span class="field-error" data-field="sha256"></span></label>
    <label>Name (optional) <input name="name" placeholder="pve-9.1-1" autocomplete="off"><span class="field-error" data-field="name"></span></label>
    <button type="submit">Prepare</button>
    <span class="form-error" role="alert"></span>
    <span class="form-done" role="status"></span>
  </form>`;
}

/** The Images page at /images: the boot images, the preparations, and the form that prepares one from an ISO URL. */
export function renderImagesPage(o: { images: BootImage[]; jobs: ImageJob[]; inUse: (name: string) => string[]; stale: (image: BootImage) => string[] | null; directory: string; csrfToken?: string }): string {
  const staleNames = o.images.filter((i) => (o.stale(i) ?? []).length > 0).map((i) => i.name);
  const body = html`
<h1>Boot images</h1>
<p>A boot image is a stock Proxmox VE ISO (8.2 or newer) prepared for network boot: its kernel, its initrd in gzip, and
a copy of the ISO that asks this service for its answer file. They live in <code>${o.directory}</code>.</p>
${
  staleNames.length > 0
    ? html`<p class="stale-banner" role="alert" id="stale-banner">${staleNames.length === 1 ? html`Image <strong>${staleNames[0]}</strong> was` : html`Images <strong>${staleNames.join(', ')}</strong> were`} prepared for another answer URL or certificate than the boot API's now (the reasons are on ${staleNames.length === 1 ? 'its row' : 'their rows'}): hosts booting ${staleNames.length === 1 ? 'it' : 'them'} may not get their answer file, or get it unpinned.
<button type="button" data-action="reprepare-stale" data-images="${staleNames.join(' ')}">Prepare ${staleNames.length === 1 ? 'it' : `all ${staleNames.length}`} again</button><span class="action-error" role="alert"></span></p>`
    : ''
}

<section class="register">
  <h2>Prepare from an ISO</h2>
  ${renderPrepareForm()}
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
      ? html`<table class="images" id="images"><thead><tr><th>Name</th><th>Size</th><th>Prepared</th><th>Answers from</th><th></th></tr></thead>
<tbody>${o.images.map((i) => renderImage(i, o.inUse(i.name), o.stale(i)))}</tbody></table>`
      : html`<p class="empty" id="no-images">No boot image yet: prepare one from Proxmox's ISO above.</p>`
  }
</section>`;
  return layout({ title: 'Images', body, bodyAttrs: html`data-page="images"`, csrfToken: o.csrfToken });
}
