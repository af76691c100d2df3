// The dashboard's static CSS and JS, served by the gateway (no front-end build step).

export const dashboardCss = `
:root { --bg:#f6f7f9; --fg:#1b1f24; --muted:#5b6570; --card:#fff; --line:#d8dde3; --ok:#1a7f37; --busy:#9a6700; --bad:#cf222e; --idle:#57606a; --accent:#0969da; }
@media (prefers-color-scheme: dark) { :root { --bg:#0d1117; --fg:#e6edf3; --muted:#9da7b1; --card:#161b22; --line:#30363d; --ok:#3fb950; --busy:#d29922; --bad:#f85149; --idle:#8b949e; --accent:#58a6ff; } }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; background:var(--bg); color:var(--fg); }
a { color:var(--accent); }
.top { display:flex; align-items:center; gap:1rem; padding:.7rem 1rem; border-bottom:1px solid var(--line); background:var(--card); }
.brand { font-weight:700; text-decoration:none; color:var(--fg); }
.connection { margin-left:auto; color:var(--busy); font-weight:600; }
main { padding:1rem; max-width:1200px; margin:0 auto; }
.toolbar form { display:flex; flex-wrap:wrap; gap:.8rem; align-items:end; }
.toolbar { display:flex; flex-wrap:wrap; gap:1rem; align-items:end; justify-content:space-between; margin-bottom:1rem; }
label { display:flex; flex-direction:column; gap:.2rem; font-size:.85rem; color:var(--muted); }
input, select, button { font:inherit; padding:.35rem .5rem; border:1px solid var(--line); border-radius:6px; background:var(--card); color:var(--fg); }
button { cursor:pointer; }
button.danger { color:var(--bad); }
a.button { display:inline-block; padding:.35rem .5rem; border:1px solid var(--line); border-radius:6px; background:var(--card); color:var(--fg); text-decoration:none; }
button[disabled] { cursor:not-allowed; opacity:.6; }
.grid { display:grid; grid-template-columns:repeat(auto-fill, minmax(260px, 1fr)); gap:.8rem; }
.tile, .operation, .facts, .stepper-section, .register { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:.8rem; }
.tile { border-left:6px solid var(--idle); }
.tone-ok { border-left-color:var(--ok); } .tone-busy { border-left-color:var(--busy); } .tone-bad { border-left-color:var(--bad); }
.tile header, .detail-head { display:flex; justify-content:space-between; gap:.5rem; align-items:baseline; flex-wrap:wrap; }
.hostname { font-weight:700; font-size:1.05rem; }
.state { font-weight:600; }
.tone-ok .state { color:var(--ok); } .tone-busy .state { color:var(--busy); } .tone-bad .state { color:var(--bad); } .tone-idle .state { color:var(--idle); }
dl { display:grid; grid-template-columns:max-content 1fr; gap:.15rem .8rem; margin:.5rem 0; }
dt { color:var(--muted); } dd { margin:0; overflow-wrap:anywhere; }
.mono, pre, code { font-family:ui-monospace, SFMono-Regular, Menlo, monospace; font-size:.88em; }
.failure { color:var(--bad); margin:.4rem 0; }
.waiting { color:var(--busy); margin:.4rem 0; font-size:.9rem; }
.actions { display:flex; gap:.4rem; flex-wrap:wrap; align-items:center; }
.action-error, .form-error, .field-error { color:var(--bad); font-size:.85rem; }
.empty { color:var(--muted); }
.jobs { list-style:none; padding:0; display:grid; gap:.5rem; } .job { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:.6rem .8rem; }
.job progress { width:min(100%, 320px); vertical-align:middle; } .job-failed { border-color:var(--bad); } .job-error { color:var(--bad); margin:.3rem 0 0; } .job-source, .bytes, .hint { color:var(--muted); font-size:.85rem; }
table.images { width:100%; border-collapse:collapse; background:var(--card); } table.images td, table.images th { text-align:left; padding:.4rem .6rem; border-bottom:1px solid var(--line); }
.setup { list-style:none; padding:0; display:grid; gap:.5rem; } .setup-item { display:flex; gap:.7rem; background:var(--card); border:1px solid var(--line); border-radius:10px; padding:.6rem .8rem; } .setup-item p { margin:.2rem 0 0; }
.setup-item.ok .mark { color:var(--ok); } .setup-item.missing { border-color:var(--bad); } .setup-item.missing .mark { color:var(--bad); } .setup-item .mark { font-weight:700; font-size:1.2rem; } .muted { color:var(--muted); }
.cluster { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:.5rem .8rem; margin-bottom:.8rem; } .cluster.missing { border-color:var(--bad); } .cluster .member.online { color:var(--ok); } .cluster .member.offline { color:var(--bad); } .cluster-problem { color:var(--bad); margin:.3rem 0 0; }
.stale { color:var(--bad); margin:.3rem 0 0; } .stale-banner { border:1px solid var(--bad); border-radius:10px; padding:.6rem .8rem; background:var(--card); } .form-done a { margin-left:.2rem; }
.setup-summary.ok { color:var(--ok); font-weight:600; } .setup-summary.missing { color:var(--bad); font-weight:600; } .nav { display:flex; gap:.8rem; }
.register { margin-top:1.5rem; } .register form { display:flex; flex-wrap:wrap; gap:.8rem; align-items:end; }
.facts, .stepper-section { margin:1rem 0; }
.stepper { list-style:none; padding:0; display:grid; grid-template-columns:repeat(auto-fit, minmax(120px, 1fr)); gap:.4rem; }
.step { border:1px solid var(--line); border-radius:8px; padding:.4rem; display:flex; flex-direction:column; font-size:.85rem; color:var(--muted); }
.step-done { border-color:var(--ok); color:var(--fg); } .step-done .step-label::before { content:"✓ "; color:var(--ok); }
.step-current { border-color:var(--busy); color:var(--fg); font-weight:600; } .step-current .step-label::before { content:"◔ "; color:var(--busy); }
.step-failed { border-color:var(--bad); color:var(--bad); font-weight:600; } .step-failed .step-label::before { content:"✕ "; }
.audit-filters { display:flex; flex-wrap:wrap; gap:.5rem 1rem; align-items:end; margin:1rem 0; } tr.audit-refused td, tr.audit-failed td { color:var(--bad); }
.events { list-style:none; padding:0; margin:0; } .event { padding:.3rem 0; border-top:1px solid var(--line); }
.event .kind { color:var(--muted); font-size:.8rem; text-transform:uppercase; margin-right:.3rem; }
.kind-activity_failed, .kind-answer_invalid, .kind-key_cleanup_failed { color:var(--bad); }
pre { white-space:pre-wrap; background:var(--bg); padding:.4rem; border-radius:6px; max-height:14rem; overflow:auto; }
.plan section, .plan-options { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:.6rem .8rem; margin:.8rem 0; }
.plan h2 { font-size:1.05rem; margin:.1rem 0 .4rem; } .plan .good { color:var(--ok); font-weight:600; } .plan .bad { color:var(--bad); font-weight:600; }
.plan .refusals { border-color:var(--bad); } .refusal { margin:.3rem 0; } .refusal strong { color:var(--bad); margin-right:.3rem; } .notice { border:1px solid var(--busy); border-radius:10px; padding:.6rem .8rem; background:var(--card); }
.plan-table { border-collapse:collapse; width:100%; } .plan-table th, .plan-table td { text-align:left; padding:.25rem .5rem; border-bottom:1px solid var(--line); } .plan-table tr.offline td { color:var(--bad); } .plan-table tr.this-node td { font-weight:600; }
.plan-options { display:flex; flex-wrap:wrap; gap:.8rem; align-items:end; } .plan-options h2 { width:100%; } label.check { flex-direction:row; align-items:center; gap:.4rem; color:var(--fg); font-size:.95rem; }
.plan-steps li { margin:.2rem 0; } .step-name { color:var(--muted); margin-right:.3rem; }
.power { margin:1rem 0; } .power-state { font-weight:600; } .power-on { color:var(--ok); } .power-off { color:var(--idle); }
.power-result.ok { color:var(--ok); } .power-result.bad { color:var(--bad); } .power details { margin-top:.6rem; }
.power-form { display:flex; flex-wrap:wrap; gap:.8rem; align-items:end; margin-top:.5rem; } .power-form fieldset { display:flex; flex-wrap:wrap; gap:.8rem; border:1px solid var(--line); border-radius:8px; width:100%; }
.power-form fieldset[hidden] { display:none; }
@media (max-width: 600px) { main { padding:.5rem; } .grid { grid-template-columns:1fr; } }
`;

