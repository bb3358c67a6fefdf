// The lro dashboard: a list of operations, one operation followed live, and
// a kind's aggregates. Plain ES module, no framework, no build step.
//
// Every string that comes from the server is operation data, that is user
// data: it goes into the page through textContent and attributes only, never
// as HTML.

const ROOT = new URL('../', location.origin + location.pathname);
const TOKEN_KEY = 'lro.dashboard.token';
const STATES = ['pending', 'running', 'succeeded', 'failed', 'cancelled'];
const BATCH_PAGE_SIZE = 200;
const BATCH_CONCURRENCY = 8;
const KIND_REFRESH_MS = 10000;

// ---------------------------------------------------------------- DOM helpers

/**
 * h builds an element: h('a', {href: '#/', className: 'x'}, 'text', child).
 * Attributes named on* are not accepted, so that no handler is ever set from
 * data; use el.addEventListener.
 */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null && v !== false) el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) throw new Error('no handlers through attributes');
    if (k === 'className') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'hidden' || k === 'disabled' || k === 'open' || k === 'required') el[k] = Boolean(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

const $ = (sel, root = document) => root.querySelector(sel);

// ---------------------------------------------------------------- formatting

function pad(n, w = 2) {
  return String(n).padStart(w, '0');
}

/** fmtTime shows an RFC 3339 time in local time, to the second. */
function fmtTime(v) {
  if (!v) return '—';
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) return String(v);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function fmtClock(d) {
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** fmtDuration shows a span in milliseconds as 850 ms, 12.3 s, 4 min 5 s, 2 h 3 min, 3 d 4 h. */
function fmtDuration(ms) {
  const a = Math.abs(ms);
  if (a < 1000) return `${Math.round(a)} ms`;
  if (a < 60e3) return `${(a / 1000).toFixed(a < 10e3 ? 1 : 0)} s`;
  if (a < 3600e3) return `${Math.floor(a / 60e3)} min ${Math.floor((a % 60e3) / 1000)} s`;
  if (a < 86400e3) return `${Math.floor(a / 3600e3)} h ${Math.floor((a % 3600e3) / 60e3)} min`;
  return `${Math.floor(a / 86400e3)} d ${Math.floor((a % 86400e3) / 3600e3)} h`;
}

/** fmtRel says how far a time is from now: "12 s ago", "in 4 min 5 s". */
function fmtRel(v) {
  if (!v) return '';
  const t = new Date(v).getTime();
  if (Number.isNaN(t)) return '';
  const d = t - Date.now();
  return d >= 0 ? `in ${fmtDuration(d)}` : `${fmtDuration(d)} ago`;
}

/** timeEl is a <time> with the local time and a relative hint. */
function timeEl(v, {rel = true} = {}) {
  if (!v) return h('span', {className: 'muted'}, '—');
  const r = rel ? fmtRel(v) : '';
  return h('time', {datetime: v, title: String(v)}, fmtTime(v), r ? h('span', {className: 'rel'}, ` (${r})`) : null);
}

function fmtPct(p) {
  return `${Math.round(p * 10) / 10}%`;
}

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code;
    this.grpcStatus = e.status;
    this.details = e.details || [];
  }
}

async function errorOf(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    // not JSON: the status is all there is
  }
  return new ApiError(res.status, body);
}

function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

function authHeaders(extra) {
  const headers = Object.assign({Accept: 'application/json'}, extra || {});
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  return headers;
}

/** namePath turns an operation name into a /v1 path, each segment escaped. */
function namePath(name) {
  return name.split('/').map(encodeURIComponent).join('/');
}

/**
 * api calls the server: path is relative to the server root ("v1/kinds").
 * A 401 shows the token prompt and tries again with the new token; other
 * failures throw an ApiError with the server's message.
 */
async function api(path, {method = 'GET', body, signal, query} = {}) {
  const url = new URL(path, ROOT);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
  }
  for (;;) {
    const init = {method, signal, cache: 'no-store', credentials: 'same-origin'};
    if (body !== undefined) {
      init.headers = authHeaders({'Content-Type': 'application/json'});
      init.body = JSON.stringify(body);
    } else {
      init.headers = authHeaders();
    }
    let res;
    try {
      res = await fetch(url, init);
    } catch (e) {
      if (signal && signal.aborted) throw e;
      throw new ApiError(0, {error: {message: `The server cannot be reached (${e.message}).`}});
    }
    if (res.status === 401) {
      await askToken(await errorOf(res));
      continue;
    }
    if (!res.ok) throw await errorOf(res);
    const text = await res.text();
    return text ? JSON.parse(text) : {};
  }
}

// ---------------------------------------------------------------- auth

let tokenWait = null;

/**
 * askToken shows the token prompt once, however many calls got a 401 at the
 * same time, and resolves when a token was entered.
 */
function askToken(err) {
  if (tokenWait) return tokenWait;
  const dlg = $('#token-dialog');
  const input = $('#token-input');
  const msg = $('#token-error');
  msg.textContent = token() ? `The token was not accepted: ${err.message}` : '';
  input.value = '';
  tokenWait = new Promise((resolve) => {
    const form = $('#token-form');
    const onSubmit = (ev) => {
      ev.preventDefault();
      const t = input.value.trim();
      if (!t) return;
      try {
        sessionStorage.setItem(TOKEN_KEY, t);
      } catch {
        msg.textContent = 'This browser does not allow session storage; the token cannot be kept.';
        return;
      }
      form.removeEventListener('submit', onSubmit);
      dlg.close();
      tokenWait = null;
      resolve();
      refreshSession();
    };
    form.addEventListener('submit', onSubmit);
  });
  if (!dlg.open) dlg.showModal();
  input.focus();
  return tokenWait;
}

function signOut() {
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // nothing kept, nothing to forget
  }
  session = null;
  location.hash = '#/';
  location.reload();
}

let session = null;

const DEFAULT_SESSION = {authRequired: false, principal: '', grants: [], canReadAll: true, canOperate: true};

async function loadSession() {
  try {
    session = await api('ui/api/session');
  } catch (e) {
    if (e.status === 404) session = DEFAULT_SESSION;
    else throw e;
  }
  renderWho();
  return session;
}

function refreshSession() {
  loadSession().catch((e) => showBanner(e.message));
}

function renderWho() {
  const who = $('#who');
  const name = $('#who-name');
  const principal = session && session.principal;
  name.textContent = principal ? `Signed in as ${principal}` : '';
  $('#sign-out').hidden = !token();
  who.hidden = !principal && !token();
}

