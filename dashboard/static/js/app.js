// The dashboard's shell: hash routes to views, the live connection to the
// node's event stream (or polling when the node has none), the search box and
// the token prompt. Views live in ./views/ and render into <main>.

import * as api from './api.js';
import { h, replace, errorBox } from './dom.js';
import * as overview from './views/overview.js';
import * as vms from './views/vms.js';
import * as graph from './views/graph.js';
import * as feed from './views/feed.js';
import * as sla from './views/sla.js';
import * as blocks from './views/blocks.js';
import * as cloud from './views/cloud.js';
import * as search from './views/search.js';

const routes = [
  { re: /^\/?$/, tab: 'overview', view: overview.render },
  { re: /^\/vms$/, tab: 'vms', view: vms.renderList },
  { re: /^\/vm\/(.+)$/, tab: 'vms', view: vms.renderVM },
  { re: /^\/cloud\/(.+)$/, tab: 'overview', view: cloud.render },
  { re: /^\/graph$/, tab: 'graph', view: graph.render },
  { re: /^\/live$/, tab: 'live', view: feed.render },
  { re: /^\/sla$/, tab: 'sla', view: sla.render },
  { re: /^\/invoice\/(.+)$/, tab: 'sla', view: sla.renderInvoice },
  { re: /^\/blocks$/, tab: 'blocks', view: blocks.renderList },
  { re: /^\/block\/(\d+)$/, tab: 'blocks', view: blocks.renderBlock },
  { re: /^\/tx\/([0-9A-Fa-f]{64})$/, tab: 'blocks', view: blocks.renderTx },
  { re: /^\/search$/, tab: '', view: search.render },
];

// What the dashboard knows of the chain, kept current by the live connection.
const chain = { status: null, height: 0, mode: 'connecting', detail: '' };

// The most recent ledger events, oldest first, for the live feed.
const FEED_MAX = 500;
const events = [];
const eventListeners = new Set();

function publish(ev) {
  events.push(ev);
  if (events.length > FEED_MAX) events.splice(0, events.length - FEED_MAX);
  if (ev.height > chain.height) chain.height = ev.height;
  showLive();
  eventListeners.forEach((fn) => { try { fn(ev); } catch (e) { console.error(e); } });
}

function showLive() {
  const text = document.getElementById('live-text');
  const box = document.getElementById('live');
  box.dataset.mode = chain.mode;
  const height = chain.height ? ' · block ' + chain.height.toLocaleString('en') : '';
  const what = {
    open: 'live',
    polling: 'polling every 2 s',
    retrying: 'reconnecting…',
    connecting: 'connecting…',
  }[chain.mode] || chain.mode;
  text.textContent = what + height;
  box.title = chain.detail || '';
}

let stopStream = null;
let pollTimer = null;

async function refreshStatus() {
  try {
    const st = await api.get('/v1/status');
    chain.status = st;
    const grew = st.latest_height > chain.height;
    const before = chain.height;
    chain.height = Math.max(chain.height, st.latest_height);
    document.getElementById('chain').textContent = st.chain_id + ' · node of ' + st.cloud;
    showLive();
    // Without an event stream, a new height stands in for the events.
    if (chain.mode === 'polling' && grew && before > 0) {
      publish({ type: 'block', height: st.latest_height, time: st.latest_block_time, attrs: {}, id: String(st.latest_height) });
    }
  } catch (e) {
    chain.detail = e.message;
    showLive();
  }
}

async function startLive() {
  if (stopStream) stopStream();
  clearInterval(pollTimer);
  await refreshStatus();
  // Begin a few blocks back, so that the feed opens with recent events.
  const after = String(Math.max(0, chain.height - 10));
  stopStream = api.stream({}, {
    after,
    onEvent(type, data) {
      if (type === 'gap') {
        publish({ type: 'gap', height: chain.height, attrs: {}, message: data && data.message, id: '' });
        return;
      }
      if (data && typeof data === 'object') publish(data);
    },
    onState(state, detail) {
      chain.mode = state === 'unsupported' ? 'polling' : state;
      chain.detail = detail || '';
      showLive();
      clearInterval(pollTimer);
      // Events carry heights; a slow poll still shows blocks that have none.
      pollTimer = setInterval(refreshStatus, chain.mode === 'polling' ? 2000 : 10000);
    },
  });
}

