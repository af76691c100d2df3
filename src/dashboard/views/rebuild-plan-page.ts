// The rebuild page (/hosts/{id}/rebuild): the plan before anything happens (issue 16 item 4). The options are a GET
// form, so the plan reads and re-plans without JavaScript; the confirm button POSTs the rebuild like the other actions.
import type { Host } from '../../domain/host';
import type { RebuildChoice, RebuildPlan } from '../../proxmox/rebuild-plan';
import { html, type Html } from '../html';
import { layout } from './layout';

export interface RebuildPlanPageModel {
  host: Pick<Host, 'id' | 'hostname' | 'mac'>;
  plan: RebuildPlan | null; // null: it could not be made (error says why)
  choice: RebuildChoice;
  error: { code: string; message: string; field?: string } | null;
}

const yesNo = (b: boolean) => (b ? 'yes' : 'no');

/** The body of the POST /api/hosts/{id}/rebuild the confirm button sends for this plan and choice. */
export function rebuildRequestBody(plan: RebuildPlan, choice: RebuildChoice): Record<string, unknown> {
  if (!plan.member) return {};
  return { migrate_guests: choice.migrate, ...(choice.migrate && choice.migrateTarget ? { migrate_target: choice.migrateTarget } : {}), allow_quorum_loss: choice.allowQuorumLoss };
}

/** The plan's sections, the options form and the confirm button. */
export function renderRebuildPlan(m: RebuildPlanPageModel): Html {
  const { host, plan, choice } = m;
  const refused = !plan || plan.refusals.length > 0;
  return html`<section id="rebuild-plan" class="plan" data-host-id="${host.id}" data-member="${plan ? yesNo(plan.member) : 'unknown'}" data-refused="${yesNo(refused)}">
<h1>Rebuild ${host.hostname}</h1>
${m.error ? html`<p class="failure" role="alert" data-code="${m.error.code}"><strong>${m.error.code.replace(/_/g, ' ')}</strong>: ${m.error.message}</p>` : ''}
${plan ? renderPlanBody(plan) : ''}
${plan ? renderOptions(host.id, plan, choice, m.error?.field) : ''}
${plan ? html`<section class="plan-steps-section"><h2>Steps</h2><ol class="plan-steps">${plan.steps.map((s) => html`<li data-step="${s.name}"><span class="step-name mono">${s.name}</span> ${s.description}</li>`)}</ol></section>` : ''}
${plan && plan.notes.length > 0 ? html`<section class="plan-notes"><h2>Notes</h2><ul>${plan.notes.map((n) => html`<li>${n}</li>`)}</ul></section>` : ''}
<footer class="actions">
  <button type="button" data-action="confirm-rebuild" data-host-id="${host.id}" data-hostname="${host.hostname}" data-body="${JSON.stringify(plan ? rebuildRequestBody(plan, choice) : {})}" ${refused ? 'disabled' : ''}>${refused ? 'Rebuild refused' : `Rebuild ${host.hostname}`}</button>
  <a href="/hosts/${host.id}">Back to ${host.hostname}</a>
  <span class="action-error" role="alert"></span>
  <noscript><span class="hint">Starting the rebuild needs JavaScript here (or POST /api/hosts/${host.id}/rebuild with this body).</span></noscript>
</footer>
</section>`;
}