function canOperate() {
  return !session || session.canOperate !== false;
}

// ---------------------------------------------------------------- banner, dialogs

function showBanner(text) {
  const b = $('#banner');
  b.textContent = text;
  b.hidden = !text;
}

/**
 * confirmDialog asks before an action: body is a node; word, when given,
 * must be typed to enable the confirm button. Resolves true or false.
 */
function confirmDialog({title, body, okText = 'Confirm', word = ''}) {
  const dlg = $('#confirm-dialog');
  $('#confirm-title').textContent = title;
  clear($('#confirm-body')).append(body);
  const typeBox = $('#confirm-type');
  const input = $('#confirm-input');
  const ok = $('#confirm-ok');
  ok.textContent = okText;
  typeBox.hidden = !word;
  $('#confirm-word').textContent = word;
  input.value = '';
  ok.disabled = Boolean(word);
  const onInput = () => {
    ok.disabled = input.value.trim() !== word;
  };
  input.addEventListener('input', onInput);
  return new Promise((resolve) => {
    const done = (v) => {
      input.removeEventListener('input', onInput);
      $('#confirm-form').removeEventListener('submit', onSubmit);
      $('#confirm-cancel').removeEventListener('click', onCancel);
      dlg.removeEventListener('cancel', onCancel);
      if (dlg.open) dlg.close();
      resolve(v);
    };
    const onSubmit = (ev) => {
      ev.preventDefault();
      if (ok.disabled) return;
      done(true);
    };
    const onCancel = (ev) => {
      if (ev) ev.preventDefault();
      done(false);
    };
    $('#confirm-form').addEventListener('submit', onSubmit);
    $('#confirm-cancel').addEventListener('click', onCancel);
    dlg.addEventListener('cancel', onCancel);
    dlg.showModal();
    (word ? input : $('#confirm-cancel')).focus();
  });
}

function errorBox(e) {
  const box = h('div', {className: 'error-box', role: 'alert'});
  if (e.status === 403) box.append(h('strong', {}, 'Not allowed: '));
  box.append(e.message || String(e));
  return box;
}

// ---------------------------------------------------------------- operations

/**
 * stateOf derives a list row's state from done and error. The API's
 * operation does not say whether one not done is pending or running:
 * "active" is either (the filter state = PENDING or RUNNING tells).
 */
function stateOf(op) {
  if (!op.done) return 'active';
  if (!op.error) return 'succeeded';
  if (op.error.code === 1) return 'cancelled';
  return 'failed';
}

function badge(state, extra) {
  return h('span', {className: `badge state-${state}`, dataset: {state}}, state.toUpperCase(), extra ? ` · ${extra}` : '');
}

const PROGRESS_FIELDS = ['progressPercent', 'progress_percent', 'percentComplete', 'percent_complete', 'percent', 'progress'];

/** progressOf finds a 0..100 number in the metadata under a progress-like name. */
function progressOf(meta) {
  if (!meta || typeof meta !== 'object') return undefined;
  for (const f of PROGRESS_FIELDS) {
    const v = meta[f];
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n === 'number' && Number.isFinite(n)) return Math.max(0, Math.min(100, n));
  }
  return undefined;
}

function progressEl(p, id) {
  const bar = h('progress', {max: '100', value: String(p), 'aria-label': 'progress'});
  return h('span', {className: 'progress'}, bar, h('span', {className: 'progress-text', id}, fmtPct(p)));
}

let kindsCache = null;

async function loadKinds() {
  if (!kindsCache) {
    kindsCache = api('v1/kinds').then((r) => r.kinds || []).catch((e) => {
      kindsCache = null;
      throw e;
    });
  }
  return kindsCache;
}

/** kindOf names an operation's kind from its metadata type, through /v1/kinds. */
function kindOf(op, kinds) {
  const t = (op.metadata && op.metadata['@type']) || '';
  const short = t.slice(t.lastIndexOf('/') + 1);
  if (op.kind) return op.kind;
  for (const k of kinds || []) {
    if (short && k.metadataType === short) return k.name;
  }
  return short || '';
}

function opHref(name) {
  const m = /^operations\/([^/]+)$/.exec(name);
  return `#/operations/${m ? encodeURIComponent(m[1]) : name.split('/').map(encodeURIComponent).join('/')}`;
}

function kindHref(kind) {
  return `#/kinds/${encodeURIComponent(kind)}`;
}

// ---------------------------------------------------------------- routing

let routeAbort = new AbortController();

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const i = raw.indexOf('?');
  const path = i < 0 ? raw : raw.slice(0, i);
  const params = new URLSearchParams(i < 0 ? '' : raw.slice(i + 1));
  return {path, params};
}

function route() {
  routeAbort.abort();
  routeAbort = new AbortController();
  const signal = routeAbort.signal;
  const main = clear($('#main'));
  showBanner('');
  const {path, params} = parseHash();
  let m;
  const run = (p) => p.catch((e) => {
    if (signal.aborted) return;
    main.append(errorBox(e));
  });
  const decode = (v) => {
    try {
      return decodeURIComponent(v);
    } catch {
      return v;
    }
  };
  if ((m = /^\/operations\/(.+)$/.exec(path))) {
    const rest = m[1].split('/').map(decode).join('/');
    const name = rest.includes('/') ? rest : `operations/${rest}`;
    setNav('');
    run(operationPage(main, name, signal));
  } else if ((m = /^\/kinds\/(.+)$/.exec(path))) {
    const kind = decode(m[1]);
    setNav(kind);
    run(kindPage(main, kind, signal));
  } else {
    setNav('list');
    run(listPage(main, params, signal));
  }
}

function setNav(which) {
  $('#nav-list').toggleAttribute('aria-current', which === 'list');
  const sel = $('#nav-kinds');
  sel.value = which && which !== 'list' ? which : '';
}

// ---------------------------------------------------------------- list page

function listHash({collection, filter, size, tokens}) {
  const p = new URLSearchParams();
  if (collection && collection !== 'operations') p.set('collection', collection);
  if (filter) p.set('filter', filter);
  if (size && size !== 50) p.set('size', String(size));
  for (const t of tokens || []) p.append('p', t);
  const q = p.toString();
  return q ? `#/?${q}` : '#/';
}

