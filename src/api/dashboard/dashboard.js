// The dashboard's script: reads GET /dashboard/state and redraws the page from it whenever the
// node's event stream (GET /dashboard/events, server-sent `changed` hints) says the market
// changed, and polls slowly besides, for changes no event announces (other nodes, offers). While
// the stream is down (an old proxy, a node at its stream limit) it polls every few seconds. An
// API key typed into the page is kept in this tab's sessionStorage only and sent as
// `Authorization: Bearer`; the node decides what that key may see (the event stream itself
// carries nothing but "read again"). Everything the market sends is put in the page as text
// (textContent), never as markup: task ids, addresses and capabilities come from customers and
// providers.
/* global document, window, sessionStorage */

/** The poll while the event stream is down. */
const POLL_MS = 2000;
/** The fallback poll while the stream is open; `?poll=SECONDS` in the page's address sets it. */
const FALLBACK_POLL_MS = (() => {
  const s = Number(new window.URLSearchParams(window.location.search).get('poll'));
  return Number.isFinite(s) && s > 0 ? s * 1000 : 15000;
})();
/** After a failed poll, wait longer each time (up to this), so a node that is down is not hammered. */
const MAX_BACKOFF_MS = 30000;
const KEY_ITEM = 'taskmarket.apiKey';

/** The key in use: in memory, and in sessionStorage so that a reload in this tab keeps it. */
let apiKey = '';
let timer = null;
let failures = 0;
let inFlight = null;
/** A read was asked for while one was in flight: read once more after it. */
let again = false;
let streamOpen = false;

function storedKey() {
  try {
    return sessionStorage.getItem(KEY_ITEM) ?? '';
  } catch {
    return '';
  }
}

function storeKey(key) {
  apiKey = key;
  try {
    if (key) sessionStorage.setItem(KEY_ITEM, key);
    else sessionStorage.removeItem(KEY_ITEM);
  } catch {
    // Storage may be off (private windows); the key then lives in the input only.
  }
}

/** An element with attributes and children (strings become text nodes). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    node.append(c instanceof window.Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** A table: `rows` are arrays of cells (text or elements); `empty` is shown when there are none. */
function table(headers, rows, empty) {
  if (rows.length === 0) return el('p', { class: 'empty' }, empty);
  return el(
    'table',
    {},
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        headers.map((h) => el('th', {}, h)),
      ),
    ),
    el(
      'tbody',
      {},
      rows.map((r) =>
        el(
          'tr',
          {},
          r.map((c) => el('td', {}, c)),
        ),
      ),
    ),
  );
}

function facts(pairs) {
  return el(
    'dl',
    { class: 'facts' },
    pairs.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]),
  );
}

const dash = (v) => (v === null || v === undefined ? '—' : v);
const shortId = (id) => el('code', { title: id }, id.length > 14 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id);
const badge = (text, kind) => el('span', { class: `badge ${kind ?? ''}` }, text);

function needsKey(what) {
  return el('p', { class: 'empty' }, `Enter an API key to see ${what}.`);
}

function put(id, content) {
  const body = document.querySelector(`#${id} .body`);
  body.replaceChildren(content);
}

function renderLanes(s) {
  const mode = document.getElementById('admission-mode');
  mode.textContent = s.admission.mode;
  mode.className = `badge ${s.admission.mode}`;
  const rows = Object.entries(s.lanes).map(([lane, v]) => [
    lane,
    String(v.queued),
    String(v.running),
    v.deferred ? badge('deferred', 'tight') : badge('flowing', 'loose'),
  ]);
  put(
    'lanes',
    el(
      'div',
      {},
      table(['lane', 'queued', 'running', 'state'], rows, 'no lanes'),
      facts([
        ['market', s.admission.mode === 'tight' ? 'tight: industrial work waits' : 'loose'],
        ['admission', s.admission.enabled ? 'on' : 'off'],
        ['capacity', `${s.admission.capacity} units/s (minimum ${s.admission.min_capacity})`],
      ]),
    ),
  );
}