function renderPlanBody(plan: RebuildPlan): Html {
  const c = plan.cluster;
  const node = plan.node;
  const q = plan.quorumWithout;
  return html`${!plan.configured ? html`<p class="notice" role="status">${plan.message}</p>` : ''}
${c && c.name !== null ? html`<p class="plan-summary">${node ? html`<strong>${node.name}</strong> is a member of cluster <strong>${c.name}</strong> (node id ${node.nodeid}, ${node.online ? 'online' : 'offline'}${node.ip ? `, ${node.ip}` : ''}): the rebuild first takes it out of the cluster, then installs it and joins it again.` : html`Not a member of cluster <strong>${c.name}</strong>: a fresh-host rebuild.`}</p>` : ''}
${plan.refusals.length > 0
    ? html`<section class="refusals" aria-label="Refusals"><h2>Refused</h2><ul>${plan.refusals.map((r) => html`<li class="refusal" data-code="${r.code}"><strong class="mono">${r.code}</strong> ${r.message}</li>`)}</ul></section>`
    : ''}
${c
    ? html`<section class="plan-cluster"><h2>Cluster</h2>
<dl><dt>Name</dt><dd>${c.name ?? 'none (a standalone node)'}</dd><dt>Quorate</dt><dd class="${c.quorate ? 'good' : 'bad'}">${yesNo(c.quorate)}</dd><dt>Members</dt><dd>${c.online} of ${c.members.length} online</dd>${plan.member ? html`<dt>QDevice</dt><dd class="${plan.qdevice ? 'bad' : ''}">${yesNo(plan.qdevice)}</dd>` : ''}</dl>
<table class="plan-table members"><thead><tr><th>Member</th><th>Node id</th><th>Address</th><th>Online</th><th>Votes</th>${plan.member ? html`<th>Guests</th>` : ''}</tr></thead><tbody>
${c.members.map((mb) => html`<tr class="${mb.online ? 'online' : 'offline'}${node?.name === mb.name ? ' this-node' : ''}"><td>${mb.name}${node?.name === mb.name ? ' (this host)' : ''}${plan.via?.name === mb.name ? ' (runs the steps)' : ''}</td><td>${mb.nodeid}</td><td class="mono">${mb.ip ?? '—'}</td><td>${yesNo(mb.online)}</td><td>${mb.votes}</td>${plan.member ? html`<td>${mb.guests ?? '—'}</td>` : ''}</tr>`)}
</tbody></table></section>`
    : ''}
${node && q
    ? html`<section class="plan-quorum"><h2>Quorum without ${node.name}</h2><p class="${q.quorate ? 'good' : 'bad'}" data-quorate="${yesNo(q.quorate)}">${q.onlineVotes} of ${q.totalVotes} votes online while ${node.name} is down, ${q.needed} needed: ${q.quorate ? 'the cluster stays quorate' : 'the cluster loses quorum'}.</p></section>
<section class="plan-guests"><h2>Guests on ${node.name}</h2>${plan.guests.length === 0
        ? html`<p class="empty">None.</p>`
        : html`<table class="plan-table"><thead><tr><th>VMID</th><th>Name</th><th>Type</th><th>Status</th><th>HA</th></tr></thead><tbody>${plan.guests.map((g) => html`<tr><td>${g.vmid}</td><td>${g.name}</td><td>${g.type}</td><td>${g.status}</td><td>${g.hastate ?? '—'}</td></tr>`)}</tbody></table>`}</section>
<section class="plan-ha"><h2>HA resources on ${node.name}</h2>${plan.haResources.length === 0 ? html`<p class="empty">None.</p>` : html`<ul>${plan.haResources.map((r) => html`<li><span class="mono">${r.sid}</span> (${r.state})</li>`)}</ul>`}</section>
<section class="plan-replication"><h2>Replication jobs to or from ${node.name}</h2>${plan.replication.length === 0 ? html`<p class="empty">None.</p>` : html`<ul>${plan.replication.map((j) => html`<li><span class="mono">${j.id}</span>: guest ${j.guest}${j.source ? ` from ${j.source}` : ''} to ${j.target}</li>`)}</ul>`}</section>`
    : ''}`;
}

/** The choices that matter for this plan: migrating when the node has guests, quorum loss when it is at risk. */
function renderOptions(hostId: number, plan: RebuildPlan, choice: RebuildChoice, field: string | undefined): Html {
  const node = plan.node;
  if (!plan.member || !node) return html``;
  const offerMigrate = plan.guests.length > 0 || choice.migrate;
  const offerQuorumLoss = (plan.quorumWithout !== null && !plan.quorumWithout.quorate) || choice.allowQuorumLoss;
  if (!offerMigrate && !offerQuorumLoss) return html``;
  const targets = (plan.cluster?.members ?? []).filter((mb) => mb.online && mb.name !== node.name);
  const picked = choice.migrate && !choice.migrateTarget ? plan.migrateTo : null;
  return html`<form method="get" action="/hosts/${hostId}/rebuild" id="plan-options" class="plan-options">
<h2>Options</h2>
${offerMigrate
    ? html`<label class="check"><input type="checkbox" name="migrate" value="true" ${choice.migrate ? 'checked' : ''}> Migrate the ${plan.guests.length === 1 ? 'guest' : `${plan.guests.length} guests`} of ${node.name} first (migrateall)</label>
<label>Migrate to <select name="migrate_target">
  <option value="">the least loaded online member${picked ? ` (now ${picked})` : ''}</option>
  ${targets.map((t) => html`<option value="${t.name}" ${choice.migrateTarget === t.name ? 'selected' : ''}>${t.name} (${t.guests ?? 0} guests)</option>`)}
</select>${field === 'migrate_target' ? html`<span class="field-error" data-field="migrate_target">pick an online member other than ${node.name}</span>` : ''}</label>`
    : ''}
${offerQuorumLoss ? html`<label class="check"><input type="checkbox" name="allow_quorum_loss" value="true" ${choice.allowQuorumLoss ? 'checked' : ''}> Allow quorum loss while ${node.name} is down (an operator runs <code>pvecm expected</code> on a remaining member)</label>` : ''}
<button type="submit">Plan again with these options</button>
</form>`;
}

/** The whole rebuild page. */
export function renderRebuildPlanPage(m: RebuildPlanPageModel, csrfToken?: string): string {
  return layout({ title: `Rebuild ${m.host.hostname}`, body: html`<p><a href="/hosts/${m.host.id}">← ${m.host.hostname}</a></p>${renderRebuildPlan(m)}`, bodyAttrs: html`data-page="rebuild-plan" data-host-id="${m.host.id}"`, csrfToken });
}