function filterFor(kind, state) {
  const k = `kind = ${JSON.stringify(kind)}`;
  return STATES.includes(state) ? `${k} AND state = ${state.toUpperCase()}` : k;
}

// batchNote carries a batch's result across the list's refresh that ends it.
let batchNote = null;

async function listPage(main, params, signal) {
  const collection = (params.get('collection') || 'operations').replace(/^\/+|\/+$/g, '');
  const filter = params.get('filter') || '';
  const sizeParam = Number(params.get('size'));
  const size = Number.isInteger(sizeParam) && sizeParam > 0 && sizeParam <= 1000 ? sizeParam : 50;
  const tokens = params.getAll('p');
  const state = {collection, filter, size, tokens};

  const countsBox = h('section', {className: 'counts', 'aria-label': 'Counts by kind and state'});
  const collectionIn = h('input', {id: 'collection', name: 'collection', value: collection, spellcheck: 'false', autocomplete: 'off'});
  const filterIn = h('input', {
    id: 'filter', name: 'filter', type: 'search', value: filter, spellcheck: 'false', autocomplete: 'off',
    placeholder: 'kind = "demo.sleep" AND done = false',
  });
  const sizeIn = h('select', {id: 'page-size', name: 'size'},
    [10, 25, 50, 100, 200].map((n) => h('option', {value: String(n), selected: n === size}, String(n))));
  if (![10, 25, 50, 100, 200].includes(size)) sizeIn.append(h('option', {value: String(size), selected: true}, String(size)));
  const form = h('form', {className: 'list-form', role: 'search'},
    h('div', {className: 'field'}, h('label', {for: 'collection'}, 'Collection'), collectionIn),
    h('div', {className: 'field grow'}, h('label', {for: 'filter'}, 'Filter (AIP-160)'), filterIn),
    h('div', {className: 'field'}, h('label', {for: 'page-size'}, 'Page size'), sizeIn),
    h('div', {className: 'field'}, h('span', {className: 'label-spacer', 'aria-hidden': 'true'}, '\u00a0'),
      h('button', {type: 'submit', className: 'primary'}, 'Apply')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    location.hash = listHash({
      collection: collectionIn.value.trim() || 'operations',
      filter: filterIn.value.trim(),
      size: Number(sizeIn.value),
      tokens: [],
    });
  });
  sizeIn.addEventListener('change', () => form.requestSubmit());

  const batchBox = h('div', {className: 'batch', hidden: !canOperate()});
  let batchStatus = h('div', {className: 'batch-status', role: 'status', 'aria-live': 'polite'});
  const cancelAll = h('button', {type: 'button', id: 'cancel-all', className: 'danger-outline'}, 'Cancel all matching');
  const deleteAll = h('button', {type: 'button', id: 'delete-all', className: 'danger'}, 'Delete all matching');
  batchBox.append(cancelAll, deleteAll);

  const status = h('p', {className: 'list-status muted', role: 'status', 'aria-live': 'polite'}, 'Loading…');
  const tableBox = h('div', {className: 'table-box'});
  const prev = h('button', {type: 'button', id: 'prev-page', disabled: tokens.length === 0}, '← Previous');
  const next = h('button', {type: 'button', id: 'next-page', disabled: true}, 'Next →');
  const refresh = h('button', {type: 'button', id: 'refresh'}, 'Refresh');
  refresh.addEventListener('click', () => route());
  const pager = h('nav', {className: 'pager', 'aria-label': 'Pages'}, prev,
    h('span', {className: 'page-no'}, `Page ${tokens.length + 1}`), next, refresh);

  main.append(h('h1', {}, 'Operations'), countsBox, form, batchBox, batchNote || batchStatus, status, tableBox, pager);
  if (batchNote) {
    batchStatus = batchNote;
    batchNote = null;
  }

  prev.addEventListener('click', () => {
    location.hash = listHash({...state, tokens: tokens.slice(0, -1)});
  });

  const run = async (action) => {
    const ok = await confirmBatch(action, collection, filter);
    if (!ok) return;
    cancelAll.disabled = deleteAll.disabled = true;
    try {
      await runBatch(action, collection, filter, batchStatus, signal);
    } finally {
      cancelAll.disabled = deleteAll.disabled = false;
    }
    if (signal.aborted) return;
    // Show the list again as it now is, with the batch's result kept.
    batchNote = batchStatus;
    route();
  };
  cancelAll.addEventListener('click', () => run('cancel'));
  deleteAll.addEventListener('click', () => run('delete'));

  renderCounts(countsBox, collection, signal);

  const [kinds, page] = await Promise.all([
    loadKinds().catch(() => []),
    api(`v1/${namePath(collection)}`, {
      query: {filter, pageSize: size, pageToken: tokens[tokens.length - 1]}, signal,
    }).catch((e) => {
      status.textContent = '';
      throw e;
    }),
  ]);
  if (signal.aborted) return;
  const ops = page.operations || [];
  status.textContent = ops.length === 0
    ? (filter ? 'No operation matches this filter.' : 'No operations.')
    : `${ops.length} operation${ops.length === 1 ? '' : 's'} on this page${page.nextPageToken ? ', more on the next' : ''}.`;
  if (page.nextPageToken) {
    next.disabled = false;
    next.addEventListener('click', () => {
      location.hash = listHash({...state, tokens: [...tokens, page.nextPageToken]});
    });
  }
  if (ops.length) tableBox.append(opsTable(ops, kinds));
}

function opsTable(ops, kinds) {
  const head = h('tr', {}, ['Name', 'Kind', 'State', 'Started', 'Progress'].map((t) => h('th', {scope: 'col'}, t)));
  const body = h('tbody');
  for (const op of ops) {
    const st = stateOf(op);
    const kind = kindOf(op, kinds);
    const meta = op.metadata || {};
    const created = meta.createTime || meta.create_time || meta.startTime || meta.start_time;
    const p = progressOf(meta);
    body.append(h('tr', {dataset: {name: op.name, state: st}},
      h('td', {dataset: {label: 'Name'}, className: 'name'}, h('a', {href: opHref(op.name)}, op.name)),
      h('td', {dataset: {label: 'Kind'}}, kind && kindsHas(kinds, kind) ? h('a', {href: kindHref(kind)}, kind) : kind || '—'),
      h('td', {dataset: {label: 'State'}}, badge(st), op.error && st === 'failed'
        ? h('span', {className: 'err-msg', title: op.error.message || ''}, ` ${op.error.message || ''}`) : null),
      h('td', {dataset: {label: 'Started'}}, timeEl(created)),
      h('td', {dataset: {label: 'Progress'}}, p === undefined ? h('span', {className: 'muted'}, '—') : progressEl(p))));
  }
  return h('table', {className: 'ops', id: 'ops-table'}, h('thead', {}, head), body);
}

