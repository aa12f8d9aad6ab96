// annal's web console: sign-in, filters kept in the URL, histogram, paged results, event
// detail with in-browser verification, live tail, export, append and the trail page.
// Plain ES module, no build step; the CSP allows only this origin's scripts and styles, so
// nothing here writes inline styles or handlers into markup.

import { drawHistogram, intervalFor } from './chart.js';
import { verifyEvent, parseVkey, STEPS } from './verify.js';

// ---- fields ----

/** Every field in the API's JSON order. */
const FIELDS = ['seq', 'id', 'created_at', 'received_at', 'event_type', 'event_code', 'event_group',
  'action', 'status', 'actor_type', 'actor_id', 'user_id', 'source', 'resource_type', 'resource_id',
  'session_id', 'vm_id', 'task_id', 'request_id', 'correlation_id', 'http_method', 'path',
  'http_status', 'latency_ms', 'ip_address', 'user_agent', 'node_ip', 'worker_id', 'event_payload',
  'error_message'];
/** Fields a query may filter, count or stack by: the text and integer ones. */
const FILTERABLE = FIELDS.filter((f) => !['seq', 'id', 'created_at', 'received_at', 'latency_ms', 'event_payload'].includes(f));
const DEFAULT_COLUMNS = ['seq', 'created_at', 'event_type', 'status', 'actor_id', 'source', 'action', 'resource_id'];
/** The filter inputs of the bar, by parameter; event_type's input also takes codes. */
const FIXED_INPUTS = ['event_type', 'category', 'actor_id', 'user_id', 'status', 'source', 'q'];
const PRESETS = { '15m': 15 * 60e3, '1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3, '30d': 30 * 86400e3 };
const PAGE_SIZES = [25, 50, 100, 250];
/** Live-tail rows kept in the table, and events buffered while paused, at most. */
const TAIL_ROWS_MAX = 1000;
const TAIL_BUFFER_MAX = 500;
const KEY_STORE = 'annal.apiKey';
const PIN_STORE = 'annal.pinnedSignerKey';

const $ = (id) => document.getElementById(id);
const fmt = (n) => (typeof n === 'number' ? n.toLocaleString('en') : String(n ?? '—'));

// ---- requests ----

/** A failed request, carrying the server's problem+json `detail` (and located `errors`). */
class ApiError extends Error {
  constructor(status, detail, errors = []) {
    super(detail);
    this.status = status;
    this.errors = errors;
  }
}

const session = { key: sessionStorage.getItem(KEY_STORE), who: null, announcedKey: null };

function headers(extra = {}) {
  return session.key ? { 'X-API-Key': session.key, ...extra } : extra;
}

/** fetch with the key; rejects with an ApiError naming the server's detail on any non-2xx. */
async function request(path, init = {}) {
  let r;
  try {
    r = await fetch(path, { ...init, headers: headers(init.headers) });
  } catch (e) {
    throw new ApiError(0, `the server did not answer (${e.message})`);
  }
  if (r.ok) return r;
  let detail = `${r.status} ${r.statusText}`;
  let errors = [];
  try {
    const text = await r.text();
    const p = JSON.parse(text);
    detail = `${p.title || r.status}: ${p.detail || text}`;
    errors = p.errors || [];
  } catch { /* not problem+json: the status line says what we know */ }
  throw new ApiError(r.status, detail, errors);
}

const getJson = async (path) => (await request(path)).json();
const qs = (pairs) => new URLSearchParams(pairs).toString();

// ---- messages ----

function showError(err, what) {
  const box = $('alert');
  const located = (err.errors || []).slice(0, 10).map((e) => `${(e.loc || []).join('.')}: ${e.msg}`);
  box.replaceChildren(document.createTextNode(`${what ? what + ' failed: ' : ''}${err.message}`));
  if (located.length) {
    const ul = document.createElement('ul');
    for (const l of located) ul.appendChild(Object.assign(document.createElement('li'), { textContent: l }));
    box.appendChild(ul);
  }
}
const clearError = () => $('alert').replaceChildren();
const say = (text) => { $('status').textContent = text; };

/** Runs an action; any failure is shown, never swallowed. */
async function guarded(what, fn) {
  try {
    return await fn();
  } catch (e) {
    showError(e, what);
    return undefined;
  }
}

// ---- roles ----

const can = {
  read: () => ['reader', 'auditor', 'admin'].includes(session.who?.role),
  audit: () => ['auditor', 'admin'].includes(session.who?.role),
  append: () => ['producer', 'admin'].includes(session.who?.role),
};

async function whoami() {
  try {
    session.who = await getJson('/v1/whoami');
    return true;
  } catch (e) {
    session.who = null;
    if (e.status === 401) return false;
    throw e;
  }
}

function signOut() {
  sessionStorage.removeItem(KEY_STORE);
  session.key = null;
  session.who = null;
  stopTail();
  showSignIn();
}

function showSignIn() {
  for (const id of ['events-view', 'trail-view', 'producer-only', 'who', 'tabs']) $(id).hidden = true;
  $('signin').hidden = false;
  $('signin-key').focus();
}

async function signIn(ev) {
  ev.preventDefault();
  clearError();
  session.key = $('signin-key').value.trim();
  const ok = await guarded('Sign-in', whoami);
  if (!ok) {
    if (ok === false) showError(new ApiError(401, 'that key is not known to this server'), 'Sign-in');
    session.key = null;
    return;
  }
  sessionStorage.setItem(KEY_STORE, session.key);
  $('signin-key').value = '';
  enter();
}

/** Shows who is signed in and only the controls the role may use. */
function applyRole() {
  const { role, name, development_mode: dev } = session.who;
  $('signin').hidden = true;
  $('who').hidden = false;
  $('who-role').textContent = dev ? 'development mode' : role;
  $('who-role').className = `badge role-${role}`;
  $('who-name').textContent = dev ? '(no keys configured: every route is open)' : name;
  $('sign-out').hidden = dev;
  $('append-open').hidden = !can.append() || !can.read();
  $('tabs').hidden = !can.read();
  $('producer-only').hidden = can.read();
  for (const id of ['export-ndjson', 'export-csv', 'tail']) $(id).disabled = !can.read();
  const verify = $('verify');
  verify.disabled = !can.audit();
  $('verify-why').textContent = can.audit() ? '' : `Verify needs an auditor key (this key's role is ${role}).`;
  verify.setAttribute('aria-describedby', 'verify-why');
  $('pin-tofu').disabled = !can.read();
}

// ---- view state in the URL ----

const isFilterParam = (k) => ['q', 'category'].includes(k) || FILTERABLE.includes(k.replace(/^not\./, ''));

/** Everything the page shows, read from the query string (the URL is the state). */
function readState() {
  const p = new URLSearchParams(location.search);
  const cols = (p.get('cols') || '').split(',').filter((c) => FIELDS.includes(c));
  const limit = Number(p.get('limit'));
  return {
    view: p.get('view') === 'trail' ? 'trail' : 'events',
    range: p.has('from') || p.has('to') ? 'custom' : (PRESETS[p.get('range')] ? p.get('range') : 'all'),
    from: p.get('from'),
    to: p.get('to'),
    filters: [...p].filter(([k]) => isFilterParam(k)),
    cols: cols.length ? cols : DEFAULT_COLUMNS,
    by: FILTERABLE.includes(p.get('by')) ? p.get('by') : 'status',
    limit: PAGE_SIZES.includes(limit) ? limit : 50,
    cursor: p.get('cursor'),
  };
}

/** The query string of `s`, leaving out what equals the defaults so shared links stay short. */
function stateQuery(s) {
  const p = new URLSearchParams();
  if (s.view === 'trail') p.set('view', 'trail');
  if (s.range === 'custom') {
    if (s.from) p.set('from', s.from);
    if (s.to) p.set('to', s.to);
  } else if (s.range !== 'all') p.set('range', s.range);
  for (const [k, v] of s.filters) p.append(k, v);
  if (s.cols.join() !== DEFAULT_COLUMNS.join()) p.set('cols', s.cols.join(','));
  if (s.by !== 'status') p.set('by', s.by);
  if (s.limit !== 50) p.set('limit', String(s.limit));
  if (s.cursor) p.set('cursor', s.cursor);
  return p.toString();
}

/** Moves to state `s` (a history entry unless `replace`), then shows it. */
function go(s, { replace = false, force = false } = {}) {
  const url = `${location.pathname}${stateQuery(s) ? '?' + stateQuery(s) : ''}`;
  history[replace ? 'replaceState' : 'pushState'](null, '', url);
  return render({ force });
}

const patch = (changes, opts) => go({ ...readState(), ...changes }, opts);

/** The concrete time bounds of a state: presets count back from now. */
function bounds(s) {
  if (s.range === 'custom') return { from: s.from, to: s.to };
  if (PRESETS[s.range]) return { from: new Date(Date.now() - PRESETS[s.range]).toISOString(), to: null };
  return { from: null, to: null };
}

/** The API parameters of a state's filter. */
function filterPairs(s, { from, to } = bounds(s)) {
  const pairs = [...s.filters];
  if (from) pairs.push(['from', from]);
  if (to) pairs.push(['to', to]);
  return pairs;
}

// ---- the filter bar ----

const pad = (n) => String(n).padStart(2, '0');
/** An ISO time as a datetime-local value (local time), and back. */
function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
const fromLocalInput = (v) => (v ? new Date(v).toISOString() : null);

function showRange(s) {
  const { from, to } = bounds(s);
  const utc = (iso) => (iso ? iso.replace('T', ' ').replace(/\.000Z$|Z$/, '') : '…');
  const local = (iso) => (iso ? new Date(iso).toLocaleString() : '…');
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  $('range-shown').textContent = !from && !to
    ? 'All time'
    : `${utc(from)} → ${utc(to || (s.range === 'custom' ? null : new Date().toISOString()))} UTC · ${local(from)} → ${local(to)} (${zone})`;
  for (const el of document.querySelectorAll('.custom')) el.hidden = $('f-range').value !== 'custom';
}

/** Ids for the rows' checkboxes, so each `not` label names its own. */
let anyRows = 0;

function anyRow(field = 'action', value = '', negate = false) {
  const row = document.createElement('div');
  row.className = 'any-row';
  const n = ++anyRows;
  const select = document.createElement('select');
  select.setAttribute('aria-label', 'Field');
  for (const f of FILTERABLE) select.appendChild(new Option(f, f, false, f === field));
  const input = Object.assign(document.createElement('input'), { value, autocomplete: 'off' });
  input.setAttribute('aria-label', 'Value');
  const not = Object.assign(document.createElement('input'), { type: 'checkbox', checked: negate, id: `not-${n}` });
  const notLabel = Object.assign(document.createElement('label'), { htmlFor: not.id, textContent: 'not' });
  notLabel.prepend(not);
  const remove = Object.assign(document.createElement('button'), { type: 'button', textContent: 'Remove' });
  remove.setAttribute('aria-label', 'Remove this condition');
  remove.addEventListener('click', () => row.remove());
  row.append(select, input, notLabel, remove);
  $('any-rows').appendChild(row);
  return row;
}

/** Puts a state's filter into the bar: the first plain value of each fixed input, the rest as rows. */
function fillForm(s) {
  $('f-range').value = s.range;
  $('f-from').value = toLocalInput(s.from);
  $('f-to').value = toLocalInput(s.to);
  const rest = [...s.filters];
  const take = (names) => {
    const i = rest.findIndex(([k]) => names.includes(k));
    return i < 0 ? '' : rest.splice(i, 1)[0][1];
  };
  for (const f of FIXED_INPUTS) $(`f-${f}`).value = take(f === 'event_type' ? ['event_type', 'event_code'] : [f]);
  $('any-rows').replaceChildren();
  for (const [k, v] of rest) anyRow(k.replace(/^not\./, ''), v, k.startsWith('not.'));
  $('by').value = s.by;
  $('limit').value = String(s.limit);
  showRange(s);
}

/** The filter the bar holds now. */
function formState() {
  const filters = [];
  for (const f of FIXED_INPUTS) {
    const v = $(`f-${f}`).value.trim();
    if (!v) continue;
    // A number in the type box is a catalog code.
    filters.push([f === 'event_type' && /^\d+$/.test(v) ? 'event_code' : f, v]);
  }
  for (const row of document.querySelectorAll('.any-row')) {
    const [select, input] = row.querySelectorAll('select, input');
    const v = input.value.trim();
    if (v) filters.push([`${row.querySelector('[type=checkbox]').checked ? 'not.' : ''}${select.value}`, v]);
  }
  const range = $('f-range').value;
  return { range, from: fromLocalInput($('f-from').value), to: fromLocalInput($('f-to').value), filters, cursor: null };
}

async function loadCatalog() {
  const { catalogs } = await getJson('/v1/catalog');
  const types = $('types');
  const seen = new Set();
  const categories = new Set();
  for (const c of catalogs) {
    for (const e of c.entries) {
      categories.add(e.category);
      for (const [value, label] of [[e.name, `${e.code} · ${e.category}`], [String(e.code), e.name]]) {
        if (seen.has(value)) continue;
        seen.add(value);
        types.appendChild(new Option(label, value));
      }
    }
  }
  const select = $('f-category');
  for (const c of [...categories].sort()) select.appendChild(new Option(c, c));
  select.value = readState().filters.find(([k]) => k === 'category')?.[1] || '';
}

// ---- histogram ----

let histogramData = null;

/** Fetches the histogram; an unbounded range starts by day and refines while the data is short. */
async function loadHistogram(s, gen) {
  const pairs = filterPairs(s);
  const { from, to } = bounds(s);
  let interval = from ? intervalFor((to ? Date.parse(to) : Date.now()) - Date.parse(from)) : 'day';
  for (;;) {
    const data = await getJson(`/v1/events/histogram?${qs([...pairs, ['interval', interval], ['by', s.by]])}`);
    if (gen !== generation) return;
    const b = data.buckets;
    const span = b.length ? Date.parse(b[b.length - 1].start) - Date.parse(b[0].start) : 0;
    const finer = intervalFor(span);
    if (b.length && finer !== interval && ['minute', 'hour', 'day'].indexOf(finer) < ['minute', 'hour', 'day'].indexOf(interval)) {
      interval = finer;
      continue;
    }
    histogramData = data;
    drawChart();
    return;
  }
}

function drawChart() {
  if (!histogramData) return;
  drawHistogram($('chart'), $('legend'), histogramData, {
    onPick: (lo, hi) => patch({ range: 'custom', from: new Date(lo).toISOString(), to: new Date(hi).toISOString(), cursor: null }),
  });
}

// ---- results ----

const page = { items: [], next: null, prev: null, count: null };
/** Each row's event, for the detail view. */
const rowEvent = new WeakMap();

function cellText(e, col) {
  const v = e[col];
  if (v === undefined || v === null) return '';
  if (col === 'created_at' || col === 'received_at') return v.replace('T', ' ');
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

function renderHead(cols) {
  $('head').replaceChildren(...cols.map((c) => Object.assign(document.createElement('th'), { scope: 'col', textContent: c })));
}

function rowOf(e, cols) {
  const tr = document.createElement('tr');
  tr.tabIndex = 0;
  tr.className = `st-${String(e.status || '').toLowerCase()}`;
  tr.setAttribute('aria-label', `seq ${e.seq}, ${e.event_type || ''}, ${e.created_at}`);
  for (const c of cols) {
    const td = document.createElement(c === 'seq' ? 'th' : 'td');
    if (c === 'seq') td.scope = 'row';
    td.textContent = cellText(e, c);
    tr.appendChild(td);
  }
  rowEvent.set(tr, e);
  return tr;
}

function renderRows() {
  const { cols } = readState();
  renderHead(cols);
  $('rows').replaceChildren(...page.items.map((e) => rowOf(e, cols)));
  if (!page.items.length) {
    const td = Object.assign(document.createElement('td'), { colSpan: cols.length, textContent: 'No events match this filter.' });
    $('rows').appendChild(document.createElement('tr')).appendChild(td);
  }
  $('older').disabled = !page.next;
  $('newer').disabled = !page.prev;
  $('newest').disabled = !page.prev;
}

function renderCount() {
  $('count').textContent = page.count === null ? '' : `${fmt(page.count)} matches`;
}

async function loadPage(s, gen) {
  const b = bounds(s);
  const pairs = [...filterPairs(s, b), ['limit', String(s.limit)]];
  if (s.cursor) pairs.push(['cursor', s.cursor]);
  const t0 = performance.now();
  const data = await getJson(`/v1/events?${qs(pairs)}`);
  if (gen !== generation) return;
  Object.assign(page, { items: data.items, next: data.next_cursor, prev: data.prev_cursor, bounds: b });
  renderRows();
  // For tests/console/measure.mjs: when the first filtered rows of this page load were shown.
  if (!performance.getEntriesByName('annal-rows-shown').length) performance.mark('annal-rows-shown');
  document.body.dataset.loaded = String(gen);
  say(`Showing ${data.items.length} events (${Math.round(performance.now() - t0)} ms).`);
}

async function loadCount(s, gen) {
  const { count } = await getJson(`/v1/events/count?${qs(filterPairs(s))}`);
  if (gen !== generation) return;
  page.count = count;
  renderCount();
}

/**
 * Goes to the page of `cursor`. A cursor holds its filter, so a range counting back from now
 * is frozen to the bounds this page was read with (else the next page's "now" differs and
 * the server refuses the cursor).
 */
function turnPage(cursor) {
  const s = readState();
  const frozen = PRESETS[s.range] ? { range: 'custom', ...page.bounds } : {};
  patch({ ...frozen, cursor });
}

function renderColumnPicker() {
  const box = $('column-list');
  const { cols } = readState();
  box.querySelectorAll('label').forEach((l) => l.remove());
  for (const f of FIELDS) {
    const cb = Object.assign(document.createElement('input'), { type: 'checkbox', value: f, checked: cols.includes(f) });
    const label = document.createElement('label');
    label.append(cb, document.createTextNode(f));
    box.appendChild(label);
  }
}

function columnsChanged() {
  const cols = [...$('column-list').querySelectorAll('input:checked')].map((c) => c.value);
  history.replaceState(null, '', `?${stateQuery({ ...readState(), cols: cols.length ? cols : DEFAULT_COLUMNS })}`);
  renderRows();
}

// ---- export ----

async function exportAs(format) {
  const s = readState();
  say(`Exporting as ${format}…`);
  const r = await request(`/v1/export?${qs([...filterPairs(s), ['format', format]])}`);
  const blob = await r.blob();
  const a = Object.assign(document.createElement('a'), {
    href: URL.createObjectURL(blob),
    download: `annal-export-${new Date().toISOString().replace(/[:.]/g, '-')}.${format}`,
  });
  document.body.appendChild(a);
  a.click();
  a.remove();
  // The download has started by the next task; the URL would otherwise pin the blob.
  setTimeout(() => URL.revokeObjectURL(a.href), 30e3);
  say(`Exported ${fmt(blob.size)} bytes as ${format} (oldest first).`);
}

// ---- live tail ----

const tail = { ctrl: null, paused: false, buffer: [], dropped: 0, shown: 0, lastId: null };

function tailState() {
  const on = !!tail.ctrl;
  $('tail').setAttribute('aria-pressed', String(on));
  $('tail').textContent = on ? 'Stop live tail' : 'Live tail';
  $('tail-pause').hidden = !on;
  $('tail-pause').setAttribute('aria-pressed', String(tail.paused));
  $('tail-pause').textContent = tail.paused ? 'Resume' : 'Pause';
  $('tail-state').textContent = !on ? '' : tail.paused
    ? `Paused: ${tail.buffer.length} waiting${tail.dropped ? `, ${tail.dropped} dropped (buffer holds ${TAIL_BUFFER_MAX})` : ''}`
    : `Live: ${tail.shown} new`;
}

function addTailed(events) {
  const { cols } = readState();
  const rows = $('rows');
  if (!page.items.length) rows.replaceChildren();
  for (const e of events) {
    page.items.unshift(e);
    const tr = rowOf(e, cols);
    tr.classList.add('fresh');
    rows.prepend(tr);
  }
  while (rows.children.length > TAIL_ROWS_MAX) { rows.lastChild.remove(); page.items.pop(); }
  tail.shown += events.length;
  if (page.count !== null) { page.count += events.length; renderCount(); }
}

function onTailEvent(e) {
  if (!tail.paused) return addTailed([e]);
  tail.buffer.push(e);
  if (tail.buffer.length > TAIL_BUFFER_MAX) { tail.buffer.shift(); tail.dropped++; }
}

/** Reads Server-Sent Events from a fetch body (EventSource cannot send the key header). */
async function readSse(body, onMessage) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    text += value.replace(/\r\n?/g, '\n');
    let end;
    while ((end = text.indexOf('\n\n')) >= 0) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      const msg = { data: [], id: null };
      for (const line of block.split('\n')) {
        const [, field, v] = /^([^:]*):? ?(.*)$/.exec(line);
        if (field === 'data') msg.data.push(v);
        else if (field === 'id') msg.id = v;
      }
      if (msg.data.length) onMessage(msg);
    }
  }
}