// Each render gets a context; what it registers is undone when the route changes.
let current = null;

function makeContext(params, query) {
  const cleanups = [];
  const ctx = {
    params,
    query,
    chain,
    events,
    alive: true,
    /** onEvent calls fn for every new ledger event while this view is shown. */
    onEvent(fn) {
      eventListeners.add(fn);
      cleanups.push(() => eventListeners.delete(fn));
    },
    /** refreshOn re-runs fn, at most once a second, after events that match. */
    refreshOn(match, fn) {
      let timer = null;
      let last = 0;
      ctx.onEvent((ev) => {
        if (!match(ev) || timer) return;
        const wait = Math.max(250, 1000 - (Date.now() - last));
        timer = setTimeout(async () => {
          timer = null;
          last = Date.now();
          if (ctx.alive) await fn();
        }, wait);
      });
      cleanups.push(() => clearTimeout(timer));
    },
    cleanup(fn) { cleanups.push(fn); },
    dispose() {
      ctx.alive = false;
      cleanups.forEach((fn) => fn());
    },
    title(t) { document.title = t + ' · bbus'; },
  };
  return ctx;
}

async function route(focus) {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [encPath, qs] = raw.split('?');
  let path = encPath;
  try { path = decodeURIComponent(encPath); } catch { /* keep it as it is */ }
  const query = new URLSearchParams(qs || '');
  let match = null;
  let r = null;
  for (const cand of routes) {
    match = path.match(cand.re);
    if (match) { r = cand; break; }
  }
  if (current) current.dispose();
  // The search box shows a search only while its results are shown.
  if (!r || r.view !== search.render) document.getElementById('q').value = '';
  document.querySelectorAll('nav.tabs a').forEach((a) => {
    if (r && a.dataset.tab === r.tab) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
  const main = document.getElementById('main');
  const ctx = makeContext(match ? match.slice(1) : [], query);
  current = ctx;
  const root = h('div', { class: 'view' });
  replace(main, root);
  if (!r) {
    ctx.title('Not found');
    replace(root, h('h1', {}, 'Nothing here'), h('p', {}, 'No view for ', h('code', {}, raw), '. ', h('a', { href: '#/' }, 'Back to the overview'), '.'));
    return;
  }
  try {
    await r.view(root, ctx);
  } catch (e) {
    if (ctx.alive) root.append(errorBox(e));
  }
  if (focus && ctx.alive) {
    const h1 = root.querySelector('h1');
    if (h1) { h1.tabIndex = -1; h1.focus({ preventScroll: false }); }
  }
}

function showAuth(message) {
  const box = document.getElementById('auth');
  if (!box.hidden) return;
  const input = h('input', { id: 'token', type: 'password', autocomplete: 'off', required: true });
  box.hidden = false;
  replace(box, h('form', {
    class: 'auth card',
    onsubmit(e) {
      e.preventDefault();
      api.setToken(input.value.trim());
      box.hidden = true;
      startLive();
      route(false);
    },
  },
  h('p', { role: 'alert' }, message || 'This node wants a token for reads.'),
  h('label', { for: 'token' }, 'API token (bbus token create --scope read)'),
  input, ' ', h('button', { type: 'submit' }, 'Use token')));
}

function init() {
  api.onAuthNeeded(showAuth);
  document.getElementById('search').addEventListener('submit', (e) => {
    e.preventDefault();
    const q = document.getElementById('q').value.trim();
    if (!q) return;
    const target = '#/search?q=' + encodeURIComponent(q);
    if (location.hash === target) route(true); else location.hash = target;
  });
  window.addEventListener('hashchange', () => route(true));
  startLive();
  route(false);
}

init();