function kindsHas(kinds, name) {
  return (kinds || []).some((k) => k.name === name);
}

async function renderCounts(box, collection, signal) {
  let counts;
  try {
    counts = await api('ui/api/counts', {signal});
  } catch (e) {
    // 403: this caller may not see every parent's counts; 404: no dashboard API.
    if (e.status === 403 || e.status === 404 || signal.aborted) {
      box.remove();
      return;
    }
    box.append(errorBox(e));
    return;
  }
  if (signal.aborted) return;
  const head = h('tr', {}, h('th', {scope: 'col'}, 'Kind'), STATES.map((st) => h('th', {scope: 'col'}, st)));
  const body = h('tbody');
  const cell = (kind, st, n) => {
    const hash = listHash({collection, filter: kind ? filterFor(kind, st) : filterForAll(st), tokens: []});
    return h('td', {dataset: {label: st}, className: n ? '' : 'zero'},
      h('a', {href: hash, title: `List ${st} operations${kind ? ` of ${kind}` : ''}`,
        'aria-label': `${n || 0} ${st}${kind ? ` ${kind}` : ''} operations: list them`}, String(n || 0)));
  };
  for (const k of counts.kinds || []) {
    body.append(h('tr', {},
      h('th', {scope: 'row', dataset: {label: 'Kind'}}, h('a', {href: kindHref(k.kind)}, k.kind)),
      STATES.map((st) => cell(k.kind, st, k[st]))));
  }
  if (counts.total) {
    body.append(h('tr', {className: 'total'}, h('th', {scope: 'row', dataset: {label: 'Kind'}}, 'All kinds'),
      STATES.map((st) => cell('', st, counts.total[st]))));
  }
  box.append(h('h2', {}, 'Counts'), h('div', {className: 'table-box'}, h('table', {className: 'counts-table'}, h('thead', {}, head), body)));
}

function filterForAll(state) {
  return filterFor('', state).replace(/^kind = "" AND /, '').replace(/^kind = ""$/, '');
}

async function confirmBatch(action, collection, filter) {
  const verb = action === 'cancel' ? 'Cancel' : 'Delete';
  const body = h('div', {},
    h('p', {}, `${verb} every operation of the collection `, h('code', {}, collection), filter ? ' that matches the filter:' : ''),
    filter ? h('pre', {className: 'filter-show'}, filter) : h('p', {className: 'loud'}, 'No filter: this acts on ALL operations in the collection.'),
    action === 'delete' ? h('p', {}, 'Deleted operations cannot be brought back.') : null);
  return confirmDialog({title: `${verb} all matching operations?`, body, okText: `${verb} all`, word: filter ? '' : 'ALL'});
}

/**
 * runBatch pages through the collection with the filter and cancels or
 * deletes each operation, BATCH_CONCURRENCY at a time. Page tokens hold the
 * last name seen, so operations that leave the filter as they are cancelled
 * or deleted do not shift the next page.
 */
async function runBatch(action, collection, filter, box, signal) {
  const stop = h('button', {type: 'button'}, 'Stop');
  const line = h('p', {});
  const errs = h('ul', {className: 'errors'});
  clear(box).append(line, errs, stop);
  const ac = new AbortController();
  const halt = () => ac.abort();
  stop.addEventListener('click', halt);
  signal.addEventListener('abort', halt);
  let ok = 0;
  let failed = 0;
  let skipped = 0;
  let pageToken = '';
  let fatal = null;
  const show = (final) => {
    line.textContent = `${final ? 'Finished' : 'Working'}: ${ok} ${action === 'cancel' ? 'cancelled' : 'deleted'}, ` +
      `${failed} failed${skipped ? `, ${skipped} already done` : ''}${fatal ? ` — stopped: ${fatal}` : ''}.`;
  };
  const fail = (name, e) => {
    failed++;
    if (errs.childElementCount < 5) errs.append(h('li', {}, h('code', {}, name), `: ${e.message}`));
  };
  show(false);
  try {
    do {
      if (ac.signal.aborted) break;
      const page = await api(`v1/${namePath(collection)}`, {
        query: {filter, pageSize: BATCH_PAGE_SIZE, pageToken}, signal: ac.signal,
      });
      const ops = page.operations || [];
      await pool(ops, BATCH_CONCURRENCY, async (op) => {
        if (ac.signal.aborted) return;
        if (action === 'cancel' && op.done) {
          skipped++;
          return;
        }
        try {
          if (action === 'cancel') await api(`v1/${namePath(op.name)}:cancel`, {method: 'POST', body: {}, signal: ac.signal});
          else await api(`v1/${namePath(op.name)}`, {method: 'DELETE', signal: ac.signal});
          ok++;
        } catch (e) {
          if (ac.signal.aborted) return;
          fail(op.name, e);
        }
        show(false);
      });
      pageToken = page.nextPageToken || '';
    } while (pageToken);
  } catch (e) {
    if (!ac.signal.aborted) fatal = e.message;
  }
  if (ac.signal.aborted && !fatal) fatal = 'stopped by request';
  stop.remove();
  signal.removeEventListener('abort', halt);
  show(true);
}

async function pool(items, n, fn) {
  let i = 0;
  const worker = async () => {
    while (i < items.length) await fn(items[i++]);
  };
  await Promise.all(Array.from({length: Math.min(n, items.length)}, worker));
}

// ---------------------------------------------------------------- JSON view

/**
 * jsonView renders a value as collapsible, coloured JSON. collapsed keeps the
 * paths the reader closed, so that a live update keeps them closed.
 */
function jsonView(value, collapsed) {
  const root = h('div', {className: 'json'});
  root.append(jsonNode(value, '$', collapsed, null));
  return root;
}