async function startTail() {
  stopTail();
  // Live events go on top of the newest page.
  if (readState().cursor) await patch({ cursor: null });
  const s = readState();
  const ctrl = new AbortController();
  Object.assign(tail, { ctrl, paused: false, buffer: [], dropped: 0, shown: 0 });
  tailState();
  const extra = tail.lastId ? { 'Last-Event-ID': tail.lastId } : {};
  try {
    const r = await request(`/v1/events/stream?${qs(filterPairs(s))}`, { signal: ctrl.signal, headers: extra });
    say('Live tail connected: new matches appear at the top.');
    document.body.dataset.tail = 'on';
    await readSse(r.body, (msg) => {
      tail.lastId = msg.id;
      onTailEvent(JSON.parse(msg.data.join('\n')));
      tailState();
    });
    if (tail.ctrl === ctrl) throw new ApiError(0, 'the server closed the stream');
  } catch (e) {
    if (ctrl.signal.aborted) return;
    showError(e, 'Live tail');
  }
  if (tail.ctrl === ctrl) { tail.ctrl = null; delete document.body.dataset.tail; tailState(); }
}

function stopTail() {
  if (!tail.ctrl) return;
  tail.ctrl.abort();
  tail.ctrl = null;
  tail.lastId = null;
  delete document.body.dataset.tail;
  tailState();
}

