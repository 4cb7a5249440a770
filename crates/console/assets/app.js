// Bulwark console. Every value from the server is put into the page as text (textContent,
// createTextNode), never as HTML. No external assets; charts are drawn as inline SVG.
'use strict';

const S = { csrf: null, page: null, timer: null, busy: false };
const SVGNS = 'http://www.w3.org/2000/svg';
const PAGES = ['status', 'stats', 'detections', 'database', 'config', 'license'];

function $(id) { return document.getElementById(id); }

// Builds an element; children that are strings or numbers become text nodes.
function el(tag, props, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, String(v));
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined) continue;
    e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return e;
}

function svg(tag, attrs, ...kids) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  for (const kid of kids) e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  return e;
}

// Replaces an element's children, skipping absent ones (replaceChildren would write "null").
function show(parent, ...kids) {
  parent.replaceChildren(...kids.flat().filter((k) => k !== null && k !== undefined && k !== false));
}

function message(text, isError) {
  const m = $('msg');
  m.textContent = text;
  m.className = isError ? 'error' : '';
  m.hidden = !text;
}

async function api(method, path, body) {
  const headers = { 'Accept': 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && S.csrf) headers['X-CSRF-Token'] = S.csrf;
  let r;
  try {
    r = await fetch(path, {
      method, headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    return { status: 0, data: { ok: false, error: 'the console cannot be reached: ' + e } };
  }
  let data = {};
  try { data = await r.json(); } catch (e) { data = { ok: false, error: 'HTTP ' + r.status }; }
  if (r.status === 401 && path !== '/api/login') { showLogin(); }
  return { status: r.status, data };
}

// Formatting
function fmtBytes(n) {
  if (n === null || n === undefined) return '-';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0; let v = Number(n);
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return (i ? v.toFixed(1) : String(v)) + ' ' + u[i];
}
function fmtDuration(s) {
  s = Math.max(0, Math.floor(Number(s) || 0));
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  if (d) return d + 'd ' + h + 'h';
  if (h) return h + 'h ' + m + 'm';
  if (m) return m + 'm ' + (s % 60) + 's';
  return s + 's';
}
// One date format everywhere: YYYY-MM-DD HH:MM:SS, in UTC (as the logs and the detections).
function fmtTime(t) { return t ? new Date(t * 1000).toISOString().slice(0, 19).replace('T', ' ') + ' UTC' : '-'; }
function fmtClock(t) { return new Date(t * 1000).toISOString().slice(11, 16); }
function fmtMs(v) { return v === null || v === undefined ? '-' : (v < 10 ? v.toFixed(2) : v.toFixed(0)) + ' ms'; }

function tile(key, value, sub, id) {
  return el('div', { class: 'tile' },
    el('div', { class: 'k' }, key),
    el('div', { class: 'v', id: id || null }, value),
    sub ? el('div', { class: 's' }, sub) : null);
}

// Log-in
function showLogin() {
  stopTimer();
  S.csrf = null;
  $('nav').hidden = true; $('logout').hidden = true; $('view').hidden = true;
  $('login').hidden = false;
  $('password').focus();
}

async function login(ev) {
  ev.preventDefault();
  const err = $('login-error');
  err.hidden = true;
  const btn = $('login-submit');
  btn.disabled = true;
  const r = await api('POST', '/api/login', { password: $('password').value });
  btn.disabled = false;
  if (r.status === 200 && r.data.csrf) {
    S.csrf = r.data.csrf;
    $('password').value = '';
    enterApp();
  } else {
    err.textContent = r.data.error || 'log-in failed';
    err.hidden = false;
  }
}

async function logout() {
  await api('POST', '/api/logout');
  message('');
  showLogin();
}

function enterApp() {
  $('login').hidden = true;
  $('nav').hidden = false; $('logout').hidden = false; $('view').hidden = false;
  route();
}

// Pages
function stopTimer() { if (S.timer) { clearInterval(S.timer); S.timer = null; } }

function route() {
  if (!S.csrf) return;
  let page = (location.hash || '#status').slice(1);
  if (!PAGES.includes(page)) page = 'status';
  S.page = page;
  for (const a of document.querySelectorAll('nav a')) {
    a.classList.toggle('active', a.dataset.page === page);
  }
  stopTimer();
  const view = $('view');
  view.replaceChildren(el('p', { class: 'muted' }, 'Loading…'));
  const render = RENDER[page];
  const refresh = async () => {
    if (S.page !== page) return;
    try { await render(view); } catch (e) { message('page error: ' + e, true); }
  };
  refresh();
  if (['status', 'stats', 'detections'].includes(page)) S.timer = setInterval(refresh, 2000);
}

async function renderStatus(view) {
  const r = await api('GET', '/api/status');
  if (r.status !== 200) return;
  const d = r.data;
  const lic = d.license || {};
  show(view,
    el('h1', {}, 'Status'),
    el('div', { class: 'grid' },
      tile('Version', d.version, null, 'status-version'),
      tile('Uptime', fmtDuration(d.uptime_secs), null, 'status-uptime'),
      tile('ISTag', d.istag, null, 'status-istag'),
      tile('Connections open', d.connections_open, (d.connections_total || 0) + ' accepted in all', 'status-connections'),
      tile('Objects scanned', d.objects_total, (d.objects_infected || 0) + ' infected', 'status-objects'),
      tile('Database', d.database.version, 'loaded ' + fmtDuration(d.database.age_secs) + ' ago', 'status-database'),
      tile('Licence', lic.state, lic.allows_scanning ? 'scanning allowed' : 'LicenseErrorAction applies', 'status-license'),
      tile('Configuration', d.config_path || 'embedded defaults', null, 'status-config')));
}

const COLORS = ['#1f5f8b', '#b3261e', '#1e7b34', '#9a6700', '#6f42c1', '#0b7285', '#c2255c'];

// A line chart of `points` (each with .t) for the series given as [label, fn(point)].
function chart(title, points, series, fmt, id) {
  const W = 600, H = 170, L = 52, R = 8, T = 10, B = 24;
  const box = el('div', { class: 'tile chart', id: id || null }, el('div', { class: 'k' }, title));
  const s = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title });
  const vals = series.map(([, f]) => points.map((p) => { const v = f(p); return v === null || v === undefined ? null : Number(v); }));
  let max = 0;
  for (const vs of vals) for (const v of vs) if (v !== null && v > max) max = v;
  if (max <= 0) max = 1;
  const t0 = points.length ? points[0].t : 0, t1 = points.length ? points[points.length - 1].t : 1;
  const x = (t) => L + (W - L - R) * (t1 > t0 ? (t - t0) / (t1 - t0) : 1);
  const y = (v) => T + (H - T - B) * (1 - v / max);
  for (let i = 0; i <= 4; i++) {
    const v = max * i / 4, yy = y(v);
    s.append(svg('line', { x1: L, x2: W - R, y1: yy, y2: yy, stroke: '#e3e8ee' }));
    s.append(svg('text', { x: L - 4, y: yy + 4, 'text-anchor': 'end', 'font-size': 10, fill: '#5b6776' }, fmt(v)));
  }
  if (points.length) {
    const lab = (t) => fmtClock(t) + ' UTC';
    s.append(svg('text', { x: L, y: H - 6, 'font-size': 10, fill: '#5b6776' }, lab(t0)));
    s.append(svg('text', { x: W - R, y: H - 6, 'font-size': 10, fill: '#5b6776', 'text-anchor': 'end' }, lab(t1)));
  } else {
    s.append(svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', 'font-size': 12, fill: '#5b6776' }, 'collecting samples…'));
  }
  vals.forEach((vs, i) => {
    let d = '';
    vs.forEach((v, j) => {
      if (v === null) return;
      d += (d ? ' L' : 'M') + x(points[j].t).toFixed(1) + ' ' + y(v).toFixed(1);
    });
    if (d) s.append(svg('path', { d, fill: 'none', stroke: COLORS[i % COLORS.length], 'stroke-width': 1.8 }));
    // A value with no neighbour draws no line: mark it with a dot.
    vs.forEach((v, j) => {
      if (v === null || (vs[j - 1] ?? null) !== null || (vs[j + 1] ?? null) !== null) return;
      s.append(svg('circle', { cx: x(points[j].t).toFixed(1), cy: y(v).toFixed(1), r: 2.5, fill: COLORS[i % COLORS.length] }));
    });
  });
  box.append(s);
  const legend = el('div', { class: 'legend' });
  series.forEach(([label], i) => {
    const sp = el('span', {}, label);
    sp.style.setProperty('--c', COLORS[i % COLORS.length]);
    legend.append(sp);
  });
  box.append(legend);
  return box;
}

async function renderStats(view) {
  const r = await api('GET', '/api/stats');
  if (r.status !== 200) return;
  const d = r.data, n = d.now, pts = d.series || [];
  const statuses = new Set();
  for (const p of pts) for (const k of Object.keys(p.objects || {})) statuses.add(k);
  const statusSeries = [...statuses].sort().map((k) => [k, (p) => (p.objects || {})[k] || 0]);
  if (!statusSeries.length) statusSeries.push(['objects', () => 0]);
  const num = (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(v >= 10 ? 1 : 2));
  const objTiles = Object.entries(n.objects || {}).filter(([, v]) => v > 0)
    .map(([k, v]) => tile('Objects ' + k, v, null, 'counter-objects-' + k));
  show(view,
    el('h1', {}, 'Statistics'),
    el('div', { class: 'grid' },
      tile('ICAP requests', n.requests_total, Object.entries(n.requests || {}).map(([k, v]) => k + ' ' + v).join(', '), 'counter-requests'),
      tile('Bytes scanned', fmtBytes(n.bytes), null, 'counter-bytes'),
      tile('Connections open', n.connections_open, n.connections + ' accepted', 'counter-connections'),
      tile('In flight', n.in_flight, null, 'counter-inflight'),
      tile('Scan time p50 (1 h)', fmtMs(d.hour.p50_ms), d.hour.count + ' objects', 'hour-p50'),
      tile('Scan time p95 (1 h)', fmtMs(d.hour.p95_ms), null, 'hour-p95'),
      tile('Scan time p99 (1 h)', fmtMs(d.hour.p99_ms), null, 'hour-p99'),
      objTiles),
    el('h2', {}, 'Last hour (one point every ' + d.interval_secs + ' s)'),
    el('div', { class: 'charts' },
      chart('Requests per interval', pts, [['requests', (p) => p.requests]], num, 'chart-requests'),
      chart('Objects per interval by status', pts, statusSeries, num, 'chart-statuses'),
      chart('Bytes per interval', pts, [['bytes', (p) => p.bytes]], fmtBytes, 'chart-bytes'),
      chart('Scan time (ms)', pts, [['p50', (p) => p.p50_ms], ['p95', (p) => p.p95_ms], ['p99', (p) => p.p99_ms]], num, 'chart-scantime')));
}

const FILTERS = [
  ['threat', 'Threat'], ['client', 'Client'], ['group', 'Group'], ['user', 'User'], ['url', 'URL'],
];

// The filter form is built once per visit; the 2-second refresh only redraws the table.
function detectionsForm(view) {
  const inputs = FILTERS.map(([k, label]) => el('label', {}, label,
    el('input', { id: 'df-' + k, name: k, type: 'search', placeholder: 'contains…', autocomplete: 'off' })));
  // Dates as text: the console writes every date YYYY-MM-DD, whatever the browser's locale.
  const day = (id, label) => el('label', {}, label, el('input', {
    id, name: id.slice(3), type: 'text', inputmode: 'numeric', placeholder: 'YYYY-MM-DD',
    pattern: '\\d{4}-\\d{2}-\\d{2}', size: 11, autocomplete: 'off' }));
  const from = day('df-from', 'From (UTC)');
  const to = day('df-to', 'To (UTC)');
  const all = el('label', { class: 'check' }, el('input', { id: 'df-all', name: 'all', type: 'checkbox' }), 'clean objects too');
  const clear = el('button', { id: 'df-clear', type: 'button', class: 'secondary' }, 'Clear');
  const form = el('form', { id: 'detections-filter', class: 'filters', role: 'search' },
    inputs, from, to, all, el('div', { class: 'actions' }, el('button', { id: 'df-apply', type: 'submit' }, 'Filter'), clear));
  form.addEventListener('submit', (ev) => { ev.preventDefault(); renderDetections(view); });
  clear.addEventListener('click', () => { form.reset(); renderDetections(view); });
  show(view,
    el('h1', {}, 'Detections'),
    form,
    el('p', { class: 'muted', id: 'detections-note' }),
    el('div', { class: 'scroll' },
      el('table', { id: 'detections-table' },
        el('thead', {}, el('tr', {}, ['Time (UTC)', 'Status', 'Threat', 'URL', 'Client', 'User', 'Group', 'Mode', 'Size', 'Scan'].map((h) => el('th', {}, h)))),
        el('tbody', { id: 'detections-body' }))));
}

async function renderDetections(view) {
  if (!$('detections-filter')) detectionsForm(view);
  const q = new URLSearchParams({ limit: '100' });
  for (const k of [...FILTERS.map(([k]) => k), 'from', 'to']) {
    const v = $('df-' + k).value.trim();
    if (v) q.set(k, v);
  }
  if ($('df-all').checked) q.set('all', '1');
  const r = await api('GET', '/api/detections?' + q.toString());
  const note = $('detections-note'), body = $('detections-body');
  if (!note || !body) return;
  if (r.status !== 200) { note.textContent = r.data.error || ('HTTP ' + r.status); return; }
  const d = r.data;
  const filtered = [...q.keys()].some((k) => k !== 'limit');
  note.textContent = d.note || ((d.items || []).length + (filtered ? ' matching' : '') + ' of the most recent, newest first');
  const rows = (d.items || []).map((x) => el('tr', {},
    el('td', {}, x.time),
    el('td', { class: x.status === 'CLEAN' ? 'good' : 'bad' }, x.status),
    el('td', { class: 'threat' }, x.threat || '-'),
    el('td', { class: 'url' }, x.url),
    el('td', {}, x.client),
    el('td', {}, x.user),
    el('td', {}, x.group),
    el('td', {}, x.mode),
    el('td', {}, fmtBytes(x.size)),
    el('td', {}, x.ms + ' ms')));
  show(body, rows.length ? rows : el('tr', {}, el('td', { colspan: 10, class: 'muted' }, filtered ? 'No detection matches.' : 'No detections.')));
}

async function action(btn, method, path, body) {
  if (S.busy) return null;
  S.busy = true;
  btn.disabled = true;
  message('working…');
  const r = await api(method, path, body);
  btn.disabled = false;
  S.busy = false;
  if (r.data.ok) message(r.data.message || 'done');
  else message(r.data.error || ('HTTP ' + r.status), true);
  return r;
}

async function renderDatabase(view) {
  const r = await api('GET', '/api/database');
  if (r.status !== 200) return;
  const d = r.data, u = d.update || {}, last = u.last;
  const upd = el('button', { id: 'btn-update', type: 'button' }, 'Update now');
  if (!u.available) upd.title = 'no updater is wired into this server';
  upd.addEventListener('click', async () => { await action(upd, 'POST', '/api/database/update'); renderDatabase(view); });
  const rdb = el('button', { id: 'btn-reload-db', type: 'button', class: 'secondary' }, 'Reload databases');
  rdb.addEventListener('click', async () => { await action(rdb, 'POST', '/api/reload-db'); renderDatabase(view); });
  const rcfg = el('button', { id: 'btn-reload', type: 'button', class: 'secondary' }, 'Reload configuration and databases');
  rcfg.addEventListener('click', async () => { await action(rcfg, 'POST', '/api/reload'); renderDatabase(view); });
  show(view,
    el('h1', {}, 'Signature database'),
    el('div', { class: 'grid' },
      tile('Version', d.database.version, null, 'db-version'),
      tile('Loaded', fmtTime(d.database.loaded_at), fmtDuration(d.database.age_secs) + ' ago', 'db-loaded')),
    el('div', { class: 'actions' }, upd, rdb, rcfg),
    el('h2', {}, 'Last update'),
    last ? el('div', { class: 'tile', id: 'db-last-update' },
      el('div', { class: last.ok ? 'good' : 'bad' }, last.ok ? 'succeeded' : 'failed'),
      el('div', { class: 's' }, fmtTime(last.at) + ', ' + last.secs.toFixed(1) + ' s'),
      el('pre', {}, last.message))
      : el('p', { class: 'muted', id: 'db-last-update' }, u.available ? 'No update started from the console yet.' : 'Updates are not available in this server.'));
}

function errorList(errors, id) {
  return el('ul', { class: 'errors', id: id || 'config-errors' },
    (errors || []).map((e) => el('li', {}, e.text || e.message)));
}

const STATUSES = [
  ['infected', 'Infected'], ['suspicious', 'Suspicious'], ['warning', 'Warning'], ['cured', 'Cured'],
  ['protected', 'Protected (encrypted)'], ['corrupted', 'Corrupted'], ['error', 'Scan error'],
  ['limits_exceeded', 'Limits exceeded'], ['too_large', 'Over the size limit'],
  ['license_error', 'Licence error'], ['bases_error', 'Database error'],
];
const ENGINE = [
  ['scan_archives', 'Archives'], ['scan_packed', 'Packed executables'], ['scan_mail_plain', 'Mail messages'],
  ['scan_mail_bases', 'Mailboxes'], ['use_heuristics', 'Heuristics'], ['cure', 'Cure'],
];

// Form controls bound to a field of `obj`: the model is edited in place.
function fText(obj, key, label, attrs) {
  const i = el('input', Object.assign({ type: 'text', 'data-field': key }, attrs || {}));
  i.value = obj[key] ?? '';
  i.addEventListener('input', () => { obj[key] = i.value; });
  return el('label', {}, label, i);
}
function fNumber(obj, key, label, hint) {
  const i = el('input', { type: 'number', min: 0, step: 1, 'data-field': key });
  i.value = obj[key] ?? 0;
  i.addEventListener('input', () => { obj[key] = i.value === '' ? 0 : Number(i.value); });
  return el('label', { title: hint || null }, label, i);
}
function fLines(obj, key, label, hint) {
  const t = el('textarea', { rows: 3, spellcheck: 'false', 'data-field': key, placeholder: hint || 'one per line' });
  t.value = (obj[key] || []).join('\n');
  t.addEventListener('input', () => { obj[key] = t.value.split('\n').map((x) => x.trim()).filter(Boolean); });
  return el('label', {}, label, t);
}
function fCheck(obj, key, label) {
  const i = el('input', { type: 'checkbox', 'data-field': key });
  i.checked = !!obj[key];
  i.addEventListener('change', () => { obj[key] = i.checked; });
  return el('label', { class: 'check' }, i, label);
}
function fSelect(obj, key, label, options) {
  const sel = el('select', { 'data-field': key }, options.map((o) => el('option', { value: o }, o)));
  sel.value = obj[key];
  sel.addEventListener('change', () => { obj[key] = sel.value; });
  return el('label', {}, label, sel);
}

function groupFieldset(g, id, isDefault, onRemove) {
  const legend = isDefault ? 'Default group (clients no other group matches)' : 'Group ' + (g.name || '(unnamed)');
  const remove = isDefault ? null : el('button', { type: 'button', class: 'secondary pf-remove' }, 'Remove this group');
  if (remove) remove.addEventListener('click', onRemove);
  return el('fieldset', { class: 'group', id },
    el('legend', {}, legend),
    el('div', { class: 'row' },
      isDefault ? null : fText(g, 'name', 'Name', { required: true }),
      isDefault ? null : fNumber(g, 'priority', 'Priority', 'higher priorities are tried first')),
    isDefault ? null : el('div', { class: 'row' },
      fLines(g, 'clients', 'Clients', '192.168.1.0/24, one per line; empty: any'),
      fLines(g, 'users', 'Users', 'user names, one per line; empty: any'),
      fLines(g, 'urls', 'URLs (regular expressions)', '^www\\.example\\.com/, one per line; empty: any')),
    el('h3', {}, 'Scanning'),
    el('div', { class: 'row checks' }, ENGINE.map(([k, l]) => fCheck(g.engine, k, l)),
      fNumber(g.engine, 'max_scan_time_secs', 'Scan time limit (s)', '0: no limit')),
    el('h3', {}, 'Filter: what is not scanned'),
    el('div', { class: 'row' },
      fLines(g.filter, 'exclude_urls', 'URLs not scanned', 'regular expressions, one per line'),
      fLines(g.filter, 'exclude_mime_types', 'Content-Types not scanned', '^video/, one per line'),
      fLines(g.filter, 'always_scan_types', 'Always scanned file types', 'executable, archive, document…')),
    el('div', { class: 'row' },
      fNumber(g.filter, 'max_req_length', 'Size limit (bytes)', '0: no limit; larger objects follow “Over the size limit”'),
      fSelect(g.filter, 'partial_response', 'Partial (206) responses', ['scan', 'skip', 'deny']),
      fCheck(g, 'mark_uncacheable', 'Mark delivered objects uncacheable')),
    el('h3', {}, 'Actions'),
    el('div', { class: 'row actions-grid' }, STATUSES.map(([k, l]) => fSelect(g.actions, k, l, ['skip', 'deny', 'cure']))),
    remove);
}

async function renderPolicyForm(box, onApplied) {
  const r = await api('GET', '/api/config/policy');
  if (r.status !== 200) { show(box, el('p', { class: 'bad' }, r.data.error || ('HTTP ' + r.status))); return; }
  const d = r.data;
  const pol = d.policy;
  const out = el('div', { id: 'policy-result' });
  const groups = el('div', { id: 'pf-groups' });
  const draw = () => {
    show(groups, pol.group.map((g, i) => groupFieldset(g, 'pf-group-' + i, false, () => { pol.group.splice(i, 1); draw(); })));
  };
  draw();
  const add = el('button', { id: 'pf-add-group', type: 'button', class: 'secondary' }, 'Add a group');
  add.addEventListener('click', () => {
    const g = JSON.parse(JSON.stringify(pol.default));
    g.name = 'group' + (pol.group.length + 1);
    g.priority = 1;
    pol.group.push(g);
    draw();
  });
  const display = (res) => {
    const x = res.data;
    show(out,
      el('p', { class: x.ok ? 'good' : 'bad' }, x.ok ? (x.message || 'the policy is valid') : (x.error || 'invalid')),
      errorList(x.errors, 'policy-errors'),
      (x.warnings || []).length ? el('ul', {}, x.warnings.map((w) => el('li', { class: 'muted' }, 'warning: ' + w.text))) : null);
  };
  const check = el('button', { id: 'pf-check', type: 'button', class: 'secondary' }, 'Check');
  check.addEventListener('click', async () => { const res = await action(check, 'POST', '/api/config/policy', { policy: pol, apply: false }); if (res) display(res); });
  const apply = el('button', { id: 'pf-apply', type: 'button' }, 'Check and apply');
  apply.addEventListener('click', async () => {
    const res = await action(apply, 'POST', '/api/config/policy', { policy: pol, apply: true });
    if (res) display(res);
    if (res && res.data.ok && onApplied) await onApplied();
  });
  show(box,
    d.note ? el('p', { class: 'bad' }, d.note) : null,
    el('p', { class: 'muted' }, 'Groups are tried by priority, highest first; the default group takes everyone else. Applying rewrites the [policy] section of the file (comments inside it are not kept), checked like the text editor, with a backup.'),
    el('form', { id: 'policy-form', onsubmit: (ev) => ev.preventDefault() },
      groupFieldset(pol.default, 'pf-default', true),
      groups,
      el('div', { class: 'actions' }, add, d.editable ? check : null, d.editable ? apply : null)),
    d.editable ? out : el('p', { class: 'muted' }, 'Read-only here: see the note above the text editor.'));
}

async function renderConfig(view) {
  const r = await api('GET', '/api/config');
  if (r.status !== 200) return;
  const d = r.data;
  const ta = el('textarea', { id: 'config-text', spellcheck: 'false', 'aria-label': 'configuration file' });
  ta.value = d.file || '';
  const out = el('div', { id: 'config-result' });
  const display = (res) => {
    const x = res.data;
    show(out,
      el('p', { class: x.ok ? 'good' : 'bad' }, x.ok ? (x.message || 'the configuration is valid') : (x.error || 'invalid')),
      errorList(x.errors),
      (x.warnings || []).length ? el('ul', {}, x.warnings.map((w) => el('li', { class: 'muted' }, 'warning: ' + w.text))) : null);
  };
  const check = el('button', { id: 'btn-check', type: 'button', class: 'secondary' }, 'Check');
  check.addEventListener('click', async () => { const res = await action(check, 'POST', '/api/config/check', { toml: ta.value }); if (res) display(res); });
  const apply = el('button', { id: 'btn-apply', type: 'button' }, 'Check and apply');
  apply.addEventListener('click', async () => { const res = await action(apply, 'POST', '/api/config', { toml: ta.value }); if (res) display(res); });
  const formBox = el('div', { id: 'policy-box' }, el('p', { class: 'muted' }, 'Loading…'));
  show(view,
    el('h1', {}, 'Configuration'),
    el('p', {}, 'File: ', el('code', {}, d.path || '(none: embedded defaults)')),
    d.note ? el('p', { class: 'muted' }, d.note) : null,
    el('h2', {}, 'Groups, filters and actions'),
    formBox,
    el('h2', {}, 'The whole file'),
    d.editable ? el('div', {},
      el('p', { class: 'muted' }, 'Secrets show as ' + d.mask + '; leave them so to keep them. The text is checked before it is written (a backup is kept) and the server reloads it.'),
      ta, el('div', { class: 'actions' }, check, apply), out) : null,
    el('h2', {}, 'Effective configuration (secrets masked)'),
    el('pre', { id: 'config-effective' }, d.effective || ''));
  // After the form wrote the file, the text editor and the effective view show the new file.
  await renderPolicyForm(formBox, async () => {
    const f = await api('GET', '/api/config');
    if (f.status !== 200) return;
    ta.value = f.data.file || '';
    $('config-effective').textContent = f.data.effective || '';
  });
}

async function renderLicense(view) {
  const r = await api('GET', '/api/license');
  if (r.status !== 200) return;
  const d = r.data;
  show(view,
    el('h1', {}, 'Licence'),
    el('div', { class: 'grid' },
      tile('Required', d.required ? 'yes' : 'no', null, 'license-required'),
      tile('State', d.state, null, 'license-state'),
      tile('Scanning', d.allows_scanning ? 'allowed' : 'LicenseErrorAction applies', null, 'license-scanning'),
      d.expiring_in_days !== null && d.expiring_in_days !== undefined ? tile('Expires in', d.expiring_in_days + ' days') : null),
    el('h2', {}, '[license] settings'),
    el('pre', {}, d.config || ''));
}

const RENDER = {
  status: renderStatus, stats: renderStats, detections: renderDetections,
  database: renderDatabase, config: renderConfig, license: renderLicense,
};

async function start() {
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', logout);
  window.addEventListener('hashchange', () => { message(''); route(); });
  const r = await api('GET', '/api/session');
  if (r.status === 200 && r.data.authenticated) { S.csrf = r.data.csrf; enterApp(); } else showLogin();
}

document.addEventListener('DOMContentLoaded', start);