function jsonNode(v, path, collapsed, key) {
  const keyEl = key === null ? null : h('span', {className: 'j-key'}, JSON.stringify(key), ': ');
  if (v !== null && typeof v === 'object') {
    const isArr = Array.isArray(v);
    const entries = isArr ? v.map((x, i) => [i, x]) : Object.entries(v);
    const [open, close] = isArr ? ['[', ']'] : ['{', '}'];
    if (entries.length === 0) return h('div', {className: 'j-line'}, keyEl, h('span', {className: 'j-punct'}, open + close));
    const det = h('details', {open: !collapsed.has(path)});
    det.addEventListener('toggle', () => {
      if (det.open) collapsed.delete(path);
      else collapsed.add(path);
    });
    det.append(h('summary', {}, keyEl, h('span', {className: 'j-punct'}, open),
      h('span', {className: 'j-count'}, ` ${entries.length} ${isArr ? 'item' : 'field'}${entries.length === 1 ? '' : 's'} `),
      h('span', {className: 'j-punct j-close-inline'}, close)));
    const kids = h('div', {className: 'j-kids'});
    for (const [k, x] of entries) kids.append(jsonNode(x, `${path}/${k}`, collapsed, isArr ? null : k));
    det.append(kids, h('div', {className: 'j-punct'}, close));
    return det;
  }
  let cls = 'j-null';
  if (typeof v === 'string') cls = 'j-str';
  else if (typeof v === 'number') cls = 'j-num';
  else if (typeof v === 'boolean') cls = 'j-bool';
  return h('div', {className: 'j-line'}, keyEl, h('span', {className: cls}, JSON.stringify(v)));
}

// ---------------------------------------------------------------- operation page

async function operationPage(main, name, signal) {
  const live = h('span', {className: 'live', id: 'live', role: 'status', 'aria-live': 'polite'}, 'connecting…');
  const head = h('div', {className: 'op-head'});
  const actions = h('div', {className: 'op-actions'});
  const msg = h('div', {className: 'op-msg', role: 'alert'});
  const sections = h('div', {className: 'op-sections'});
  main.append(h('div', {className: 'title-row'}, h('h1', {className: 'op-name'}, name), live), head, actions, msg, sections);

  const collapsed = {metadata: new Set(), response: new Set(), error: new Set(), lastError: new Set()};
  const memo = {};
  const [kinds, first] = await Promise.all([
    loadKinds().catch(() => []),
    api('ui/api/operation', {query: {name}, signal}),
  ]);
  let detail = first;
  if (signal.aborted) return;
  const render = (d) => {
    if (!d.kind && d.operation) {
      const k = kindOf(d.operation, kinds);
      if (kindsHas(kinds, k)) d.kind = k;
    }
    detail = d;
    renderOpHead(head, d);
    renderOpActions(actions, msg, d, name, signal);
    renderOpSections(sections, d, collapsed, memo);
  };
  render(detail);
  followOperation(name, signal, live, render, () => detail);
}

function renderOpHead(box, d) {
  const op = d.operation || {};
  const state = d.state || stateOf(op);
  const p = d.progress !== undefined ? d.progress : progressOf(op.metadata);
  const rows = [
    ['Kind', d.kind ? h('a', {href: kindHref(d.kind)}, d.kind) : '—'],
    d.parent ? ['Parent', d.parent] : null,
    ['Attempt', d.maxAttempts ? `${d.attempt || 0} of ${d.maxAttempts}` : String(d.attempt || 0)],
    ['Created', timeEl(d.createTime)],
    ['Updated', timeEl(d.updateTime)],
    d.endTime ? ['Ended', timeEl(d.endTime)] : null,
    d.endTime && d.createTime ? ['Took', fmtDuration(new Date(d.endTime) - new Date(d.createTime))] : null,
    ['Deadline', timeEl(d.deadline)],
    d.notBefore ? ['Runs not before', timeEl(d.notBefore)] : null,
    ['Lease owner', d.leaseOwner || '—'],
    ['Lease expires', timeEl(d.leaseExpireTime)],
  ].filter(Boolean);
  const overdue = !op.done && d.deadline && new Date(d.deadline) < Date.now();
  clear(box).append(
    h('div', {className: 'state-row'},
      h('span', {id: 'op-state'}, badge(state, d.cancelRequested && !op.done ? 'cancel requested' : '')),
      overdue ? h('span', {className: 'badge warn'}, 'PAST DEADLINE') : null,
      h('div', {className: 'op-progress'}, p === undefined
        ? h('span', {className: 'muted', id: 'op-progress-text'}, op.done ? 'done' : 'no progress reported')
        : progressEl(p, 'op-progress-text'))),
    h('dl', {className: 'facts'}, rows.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v)))));
}

function renderOpActions(box, msg, d, name, signal) {
  const op = d.operation || {};
  const allowed = d.allowed || {};
  const key = `${op.done}|${allowed.cancel}|${allowed.delete}|${d.cancelRequested}|${canOperate()}`;
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  clear(box);
  if (!canOperate()) return;
  if (allowed.cancel && !op.done) {
    const b = h('button', {type: 'button', id: 'btn-cancel', className: 'danger-outline'}, d.cancelRequested ? 'Cancel again' : 'Cancel');
    b.addEventListener('click', async () => {
      const ok = await confirmDialog({
        title: 'Cancel this operation?',
        body: h('p', {}, 'Ask the worker to stop ', h('code', {}, name), '. It ends CANCELLED unless it finishes first.'),
        okText: 'Cancel operation',
      });
      if (!ok) return;
      b.disabled = true;
      msg.textContent = '';
      try {
        await api(`v1/${namePath(name)}:cancel`, {method: 'POST', body: {}, signal});
        msg.append(h('p', {className: 'ok'}, 'Cancellation requested.'));
      } catch (e) {
        b.disabled = false;
        if (!signal.aborted) msg.append(errorBox(e));
      }
    });
    box.append(b);
  }
  if (allowed.delete) {
    const b = h('button', {type: 'button', id: 'btn-delete', className: 'danger'}, 'Delete');
    b.addEventListener('click', async () => {
      const ok = await confirmDialog({
        title: 'Delete this operation?',
        body: h('p', {}, 'Forget ', h('code', {}, name), op.done ? '' : ' (it is not done: deleting does not stop its work)', '. This cannot be undone.'),
        okText: 'Delete operation',
      });
      if (!ok) return;
      b.disabled = true;
      msg.textContent = '';
      try {
        await api(`v1/${namePath(name)}`, {method: 'DELETE', signal});
        location.hash = '#/';
        setTimeout(() => showBanner(`Deleted ${name}.`), 0);
      } catch (e) {
        b.disabled = false;
        if (!signal.aborted) msg.append(errorBox(e));
      }
    });
    box.append(b);
  }
}