function togglePause() {
  tail.paused = !tail.paused;
  if (!tail.paused && tail.buffer.length) {
    addTailed(tail.buffer);
    tail.buffer = [];
    tail.dropped = 0;
  }
  tailState();
}

// ---- event detail and verification ----

let detailEvent = null;
let detailOpener = null;

function openDetail(e, opener) {
  detailEvent = e;
  detailOpener = opener;
  $('detail-h').textContent = `Event seq ${e.seq} · ${e.event_type || ''}`;
  const table = document.createElement('table');
  table.className = 'fields';
  table.appendChild(Object.assign(document.createElement('caption'), { textContent: 'Every field of the event' }));
  const body = table.createTBody();
  for (const f of FIELDS) {
    if (e[f] === undefined || f === 'event_payload') continue;
    const tr = body.insertRow();
    tr.appendChild(Object.assign(document.createElement('th'), { scope: 'row', textContent: f }));
    tr.insertCell().textContent = String(e[f]);
  }
  const parts = [table];
  if (e.event_payload !== undefined) {
    parts.push(Object.assign(document.createElement('h3'), { textContent: 'Payload' }));
    parts.push(Object.assign(document.createElement('pre'), { className: 'payload', textContent: JSON.stringify(e.event_payload, null, 2) }));
  }
  $('detail-body').replaceChildren(...parts);
  $('verify-result').replaceChildren();
  $('verify-result').className = 'verify-result';
  $('pinned').value = localStorage.getItem(PIN_STORE) || '';
  showPinState();
  $('detail').showModal();
}

