// The node's REST API, as the dashboard calls it: JSON reads under /v1, a
// bearer token when the node wants one (kept for this tab only), and the
// server-sent event stream read with fetch so that it can carry the token too.

const TOKEN_KEY = 'bbus.token';

/** APIError is an error answer of the API: its HTTP status and bbus code. */
export class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const authListeners = new Set();

/** onAuthNeeded calls fn when the node refuses a read for want of a token. */
export function onAuthNeeded(fn) { authListeners.add(fn); }

export function token() {
  try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}

export function setToken(t) {
  try {
    if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY);
  } catch { /* storage disabled: the token lasts until reload */ }
  memoryToken = t;
}

let memoryToken = '';

function headers(extra = {}) {
  const t = token() || memoryToken;
  return t ? { ...extra, Authorization: 'Bearer ' + t } : extra;
}

/** url builds an API path with query parameters (empty values left out). */
export function url(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const qs = q.toString();
  return qs ? path + '?' + qs : path;
}

/** get reads path and returns its JSON, or throws an APIError. */
export async function get(path, params, { signal } = {}) {
  let res;
  try {
    res = await fetch(url(path, params), { headers: headers({ Accept: 'application/json' }), signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new APIError(0, 'unavailable', 'the node did not answer: ' + e.message);
  }
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) {
    const err = body && body.error ? body.error : { code: 'http_' + res.status, message: res.status + ' ' + res.statusText };
    if (res.status === 401) authListeners.forEach((fn) => fn(err.message));
    throw new APIError(res.status, err.code, err.message);
  }
  return body;
}

/** getOr reads path, answering fallback when it does not exist (404). */
export async function getOr(path, fallback, params) {
  try {
    return await get(path, params);
  } catch (e) {
    if (e.status === 404) return fallback;
    throw e;
  }
}

/**
 * all reads every page of a list, up to maxPages pages of limit items, and
 * returns {items, more}: more is true when the list goes on past what was read.
 */
export async function all(path, params = {}, maxPages = 10, limit = 1000) {
  const items = [];
  let after = '';
  for (let i = 0; i < maxPages; i++) {
    const page = await get(path, { ...params, limit, after });
    items.push(...page.items);
    if (!page.next) return { items, more: false };
    after = page.next;
  }
  return { items, more: true };
}

/** download fetches path with the caller's token and saves it as name. */
export async function download(path, name) {
  const res = await fetch(path, { headers: headers() });
  if (!res.ok) {
    let msg = res.status + ' ' + res.statusText;
    try { msg = (await res.json()).error.message; } catch { /* keep the status */ }
    throw new APIError(res.status, '', msg);
  }
  const blob = await res.blob();
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

let openAPI = null;

/** hasRoute reports whether the node's OpenAPI document lists path (for GET). */
export async function hasRoute(path) {
  if (!openAPI) {
    openAPI = get('/v1/openapi.json').catch(() => ({ paths: {} }));
  }
  const doc = await openAPI;
  return Boolean(doc.paths && doc.paths[path] && doc.paths[path].get);
}

/**
 * stream follows GET /v1/events: it calls onEvent(type, data, id) for each
 * event, onState(state, detail) as the connection opens ("open"), drops
 * ("retrying") or cannot be had ("unsupported"), and reconnects with the last
 * id it saw, so nothing the node still holds is missed. after starts the
 * stream after that event id ("0": from the oldest the node holds). It returns
 * a function that stops it.
 */
export function stream(params, { onEvent, onState, after }) {
  let stopped = false;
  let lastID = after || '';
  let retry = 1000;
  let ctrl = null;

  async function connect() {
    ctrl = new AbortController();
    const h = headers({ Accept: 'text/event-stream' });
    if (lastID) h['Last-Event-ID'] = lastID;
    let res;
    try {
      res = await fetch(url('/v1/events', params), { headers: h, signal: ctrl.signal, cache: 'no-store' });
    } catch (e) {
      return schedule(e.message);
    }
    if (!res.ok || !res.body) {
      let msg = res.status + ' ' + res.statusText;
      try { msg = (await res.json()).error.message; } catch { /* keep the status */ }
      if (res.status === 401) {
        // No retrying without a token: the page starts a new stream once it has one.
        authListeners.forEach((fn) => fn(msg));
        onState('retrying', msg);
        return undefined;
      }
      if (res.status === 404 || res.status === 503) {
        onState('unsupported', msg);
        return undefined;
      }
      return schedule(msg);
    }
    onState('open');
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    let ev = { type: 'message', data: [], id: '' };
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let nl;
        while ((nl = buf.search(/\r\n|\n|\r/)) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(buf[nl] === '\r' && buf[nl + 1] === '\n' ? nl + 2 : nl + 1);
          if (line === '') {
            if (ev.data.length) {
              if (ev.id) lastID = ev.id;
              let data = ev.data.join('\n');
              try { data = JSON.parse(data); } catch { /* leave as text */ }
              onEvent(ev.type, data, ev.id);
            }
            ev = { type: 'message', data: [], id: '' };
            continue;
          }
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          let val = colon < 0 ? '' : line.slice(colon + 1);
          if (val.startsWith(' ')) val = val.slice(1);
          if (field === 'event') ev.type = val;
          else if (field === 'data') ev.data.push(val);
          else if (field === 'id') ev.id = val;
          else if (field === 'retry' && /^\d+$/.test(val)) retry = Number(val);
        }
      }
    } catch (e) {
      if (stopped) return undefined;
      return schedule(e.message);
    }
    return schedule('the stream ended');
  }

  function schedule(why) {
    if (stopped) return;
    onState('retrying', why);
    setTimeout(() => { if (!stopped) connect(); }, retry);
  }

  connect();
  return () => { stopped = true; if (ctrl) ctrl.abort(); };
}