function renderOpSections(box, d, collapsed, memo) {
  const op = d.operation || {};
  const want = [
    ['metadata', 'Metadata', op.metadata],
    ['response', 'Response', op.response],
    ['error', 'Error', op.error],
    ['lastError', 'Last attempt error', !op.done ? d.lastError : undefined],
    ['attempts', 'Attempts', d.attempts],
    ['timeline', 'Timeline', d.timeline],
  ];
  for (const [key, title, value] of want) {
    const json = value === undefined ? '' : JSON.stringify(value);
    let sec = box.querySelector(`section[data-key="${key}"]`);
    if (!json || (Array.isArray(value) && value.length === 0)) {
      if (sec) sec.remove();
      delete memo[key];
      continue;
    }
    if (memo[key] === json && sec) continue;
    memo[key] = json;
    const fresh = h('section', {className: `op-section sec-${key}`, dataset: {key}}, h('h2', {}, title));
    if (key === 'attempts') fresh.append(attemptsTable(value));
    else if (key === 'timeline') fresh.append(timeline(value));
    else {
      if ((key === 'error' || key === 'lastError') && value && value.message) {
        fresh.append(h('p', {className: 'err-msg'}, `${statusName(value)}: ${value.message}`));
      }
      fresh.append(jsonView(value, collapsed[key]));
    }
    if (sec) sec.replaceWith(fresh);
    else {
      // Keep the order of `want`.
      const order = want.map((w) => w[0]);
      const after = [...box.children].find((c) => order.indexOf(c.dataset.key) > order.indexOf(key));
      box.insertBefore(fresh, after || null);
    }
  }
}

const CODES = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED',
  'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];

function statusName(e) {
  return e.status || CODES[e.code] || `code ${e.code}`;
}

function attemptsTable(attempts) {
  const head = h('tr', {}, ['#', 'Worker', 'Started', 'Ended', 'Outcome', 'Error'].map((t) => h('th', {scope: 'col'}, t)));
  const body = h('tbody');
  for (const a of attempts) {
    const took = a.endTime && a.startTime ? ` · ${fmtDuration(new Date(a.endTime) - new Date(a.startTime))}` : '';
    body.append(h('tr', {},
      h('td', {dataset: {label: '#'}}, String(a.number)),
      h('td', {dataset: {label: 'Worker'}}, a.worker || '—'),
      h('td', {dataset: {label: 'Started'}}, timeEl(a.startTime, {rel: false})),
      h('td', {dataset: {label: 'Ended'}}, a.endTime ? timeEl(a.endTime, {rel: false}) : '—', took),
      h('td', {dataset: {label: 'Outcome'}}, h('span', {className: `badge outcome-${a.outcome}`}, a.outcome || '—')),
      h('td', {dataset: {label: 'Error'}}, a.error ? `${statusName(a.error)}: ${a.error.message || ''}` : '—')));
  }
  return h('div', {className: 'table-box'}, h('table', {className: 'attempts'}, h('thead', {}, head), body));
}

function timeline(events) {
  const t0 = events.length ? new Date(events[0].time).getTime() : 0;
  let last = t0;
  const list = h('ol', {className: 'timeline'});
  for (const ev of events) {
    const t = new Date(ev.time).getTime();
    const since = Number.isNaN(t) ? '' : `+${fmtDuration(t - t0)}`;
    const step = Number.isNaN(t) || t === last ? '' : ` (Δ ${fmtDuration(t - last)})`;
    if (!Number.isNaN(t)) last = t;
    list.append(h('li', {className: `ev ev-${ev.event}`},
      h('div', {className: 'ev-time'}, timeEl(ev.time, {rel: false}), h('span', {className: 'ev-offset'}, ` ${since}${step}`)),
      h('div', {className: 'ev-body'}, h('strong', {}, ev.event), ev.text ? ` — ${ev.text}` : '')));
  }
  return list;
}

/**
 * followOperation reads the operation's server-sent events with fetch and a
 * stream reader (EventSource cannot send the Authorization header), calling
 * render with each Detail. A dropped stream is opened again after a backoff
 * that doubles up to 15 s and starts over once an event arrives.
 */
async function followOperation(name, signal, live, render, current) {
  let backoff = 1000;
  const setLive = (cls, text) => {
    live.className = `live ${cls}`;
    live.textContent = text;
  };
  while (!signal.aborted) {
    const d = current();
    if (d && d.operation && d.operation.done) {
      setLive('ended', 'done');
      return;
    }
    let ended = false;
    try {
      setLive('connecting', 'connecting…');
      const url = new URL('ui/api/operation/events', ROOT);
      url.searchParams.set('name', name);
      const res = await fetch(url, {headers: authHeaders({Accept: 'text/event-stream'}), signal, cache: 'no-store'});
      if (res.status === 401) {
        await askToken(await errorOf(res));
        continue;
      }
      if (!res.ok) throw await errorOf(res);
      setLive('on', 'live');
      for await (const ev of sseEvents(res.body, signal)) {
        if (ev.event === 'operation') {
          backoff = 1000;
          render(JSON.parse(ev.data));
        } else if (ev.event === 'end') {
          ended = true;
          break;
        }
      }
    } catch (e) {
      if (signal.aborted) return;
      if (e.status && e.status < 500 && e.status !== 429) {
        setLive('off', `live updates unavailable: ${e.message}`);
        return;
      }
    }
    if (signal.aborted) return;
    if (ended) {
      setLive('ended', 'done');
      return;
    }
    setLive('off', `reconnecting in ${Math.round(backoff / 1000)} s…`);
    await sleep(backoff, signal);
    backoff = Math.min(backoff * 2, 15000);
  }
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, {once: true});
  });
}

/** sseEvents parses a text/event-stream body into {event, data} records. */
async function* sseEvents(body, signal) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const stop = () => reader.cancel().catch(() => {});
  signal.addEventListener('abort', stop, {once: true});
  let buf = '';
  let event = '';
  let data = [];
  try {
    for (;;) {
      const {value, done} = await reader.read();
      if (done) return;
      buf += value;
      let i;
      while ((i = buf.search(/\r\n|\r|\n/)) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(buf[i] === '\r' && buf[i + 1] === '\n' ? i + 2 : i + 1);
        if (line === '') {
          // The spec drops an event without data; "event: end" may come without any.
          if (data.length || event) yield {event: event || 'message', data: data.join('\n')};
          event = '';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue;
        const c = line.indexOf(':');
        const field = c < 0 ? line : line.slice(0, c);
        let val = c < 0 ? '' : line.slice(c + 1);
        if (val.startsWith(' ')) val = val.slice(1);
        if (field === 'event') event = val;
        else if (field === 'data') data.push(val);
      }
    }
  } finally {
    signal.removeEventListener('abort', stop);
    stop();
  }
}