async function showPinState() {
  const text = $('pinned').value.trim();
  const el = $('pin-state');
  if (!text) { el.textContent = 'No key pinned: paste the signer key the operator gave you.'; return; }
  try {
    const k = await parseVkey(text);
    const same = session.announcedKey && session.announcedKey.trim() === k.text;
    el.textContent = `Pinned: ${k.name}. ${session.announcedKey ? (same ? 'The server announces the same key.' : 'The server announces a different key!') : ''}`;
  } catch (e) {
    el.textContent = e.message;
  }
}

function savePin() {
  localStorage.setItem(PIN_STORE, $('pinned').value.trim());
  showPinState();
}

async function pinAnnounced() {
  const trail = await getJson('/v1/trail');
  session.announcedKey = trail.checkpoint?.signer_key || null;
  if (!session.announcedKey) throw new ApiError(0, 'the server announces no signer key (no checkpoint yet)');
  $('pinned').value = session.announcedKey;
  savePin();
  $('pin-state').textContent += ' Trust on first use: this key came from the server being checked.';
}

function verifyResult(ok, text) {
  const box = $('verify-result');
  box.className = `verify-result ${ok ? 'ok' : 'bad'}`;
  if (ok) box.dataset.step = 'ok';
  box.textContent = text;
  box.scrollIntoView({ block: 'nearest' });
}