function renderPriceBoard(s) {
  const rows = Object.entries(s.price_board).map(([lane, b]) => [
    lane,
    dash(b.p25),
    dash(b.median),
    dash(b.p75),
    String(b.backlog),
    dash(b.suggested_bid),
  ]);
  put('price-board', table(['lane', 'p25', 'median', 'p75', 'backlog', 'suggested bid'], rows, 'no prices'));
}

function capabilityText(c) {
  const hw = c.gpu_model ? `${c.gpu_count}× ${c.gpu_model}` : `${c.cpu_cores} CPU cores`;
  return `${hw} · ${c.challenge_types.join(', ')}`;
}

function renderProviders(s) {
  const p = s.providers;
  const summary = facts([
    ['connected', String(p.connected)],
    ['capacity claimed', `${p.capacity_claimed} units/s`],
    [
      'capacity verified',
      p.capacity_verified === null ? 'not measured yet' : `${p.capacity_verified} units/s`,
    ],
  ]);
  const parts = [summary];
  if (p.sessions) {
    const rows = p.sessions.map((x) => [
      shortId(x.address),
      String(x.reputation),
      `${x.running}/${x.slots}`,
      dash(x.price_per_unit),
      dash(x.effective_price),
      String(x.capacity_claimed),
      x.capacity_verified === null ? 'not measured' : String(x.capacity_verified),
      capabilityText(x.capability),
    ]);
    parts.push(
      table(
        ['address', 'reputation', 'running', 'price', 'effective', 'claimed', 'verified', 'capability'],
        rows,
        'no provider connected to this node',
      ),
    );
  } else parts.push(el('p', { class: 'empty' }, 'The operator key shows each provider and its reputation.'));
  put('providers', el('div', {}, parts));
}

function renderOffers(s) {
  if (!s.offers) return put('offers', needsKey('the open offers'));
  const rows = s.offers.items.map((o) => [
    shortId(o.provider),
    String(o.units),
    o.price_per_unit,
    String(o.fee_pct_ct),
    capabilityText(o.capability),
  ]);
  put(
    'offers',
    el(
      'div',
      {},
      table(['provider', 'units (claimed)', 'price per unit', 'CT %', 'capability'], rows, 'no open offers'),
      s.offers.total > rows.length ? el('p', { class: 'more' }, `${s.offers.total} in all`) : null,
    ),
  );
}

function renderTasks(s) {
  if (!s.tasks) return put('tasks', needsKey('your tasks'));
  const rows = s.tasks.items.map((t) => [
    el('code', { class: 'task-id' }, t.task_id),
    t.challenge_type,
    badge(t.status, t.status),
    t.reward,
  ]);
  const whose = s.viewer === 'operator' ? 'every account' : 'yours';
  put(
    'tasks',
    el(
      'div',
      {},
      table(['task', 'type', 'status', 'reward'], rows, 'no tasks yet'),
      el('p', { class: 'more' }, `${s.tasks.total} in all (${whose})`),
    ),
  );
}

function renderSettlement(s) {
  const pairs = [['mode', badge(s.settlement.mode, s.settlement.mode)]];
  if (s.settlement.balances)
    for (const [k, v] of Object.entries(s.settlement.balances)) pairs.push([k, `${v} CPC`]);
  put('settlement', facts(pairs));
}

function renderCourier(s) {
  if (!s.courier) return put('courier', needsKey('the courier outbox'));
  const c = s.courier;
  if (c.chain === 'off') return put('courier', el('p', { class: 'empty' }, 'No chain is configured.'));
  const parts = [
    facts([
      ['chain', c.chain],
      ['sender', dash(c.sender)],
    ]),
  ];
  if (c.outbox)
    parts.push(
      table(
        ['status', 'entries'],
        Object.entries(c.outbox).map(([k, v]) => [k, String(v)]),
        'empty',
      ),
    );
  if (c.held && c.held.length > 0)
    parts.push(
      el('h3', {}, 'held for a decision'),
      table(
        ['id', 'kind', 'nonce', 'reason'],
        c.held.map((h) => [String(h.id), h.kind, dash(h.nonce), dash(h.reason)]),
        'none',
      ),
    );
  put('courier', el('div', {}, parts));
}