// ---------------------------------------------------------------- kind page

async function kindPage(main, kind, signal) {
  // Not a live region: a refresh every 10 s would be read out each time.
  const live = h('span', {className: 'live'}, '');
  const body = h('div', {className: 'kind-body'});
  main.append(h('div', {className: 'title-row'}, h('h1', {}, 'Kind ', h('code', {}, kind)), live), body);
  let timer = 0;
  const load = async () => {
    clearTimeout(timer);
    if (signal.aborted) return;
    try {
      const k = await api('ui/api/kind', {query: {name: kind, window: '3600s'}, signal});
      if (signal.aborted) return;
      renderKind(body, k);
      live.textContent = `updated ${fmtClock(new Date())}:${pad(new Date().getSeconds())}`;
    } catch (e) {
      if (signal.aborted) return;
      clear(body).append(errorBox(e));
      if (e.status === 403 || e.status === 404) return;
    }
    if (document.visibilityState === 'visible') timer = setTimeout(load, KIND_REFRESH_MS);
  };
  const onVis = () => {
    if (document.visibilityState === 'visible') load();
    else clearTimeout(timer);
  };
  document.addEventListener('visibilitychange', onVis);
  signal.addEventListener('abort', () => {
    clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVis);
  });
  await load();
}

function renderKind(box, k) {
  const counts = k.counts || {};
  const countsEl = h('ul', {className: 'count-cards'}, STATES.map((st) =>
    h('li', {className: `state-${st}`}, h('a', {href: listHash({filter: filterFor(k.kind, st)})},
      h('span', {className: 'n'}, String(counts[st] || 0)), h('span', {className: 'l'}, st)))));
  const buckets = k.buckets || [];
  const sec = (title, ...kids) => h('section', {className: 'kind-section'}, h('h2', {}, title), ...kids);
  append(clear(box), [
    k.registered === false ? h('p', {className: 'warn-box'}, 'This kind is not registered on this server.') : null,
    sec('Counts', countsEl),
    sec('Throughput per minute, last hour', throughputChart(buckets, k)),
    sec('Queue wait per minute, last hour', waitChart(buckets, k)),
    sec(`Past their deadline (${(k.pastDeadline || []).length})`, summaryTable(k.pastDeadline, 'deadline')),
    sec(`Leases about to expire (${(k.leaseExpiring || []).length})`, summaryTable(k.leaseExpiring, 'lease'))]);
}

function summaryTable(rows, which) {
  if (!rows || rows.length === 0) return h('p', {className: 'muted'}, 'None.');
  const head = h('tr', {}, ['Name', 'State', 'Deadline', 'Lease owner', 'Lease expires', 'Attempt'].map((t) => h('th', {scope: 'col'}, t)));
  const body = h('tbody');
  for (const r of rows) {
    body.append(h('tr', {className: `hl-${which}`},
      h('td', {dataset: {label: 'Name'}, className: 'name'}, h('a', {href: opHref(r.name)}, r.name)),
      h('td', {dataset: {label: 'State'}}, badge(r.state || 'running')),
      h('td', {dataset: {label: 'Deadline'}, className: which === 'deadline' ? 'hot' : ''}, timeEl(r.deadline)),
      h('td', {dataset: {label: 'Lease owner'}}, r.leaseOwner || '—'),
      h('td', {dataset: {label: 'Lease expires'}, className: which === 'lease' ? 'hot' : ''}, timeEl(r.leaseExpireTime)),
      h('td', {dataset: {label: 'Attempt'}}, String(r.attempt || 0))));
  }
  return h('div', {className: 'table-box'}, h('table', {className: 'summary'}, h('thead', {}, head), body));
}

// ---------------------------------------------------------------- charts

const CH = {w: 720, h: 260, l: 52, r: 14, t: 14, b: 42};

/** niceMax rounds a maximum up to 1, 2 or 5 times a power of ten. */
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function fmtNum(v) {
  if (v === 0) return '0';
  if (Math.abs(v) >= 100) return String(Math.round(v));
  if (Math.abs(v) >= 1) return String(Math.round(v * 10) / 10);
  return String(Math.round(v * 1000) / 1000);
}

/** chartFrame draws the axes, grid and labels and returns the scales. */
function chartFrame(svg, {start, end, yMax, yLabel, xLabel}) {
  const x0 = CH.l;
  const x1 = CH.w - CH.r;
  const y0 = CH.h - CH.b;
  const y1 = CH.t;
  const span = Math.max(1, end - start);
  const xs = (t) => x0 + ((t - start) / span) * (x1 - x0);
  const ys = (v) => y0 - (v / yMax) * (y0 - y1);
  const g = s('g', {class: 'axes'});
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    const y = ys(v);
    g.append(s('line', {x1: x0, x2: x1, y1: y, y2: y, class: i ? 'grid' : 'axis'}));
    g.append(s('text', {x: x0 - 6, y: y + 4, 'text-anchor': 'end', class: 'tick'}, fmtNum(v)));
  }
  g.append(s('line', {x1: x0, x2: x0, y1: y0, y2: y1, class: 'axis'}));
  const step = 15 * 60e3;
  for (let t = Math.ceil(start / step) * step; t <= end; t += step) {
    const x = xs(t);
    g.append(s('line', {x1: x, x2: x, y1: y0, y2: y0 + 5, class: 'axis'}));
    g.append(s('text', {x, y: y0 + 18, 'text-anchor': 'middle', class: 'tick'}, fmtClock(new Date(t))));
  }
  g.append(s('text', {x: (x0 + x1) / 2, y: CH.h - 4, 'text-anchor': 'middle', class: 'axis-label'}, xLabel));
  g.append(s('text', {x: 12, y: (y0 + y1) / 2, 'text-anchor': 'middle', class: 'axis-label',
    transform: `rotate(-90 12 ${(y0 + y1) / 2})`}, yLabel));
  svg.append(g);
  return {xs, ys, x0, x1, y0, y1};
}