async function verifyDetail() {
  const e = detailEvent;
  const box = $('verify-result');
  Object.assign(box, { className: 'verify-result', textContent: 'Verifying…' });
  box.dataset.step = 'running';
  try {
    const note = await (await request('/v1/checkpoint')).text();
    const r = await verifyEvent({
      event: e,
      note,
      vkeyText: $('pinned').value.trim() || localStorage.getItem(PIN_STORE),
      fetchProof: async (seq, size) => {
        try {
          return await getJson(`/v1/proof/inclusion?${qs({ seq: String(seq), tree_size: String(size) })}`);
        } catch (err) {
          err.step = 'proof';
          throw err;
        }
      },
    });
    verifyResult(true, `✓ Included at seq ${r.seq} in checkpoint of size ${r.size} signed by ${r.signer} (origin ${r.origin}, root ${r.root}).`);
  } catch (err) {
    const step = STEPS[err.step] ? err.step : 'fetch';
    $('verify-result').dataset.step = step;
    verifyResult(false, `✗ Verification failed at step "${STEPS[step] || 'fetching the checkpoint'}": ${err.step ? err.message.replace(`${STEPS[err.step]}: `, '') : err.message}`);
  }
}

// ---- append ----

function openAppend() {
  const ta = $('append-json');
  if (!ta.value) {
    ta.value = JSON.stringify({ event_code: 101, source: 'console', actor_id: session.who?.name || 'console', status: 'success' }, null, 2);
  }
  $('append-result').replaceChildren();
  $('append').showModal();
}