function render(s) {
  const viewer = document.getElementById('viewer');
  viewer.textContent = s.viewer === 'public' ? 'public view' : `${s.viewer} view`;
  viewer.className = `badge ${s.viewer}`;
  document.body.dataset.viewer = s.viewer;
  renderLanes(s);
  renderPriceBoard(s);
  renderProviders(s);
  renderOffers(s);
  renderTasks(s);
  renderSettlement(s);
  renderCourier(s);
}

function showError(message) {
  const p = document.getElementById('error');
  p.textContent = message;
  p.hidden = !message;
}

/** Counts an event on the page (data-hints, data-reads …), for people and tests to see. */
function count(name) {
  document.body.dataset[name] = String(Number(document.body.dataset[name] ?? '0') + 1);
}

async function poll() {
  const key = apiKey;
  const headers = { accept: 'application/json' };
  if (key) headers.authorization = `Bearer ${key}`;
  const live = document.getElementById('live');
  try {
    const res = await window.fetch('dashboard/state', { headers, cache: 'no-store' });
    const body = await res.json();
    if (res.status === 401 && key) {
      // A refused key is forgotten: the page goes on with what anyone may see.
      storeKey('');
      document.getElementById('api-key').value = '';
      showError(`The key was refused: ${body.error?.message ?? 'unauthorized'}. Showing the public view.`);
      return poll();
    }
    if (!res.ok) throw new Error(body.error?.message ?? `HTTP ${res.status}`);
    render(body);
    failures = 0;
    const how = streamOpen ? 'live' : 'polling';
    live.textContent = `${how} · updated ${new Date().toLocaleTimeString()}`;
    live.className = 'live ok';
    count('updates');
  } catch (err) {
    failures += 1;
    live.textContent = `offline: ${err.message}`;
    live.className = 'live down';
  }
}

function schedule(delayMs) {
  window.clearTimeout(timer);
  timer = window.setTimeout(tick, delayMs);
}

async function tick() {
  // One read at a time; a change announced during a read gets one more read after it, so the
  // page never stops at a state older than the last hint.
  if (inFlight) {
    again = true;
    return;
  }
  do {
    again = false;
    inFlight = poll();
    await inFlight;
    inFlight = null;
  } while (again && !document.hidden);
  if (document.hidden) return; // visibilitychange reads again
  const next = streamOpen ? FALLBACK_POLL_MS : POLL_MS;
  schedule(failures === 0 ? next : Math.min(MAX_BACKOFF_MS, next * 2 ** failures));
}

/** Follows GET /dashboard/events; EventSource reconnects by itself after an error. */
function follow() {
  if (typeof window.EventSource !== 'function') return;
  const stream = new window.EventSource('dashboard/events');
  stream.addEventListener('ready', () => {
    streamOpen = true;
    document.body.dataset.stream = 'open';
    schedule(0);
  });
  stream.addEventListener('changed', () => {
    count('hints');
    if (!document.hidden) schedule(0);
  });
  stream.addEventListener('error', () => {
    // Until it is back, the page polls every POLL_MS.
    if (streamOpen) schedule(POLL_MS);
    streamOpen = false;
    document.body.dataset.stream = 'down';
  });
}

function start() {
  const form = document.getElementById('key-form');
  const input = document.getElementById('api-key');
  apiKey = storedKey();
  input.value = apiKey;
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    storeKey(input.value.trim());
    showError('');
    schedule(0);
  });
  document.getElementById('key-forget').addEventListener('click', () => {
    input.value = '';
    storeKey('');
    showError('');
    schedule(0);
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) schedule(0);
  });
  follow();
  schedule(0);
}

start();