function chartWindow(buckets, k) {
  const bucketMs = (k.bucketSeconds || 60) * 1000;
  let start = Date.parse(k.windowStart);
  let end = Date.parse(k.windowEnd);
  if (Number.isNaN(end)) end = Date.now();
  if (Number.isNaN(start)) start = buckets.length ? Date.parse(buckets[0].start) : end - 3600e3;
  return {start, end, bucketMs};
}

function newChart(cls, label) {
  return s('svg', {viewBox: `0 0 ${CH.w} ${CH.h}`, class: `chart ${cls}`, role: 'img', 'aria-label': label,
    preserveAspectRatio: 'xMidYMid meet'});
}

function legend(items) {
  return h('ul', {className: 'legend'}, items.map(([cls, text]) => h('li', {}, h('span', {className: `sw ${cls}`}), text)));
}

function throughputChart(buckets, k) {
  const {start, end, bucketMs} = chartWindow(buckets, k);
  const total = (b) => (b.succeeded || 0) + (b.failed || 0) + (b.cancelled || 0);
  const max = niceMax(Math.max(0, ...buckets.map(total)));
  const sum = buckets.reduce((a, b) => a + total(b), 0);
  const svg = newChart('throughput', `Operations ended per minute over the last hour: ${sum} in all`);
  svg.append(s('title', {}, `Operations ended per minute (${sum} in the last hour)`));
  const f = chartFrame(svg, {start, end, yMax: max, yLabel: 'ended / min', xLabel: 'time (local)'});
  const bars = s('g', {class: 'bars'});
  for (const b of buckets) {
    const t = Date.parse(b.start);
    if (Number.isNaN(t)) continue;
    const xa = f.xs(t);
    const w = Math.max(1, f.xs(t + bucketMs) - xa - 1);
    const tip = `${fmtClock(new Date(t))}: succeeded ${b.succeeded || 0}, failed ${b.failed || 0}, ` +
      `cancelled ${b.cancelled || 0}, claims ${b.claims || 0}`;
    const g = s('g', {class: 'bucket'});
    g.append(s('title', {}, tip));
    g.append(s('rect', {x: xa, y: f.y1, width: w, height: f.y0 - f.y1, class: 'hover'}));
    let acc = 0;
    for (const part of ['succeeded', 'failed', 'cancelled']) {
      const v = b[part] || 0;
      if (!v) continue;
      const ya = f.ys(acc + v);
      g.append(s('rect', {x: xa, y: ya, width: w, height: Math.max(0.5, f.ys(acc) - ya), class: `bar ${part}`}));
      acc += v;
    }
    bars.append(g);
  }
  svg.append(bars);
  return h('figure', {className: 'chart-box'}, svg,
    legend([['succeeded', 'succeeded'], ['failed', 'failed'], ['cancelled', 'cancelled']]));
}

function waitChart(buckets, k) {
  const {start, end, bucketMs} = chartWindow(buckets, k);
  const max = niceMax(Math.max(0, ...buckets.map((b) => b.queueWaitMaxSeconds || 0), ...buckets.map((b) => b.queueWaitAvgSeconds || 0)));
  const svg = newChart('wait', 'Queue wait per minute over the last hour, average and maximum, in seconds');
  svg.append(s('title', {}, 'Queue wait per minute: average and maximum (seconds)'));
  const f = chartFrame(svg, {start, end, yMax: max, yLabel: 'wait (s)', xLabel: 'time (local)'});
  const withClaims = buckets.filter((b) => (b.claims || 0) > 0 || b.queueWaitMaxSeconds || b.queueWaitAvgSeconds);
  for (const [field, cls] of [['queueWaitMaxSeconds', 'max'], ['queueWaitAvgSeconds', 'avg']]) {
    const pts = withClaims.map((b) => [f.xs(Date.parse(b.start) + bucketMs / 2), f.ys(b[field] || 0)]);
    if (pts.length > 1) svg.append(s('polyline', {points: pts.map((p) => p.join(',')).join(' '), class: `line ${cls}`}));
  }
  const dots = s('g', {class: 'dots'});
  for (const b of withClaims) {
    const t = Date.parse(b.start);
    const x = f.xs(t + bucketMs / 2);
    const tip = `${fmtClock(new Date(t))}: avg ${fmtNum(b.queueWaitAvgSeconds || 0)} s, max ${fmtNum(b.queueWaitMaxSeconds || 0)} s, ` +
      `${b.claims || 0} claims`;
    const g = s('g', {class: 'bucket'});
    g.append(s('title', {}, tip));
    const xa = f.xs(t);
    g.append(s('rect', {x: xa, y: f.y1, width: Math.max(1, f.xs(t + bucketMs) - xa), height: f.y0 - f.y1, class: 'hover'}));
    g.append(s('circle', {cx: x, cy: f.ys(b.queueWaitMaxSeconds || 0), r: 2.5, class: 'dot max'}));
    g.append(s('circle', {cx: x, cy: f.ys(b.queueWaitAvgSeconds || 0), r: 2.5, class: 'dot avg'}));
    dots.append(g);
  }
  svg.append(dots);
  if (withClaims.length === 0) {
    svg.append(s('text', {x: (f.x0 + f.x1) / 2, y: (f.y0 + f.y1) / 2, 'text-anchor': 'middle', class: 'empty'},
      'no claims in the last hour'));
  }
  return h('figure', {className: 'chart-box'}, svg, legend([['max', 'max'], ['avg', 'average']]));
}

// ---------------------------------------------------------------- start

async function fillKindsNav() {
  const sel = $('#nav-kinds');
  try {
    const kinds = await loadKinds();
    for (const k of kinds) sel.append(h('option', {value: k.name}, k.name));
    const {path} = parseHash();
    const m = /^\/kinds\/(.+)$/.exec(path);
    if (m) sel.value = decodeURIComponent(m[1]);
  } catch (e) {
    if (e.status !== 403) showBanner(`Kinds: ${e.message}`);
  }
}

async function start() {
  $('#sign-out').addEventListener('click', signOut);
  $('#nav-kinds').addEventListener('change', (ev) => {
    if (ev.target.value) location.hash = kindHref(ev.target.value);
  });
  const tokenDlg = $('#token-dialog');
  // The prompt stays until a token is given: nothing works without one.
  tokenDlg.addEventListener('cancel', (ev) => ev.preventDefault());
  window.addEventListener('hashchange', route);
  try {
    await loadSession();
  } catch (e) {
    showBanner(`Session: ${e.message}`);
  }
  fillKindsNav();
  route();
}

start();