export const dashboardJs = `
'use strict';
(function () {
  var page = document.body.dataset.page;
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content;

  function api(method, path, body) {
    var headers = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (csrf) headers['x-csrf-token'] = csrf;
    return fetch(path, { method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' })
      .then(function (res) { return res.status === 204 ? { ok: true } : res.json().then(function (json) { return { ok: res.ok, json: json }; }); });
  }

  function elapsed(since) {
    var s = Math.max(0, Math.round((Date.now() - Date.parse(since)) / 1000));
    if (s < 60) return s + 's';
    var m = Math.floor(s / 60);
    return m < 60 ? m + 'm ' + (s % 60) + 's' : Math.floor(m / 60) + 'h ' + (m % 60) + 'm';
  }
  function tick() { document.querySelectorAll('[data-since]').forEach(function (el) { el.textContent = elapsed(el.dataset.since); }); }
  setInterval(tick, 1000); tick();

  // Filter and search, client-side (the same query parameters work server-side with JS off).
  function applyFilter() {
    var state = document.getElementById('filter-state');
    var q = document.getElementById('filter-q');
    if (!state || !q) return;
    var needle = q.value.trim().toLowerCase();
    var tiles = document.querySelectorAll('#grid .tile');
    tiles.forEach(function (t) {
      var show = (!state.value || t.dataset.state === state.value) && (!needle || t.dataset.search.toLowerCase().indexOf(needle) >= 0);
      t.hidden = !show;
    });
    document.getElementById('host-count').textContent = String(tiles.length);
    document.getElementById('empty').hidden = tiles.length > 0;
  }
  ['filter-state', 'filter-q'].forEach(function (id) { var el = document.getElementById(id); if (el) el.addEventListener('input', applyFilter); });

  // Live updates.
  var hostId = document.body.dataset.hostId;
  function onHost(data) {
    if (page === 'grid') {
      var existing = document.getElementById('host-' + data.hostId);
      if (data.deleted) { if (existing) existing.remove(); applyFilter(); return; }
      var holder = document.createElement('div');
      holder.innerHTML = data.tile;
      var tile = holder.firstElementChild;
      if (existing) existing.replaceWith(tile);
      else {
        var grid = document.getElementById('grid');
        var after = Array.prototype.find.call(grid.children, function (t) { return t.dataset.hostname > tile.dataset.hostname; });
        grid.insertBefore(tile, after || null);
      }
      applyFilter(); tick();
    } else if (page === 'host' && String(data.hostId) === hostId) {
      if (data.deleted) { document.getElementById('host-detail').innerHTML = '<p class="failure">This host was deleted.</p>'; return; }
      fetch('/hosts/' + hostId + '?fragment=1', { credentials: 'same-origin' }).then(function (r) { return r.text(); }).then(function (markup) {
        var holder = document.createElement('div');
        holder.innerHTML = markup;
        document.getElementById('host-detail').replaceWith(holder.firstElementChild);
        tick();
      });
    }
  }
  if (window.EventSource && (page === 'grid' || page === 'host')) {
    var indicator = document.getElementById('connection');
    var source = new EventSource('/events');
    source.addEventListener('open', function () { indicator.hidden = true; document.body.dataset.live = 'yes'; });
    source.addEventListener('error', function () { indicator.hidden = false; document.body.dataset.live = 'no'; });
    source.addEventListener('host', function (e) { onHost(JSON.parse(e.data)); });
    source.addEventListener('reload', function () { location.reload(); });
  }

  // The Images page: a preparation's row follows its job; a finished one reloads the page (the image list changes).
  if (window.EventSource && page === 'images') {
    var jobs = document.getElementById('jobs');
    var imageSource = new EventSource('/images/events'), live = document.getElementById('connection');
    imageSource.addEventListener('open', function () { live.hidden = true; document.body.dataset.live = 'yes'; });
    imageSource.addEventListener('error', function () { live.hidden = false; document.body.dataset.live = 'no'; });
    imageSource.addEventListener('job', function (e) {
      var job = JSON.parse(e.data);
      var holder = document.createElement('div');
      holder.innerHTML = job.row;
      var row = holder.firstElementChild, old = document.getElementById('job-' + job.name);
      if (old) old.replaceWith(row); else jobs.prepend(row);
      document.getElementById('no-jobs').hidden = true;
      if (job.state === 'ready') location.reload();
    });
  }
  // The Setup page checks again every 5 s.
  if (page === 'setup') setInterval(function () {
    fetch('/setup?fragment=1', { credentials: 'same-origin' }).then(function (r) { return r.ok ? r.text() : null; }).then(function (markup) {
      if (markup) document.getElementById('setup-list').outerHTML = markup;
    }, function () {});
  }, 5000);

  var prepare = document.getElementById('prepare-image');
  if (prepare) prepare.addEventListener('submit', function (e) {
    e.preventDefault();
    prepare.querySelectorAll('.field-error, .form-error').forEach(function (el) { el.textContent = ''; });
    var body = { url: prepare.url.value.trim() };
    if (prepare.sha256.value.trim()) body.sha256 = prepare.sha256.value.trim();
    if (prepare.name.value.trim()) body.name = prepare.name.value.trim();
    api('POST', '/api/images', body).then(function (r) {
      if (r.ok) {
        prepare.reset();
        if (page !== 'images') { var done = prepare.querySelector('.form-done'); done.textContent = 'Preparing ' + r.json.job.name + ': follow it on '; var link = document.createElement('a'); link.href = '/images'; link.textContent = 'the Images page'; done.appendChild(link); }
        return;
      }
      var err = r.json && r.json.error ? r.json.error : { message: 'request failed' };
      var slot = err.field && prepare.querySelector('.field-error[data-field="' + err.field + '"]');
      (slot || prepare.querySelector('.form-error')).textContent = err.message;
    }, function () { prepare.querySelector('.form-error').textContent = 'the server could not be reached'; });
  });

  // Actions: the same REST API; destructive ones ask for the hostname.
  document.addEventListener('click', function (e) {
    var button = e.target.closest('button[data-action]');
    if (!button) return;
    if (button.dataset.action === 'reprepare-image' || button.dataset.action === 'reprepare-stale') {
      var names = (button.dataset.image || button.dataset.images).split(' '), slot = button.parentElement.querySelector('.action-error');
      button.disabled = true;
      if (slot) slot.textContent = '';
      names.reduce(function (previous, n) {
        return previous.then(function () {
          return api('POST', '/api/images/' + encodeURIComponent(n) + '/reprepare').then(function (r) {
            if (!r.ok) throw new Error(r.json && r.json.error ? r.json.error.message : 'request failed');
          });
        });
      }, Promise.resolve()).catch(function (err) { button.disabled = false; if (slot) slot.textContent = err.message || 'the server could not be reached'; });
      return;
    }
    if (button.dataset.action === 'delete-image') {
      var image = button.dataset.image, imageError = button.parentElement.querySelector('.action-error');
      if (!window.confirm('Delete the boot image ' + image + '? Its files are removed.')) return;
      button.disabled = true;
      api('DELETE', '/api/images/' + encodeURIComponent(image)).then(function (r) {
        if (r.ok) { button.closest('tr').remove(); return; }
        button.disabled = false;
        imageError.textContent = r.json && r.json.error ? r.json.error.message : 'request failed';
      }, function () { button.disabled = false; imageError.textContent = 'the server could not be reached'; });
      return;
    }
    var id = button.dataset.hostId, name = button.dataset.hostname, action = button.dataset.action;
    var error = button.parentElement.querySelector('.action-error');
    if (error) error.textContent = '';
    if (action === 'rebuild') {
      // A cluster member (or a rebuild its plan refuses) gets the rebuild page with its plan first.
      button.disabled = true;
      api('GET', '/api/hosts/' + id + '/rebuild-plan').then(function (r) {
        button.disabled = false;
        if (r.ok && (r.json.member || r.json.refusals.length > 0)) { location.href = '/hosts/' + id + '/rebuild'; return; }
        if (!r.ok) { if (error) error.textContent = r.json && r.json.error ? r.json.error.message : 'request failed'; return; }
        act(button, id, name, action, error);
      }, function () { button.disabled = false; if (error) error.textContent = 'the server could not be reached'; });
      return;
    }
    act(button, id, name, action, error);
  });

  function act(button, id, name, action, error) {
    if (action === 'rebuild' || action === 'confirm-rebuild' || action === 'delete') {
      var typed = window.prompt('Type the hostname to ' + (action === 'delete' ? 'delete' : 'rebuild') + ' ' + name + ':');
      if (typed === null) return;
      if (typed.trim() !== name) { if (error) error.textContent = 'The hostname did not match; nothing was done.'; return; }
    } else if (!window.confirm('Cancel the rebuild of ' + name + '? Cleanup still runs.')) return;
    var request = action === 'rebuild' ? api('POST', '/api/hosts/' + id + '/rebuild')
      : action === 'confirm-rebuild' ? api('POST', '/api/hosts/' + id + '/rebuild', JSON.parse(button.dataset.body || '{}'))
      : action === 'cancel' ? api('POST', '/api/hosts/' + id + '/rebuild/cancel')
      : api('DELETE', '/api/hosts/' + id);
    button.disabled = true;
    request.then(function (r) {
      button.disabled = false;
      if (!r.ok && error) {
        error.textContent = r.json && r.json.error ? r.json.error.message : 'request failed';
        if (r.json && r.json.error && r.json.error.code === 'not_configured') {
          var link = document.createElement('a'); link.href = '/setup'; link.textContent = ' Open Setup'; error.appendChild(link);
        }
        if (r.json && r.json.plan) {
          var again = document.createElement('a'); again.href = location.pathname + location.search; again.textContent = ' Show the plan again'; error.appendChild(again);
        }
      }
      if (r.ok && action === 'confirm-rebuild') location.href = '/hosts/' + id;
      if (r.ok && action === 'delete' && page === 'host') location.href = '/';
    }, function () { button.disabled = false; if (error) error.textContent = 'the server could not be reached'; });
  }

  // The rebuild page plans again as soon as an option changes (the form's button does it with JavaScript off).
  var options = document.getElementById('plan-options');
  if (options) options.addEventListener('change', function () { options.submit(); });

  // Power (host page): the buttons call the power API. Off and Cycle ask first when the host is a cluster member
  // (ready) or in a rebuild; the state is read from the live detail at the moment of the click.
  var power = document.getElementById('power');
  if (power) power.addEventListener('click', function (e) {
    var button = e.target.closest('button[data-power]');
    if (!button) return;
    var action = button.dataset.power, name = power.dataset.hostname, id = power.dataset.hostId;
    var result = power.querySelector('.power-result');
    var detail = document.getElementById('host-detail'), state = detail ? detail.dataset.state : '';
    if (action === 'off' || action === 'cycle') {
      var why = state === 'ready' ? name + ' is a cluster member: its guests stop with it and the cluster loses its vote meanwhile.'
        : state && state !== 'registered' && state !== 'failed' ? 'A rebuild of ' + name + ' is running (' + state + ').' : '';
      if (why && !window.confirm(why + ' ' + (action === 'off' ? 'Power off ' : 'Power cycle ') + name + '?')) return;
    }
    result.textContent = (action === 'test' ? 'testing' : action) + '…';
    result.className = 'power-result';
    button.disabled = true;
    var request = action === 'test' ? api('POST', '/api/hosts/' + id + '/power/test') : api('POST', '/api/hosts/' + id + '/power', { action: action });
    request.then(function (r) {
      button.disabled = false;
      if (r.ok) {
        result.textContent = r.json.did + (r.json.state !== 'unknown' ? ' (power ' + r.json.state + ')' : '');
        result.className = 'power-result ok';
        return;
      }
      var err = r.json && r.json.error ? r.json.error : { code: 'failed', message: 'request failed' };
      result.textContent = err.code + ': ' + err.message;
      result.className = 'power-result bad';
    }, function () { button.disabled = false; result.textContent = 'the server could not be reached'; result.className = 'power-result bad'; });
  });

  // The power settings: the fieldset of the chosen method, PATCHed as the host's power; the page reloads with them.
  var powerForm = document.getElementById('power-form');
  if (powerForm) {
    var methodSelect = powerForm.querySelector('select[name="method"]');
    var showMethod = function () { powerForm.querySelectorAll('fieldset[data-method]').forEach(function (f) { f.hidden = f.dataset.method !== methodSelect.value; }); };
    methodSelect.addEventListener('change', showMethod);
    showMethod();
    powerForm.addEventListener('submit', function (e) {
      e.preventDefault();
      powerForm.querySelectorAll('.field-error, .form-error').forEach(function (el) { el.textContent = ''; });
      var method = methodSelect.value, body = { method: method };
      var fields = powerForm.querySelector('fieldset[data-method="' + method + '"]');
      if (fields) fields.querySelectorAll('input').forEach(function (input) {
        var key = input.name.slice(method.length + 1), value = key === 'password' ? input.value : input.value.trim();
        if (value !== '') body[key] = input.type === 'number' ? Number(value) : value;
      });
      api('PATCH', '/api/hosts/' + powerForm.dataset.hostId, { power: body }).then(function (r) {
        if (r.ok) { location.reload(); return; }
        var err = r.json && r.json.error ? r.json.error : { message: 'request failed' };
        var selector = '.field-error[data-field="' + err.field + '"]';
        var slot = err.field && ((fields && fields.querySelector(selector)) || powerForm.querySelector(selector));
        (slot || powerForm.querySelector('.form-error')).textContent = err.message;
      }, function () { powerForm.querySelector('.form-error').textContent = 'the server could not be reached'; });
    });
  }

  var form = document.getElementById('register');
  if (form) form.addEventListener('submit', function (e) {
    e.preventDefault();
    form.querySelectorAll('.field-error, .form-error').forEach(function (el) { el.textContent = ''; });
    var body = { hostname: form.hostname.value.trim(), mac: form.mac.value.trim(), server_type: form.server_type.value };
    api('POST', '/api/hosts', body).then(function (r) {
      if (r.ok) { form.reset(); return; }
      var err = r.json && r.json.error ? r.json.error : { message: 'request failed' };
      var slot = err.field && form.querySelector('.field-error[data-field="' + err.field + '"]');
      (slot || form.querySelector('.form-error')).textContent = err.message;
    }, function () { form.querySelector('.form-error').textContent = 'the server could not be reached'; });
  });
})();
`;