async function sendAppend(ev) {
  ev.preventDefault();
  const out = $('append-result');
  let body;
  try {
    body = JSON.stringify(JSON.parse($('append-json').value));
  } catch (e) {
    out.className = 'bad';
    out.textContent = `Not JSON: ${e.message}`;
    return;
  }
  try {
    const r = await (await request('/v1/events', { method: 'POST', body, headers: { 'Content-Type': 'application/json' } })).json();
    out.className = 'ok';
    out.textContent = `Stored: ${r.items.map((i) => `seq ${i.seq} (id ${i.id}${i.duplicate ? ', already stored' : ''})`).join(', ')}.`;
  } catch (e) {
    out.className = 'bad';
    out.textContent = [e.message, ...(e.errors || []).map((x) => `${(x.loc || []).join('.')}: ${x.msg}`)].join('\n');
  }
}

// ---- trail page ----

function bytes(n) {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function ago(sec) {
  if (sec === null || sec === undefined) return '—';
  if (sec < 90) return `${sec.toFixed(0)} s ago`;
  if (sec < 5400) return `${(sec / 60).toFixed(0)} min ago`;
  return `${(sec / 3600).toFixed(1)} h ago`;
}

/** One card of the trail page: a title and name/value rows (`cls` marks a row ok or bad). */
function card(title, rows, cls = '') {
  const sec = document.createElement('section');
  sec.className = `card ${cls}`;
  sec.appendChild(Object.assign(document.createElement('h3'), { textContent: title }));
  const dl = document.createElement('dl');
  for (const [k, v, key] of rows) {
    const dd = Object.assign(document.createElement('dd'), { textContent: v });
    if (key) dd.dataset.key = key;
    dl.append(Object.assign(document.createElement('dt'), { textContent: k }), dd);
  }
  sec.appendChild(dl);
  return sec;
}

/** The policy for everyone; prunes and legal holds for a key that may read them. */
async function retentionCard(t) {
  const policy = ['Policy', t.retention_days == null ? 'kept forever (no retention_days)' : `${t.retention_days} days`, 'retention_days'];
  if (!can.audit()) return card('Retention and legal holds', [policy, ['Prunes and holds', 'need an auditor key']]);
  const r = await getJson('/v1/retention');
  const last = r.prunes[r.prunes.length - 1];
  const active = r.holds.filter((h) => h.active);
  const rows = [policy, ['Trail starts at seq', fmt(r.trail_start), 'retention.trail_start'],
    ['Prunes', last ? `${fmt(r.prunes.length)}; last removed seqs ${fmt(last.from_seq)}..${fmt(last.to_seq)} at ${last.at} (${last.policy}, by ${last.by})` : 'none', 'retention.prunes'],
    ['Active legal holds', fmt(active.length), 'retention.active_holds']];
  for (const h of active) {
    rows.push([h.id, `${h.from} to ${h.to}${h.filter ? ` where ${h.filter}` : ''}: ${h.reason} (placed by ${h.placed_by} at ${h.placed_at})`]);
  }
  return card('Retention and legal holds', rows, active.length ? 'held' : '');
}

async function loadTrail() {
  const t = await getJson('/v1/trail');
  session.announcedKey = t.checkpoint?.signer_key || null;
  const cards = [
    card('Events', [['Events', fmt(t.events), 'events'], ['First retained seq', fmt(t.start), 'start'],
      ['Sealed', fmt(t.sealed_events), 'sealed_events'], ['Indexed', fmt(t.indexed_events), 'indexed_events']]),
    card('Storage', [['Segments sealed', fmt(t.segments?.sealed), 'segments.sealed'], ['Rolled', fmt(t.segments?.rolled), 'segments.rolled'],
      ['Active', fmt(t.segments?.active), 'segments.active'], ['Data on disk', bytes(t.data_bytes), 'data_bytes'],
      ['Bytes per event', t.bytes_per_event == null ? '—' : t.bytes_per_event.toFixed(1), 'bytes_per_event']]),
  ];
  const cp = t.checkpoint;
  const pinned = localStorage.getItem(PIN_STORE);
  cards.push(cp
    ? card('Newest checkpoint', [['Origin', cp.origin], ['Tree size', fmt(cp.size), 'checkpoint.size'], ['Root', cp.root],
      ['Signed at', cp.signed_at], ['Age', ago(cp.age_seconds), 'checkpoint.age'], ['Signer key', cp.signer_key, 'checkpoint.signer_key'],
      ['Your pinned key', !pinned ? 'none pinned (pin one in an event\'s detail)' : pinned === cp.signer_key ? 'the same key' : 'a different key']])
    : card('Newest checkpoint', [['Checkpoint', 'none signed yet']]));
  const v = t.verify;
  cards.push(v
    ? card('Server\'s last full verify', [['Result', v.ok ? 'ok' : 'FAILED', 'verify.ok'], ['At', v.at], ['Events checked', fmt(v.events)],
      ['Took', `${v.seconds.toFixed(1)} s`], ...(v.error ? [['Error', v.error]] : [])], v.ok ? 'ok' : 'bad')
    : card('Server\'s last full verify', [['Result', 'not run yet']]));
  const b = t.bucket;
  cards.push(b
    ? card('Bucket upload', [['Bucket', b.url], ['In the bucket', fmt(b.bucket_events)], ['Local', fmt(b.local_events)],
      ['Lag', `${fmt(b.lag_events)} events`], ['Last success', b.last_ok || 'never'], ['Errors', fmt(b.errors)],
      ...(b.last_error ? [['Last error', b.last_error]] : []), ...(b.fenced ? [['Fenced', 'yes: another writer took over']] : [])],
      b.last_error || b.fenced ? 'bad' : '')
    : card('Bucket upload', [['Bucket', 'none configured']]));
  cards.push(await retentionCard(t));
  $('trail').replaceChildren(...cards);
  say(`Trail: ${fmt(t.events)} events.`);
}

// ---- rendering ----

let generation = 0;
let loadedKey = null;

/** Shows the state in the URL; data is fetched again only when the filter or page changed. */
async function render({ force = false } = {}) {
  if (!session.who || !can.read()) return;
  const s = readState();
  $('events-view').hidden = s.view !== 'events';
  $('trail-view').hidden = s.view !== 'trail';
  for (const a of document.querySelectorAll('#tabs a')) {
    if (a.dataset.view === s.view) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  clearError();
  if (s.view === 'trail') return guarded('Loading the trail', loadTrail);
  fillForm(s);
  renderColumnPicker();
  const gen = ++generation;
  const key = JSON.stringify([s.range, s.from, s.to, s.filters]);
  const jobs = [guarded('Loading events', () => loadPage(s, gen)), guarded('Loading the histogram', () => loadHistogram(s, gen))];
  if (force || key !== loadedKey) {
    page.count = null;
    renderCount();
    jobs.push(guarded('Counting', () => loadCount(s, gen)));
    loadedKey = key;
    if (tail.ctrl) startTail();
  }
  await Promise.all(jobs);
}

/** After sign-in: the role's controls, suggestions, then the view. */
async function enter() {
  applyRole();
  if (!can.read()) {
    $('producer-only').hidden = false;
    return;
  }
  guarded('Loading the catalog', loadCatalog);
  // The announced key, for the pinned-key hint (a reader can read the trail page too).
  getJson('/v1/trail').then((t) => { session.announcedKey = t.checkpoint?.signer_key || null; }, () => {});
  await render({ force: true });
}

function rowActivated(ev) {
  const tr = ev.target.closest('tr');
  if (!tr || !rowEvent.has(tr)) return;
  if (ev.type === 'keydown' && ev.key !== 'Enter' && ev.key !== ' ') return;
  ev.preventDefault();
  openDetail(rowEvent.get(tr), tr);
}

function wire() {
  $('signin-form').addEventListener('submit', signIn);
  $('sign-out').addEventListener('click', signOut);
  $('filters').addEventListener('submit', (ev) => { ev.preventDefault(); patch(formState(), { force: true }); });
  $('f-range').addEventListener('change', () => {
    if ($('f-range').value !== 'custom') patch({ ...formState(), from: null, to: null });
    else showRange(readState());
  });
  $('f-reset').addEventListener('click', () => patch({ range: 'all', from: null, to: null, filters: [], cursor: null }));
  $('any-add').addEventListener('click', () => anyRow().querySelector('input').focus());
  $('by').addEventListener('change', () => patch({ by: $('by').value }));
  $('limit').addEventListener('change', () => patch({ limit: Number($('limit').value), cursor: null }));
  $('column-list').addEventListener('change', columnsChanged);
  $('older').addEventListener('click', () => turnPage(page.next));
  $('newer').addEventListener('click', () => turnPage(page.prev));
  $('newest').addEventListener('click', () => patch({ cursor: null }));
  $('export-ndjson').addEventListener('click', () => guarded('Export', () => exportAs('ndjson')));
  $('export-csv').addEventListener('click', () => guarded('Export', () => exportAs('csv')));
  $('tail').addEventListener('click', () => (tail.ctrl ? stopTail() : startTail()));
  $('tail-pause').addEventListener('click', togglePause);
  $('rows').addEventListener('click', rowActivated);
  $('rows').addEventListener('keydown', rowActivated);
  $('verify').addEventListener('click', verifyDetail);
  $('pin-save').addEventListener('click', savePin);
  $('pin-tofu').addEventListener('click', () => guarded('Pinning the announced key', pinAnnounced));
  $('pinned').addEventListener('input', showPinState);
  $('append-open').addEventListener('click', openAppend);
  $('append-open-2').addEventListener('click', openAppend);
  $('append-form').addEventListener('submit', sendAppend);
  $('trail-refresh').addEventListener('click', () => guarded('Loading the trail', loadTrail));
  for (const b of document.querySelectorAll('[data-close]')) b.addEventListener('click', () => b.closest('dialog').close());
  $('detail').addEventListener('close', () => detailOpener?.focus());
  for (const a of document.querySelectorAll('#tabs a')) {
    a.addEventListener('click', (ev) => { ev.preventDefault(); patch({ view: a.dataset.view }); });
  }
  for (const id of ['f-from', 'f-to']) $(id).addEventListener('change', () => showRange({ ...readState(), ...formState() }));
  window.addEventListener('popstate', () => render());
  let resize;
  window.addEventListener('resize', () => { clearTimeout(resize); resize = setTimeout(drawChart, 150); });
}

async function boot() {
  $('limit').replaceChildren(...PAGE_SIZES.map((n) => new Option(String(n), String(n))));
  for (const f of FILTERABLE) $('by').appendChild(new Option(f, f));
  wire();
  tailState();
  const ok = await guarded('Checking the key', whoami);
  if (ok) return enter();
  if (session.key) sessionStorage.removeItem(KEY_STORE);
  session.key = null;
  showSignIn();
}

boot();
