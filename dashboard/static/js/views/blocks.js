// Block explorer: the latest blocks, one block's transactions decoded, and one
// transaction with what it signed.

import * as api from '../api.js';
import { h, section, table, swap, badge, link, errorBox, replace } from '../dom.js';
import * as f from '../fmt.js';

const PAGE = 20;

/** proposerName maps a validator address to its cloud, if the status knows it. */
function proposerName(status, addr) {
  const v = status && status.validators.find((x) => x.address === addr);
  return v && v.cloud ? f.cloudLink(v.cloud) : h('span', { class: 'mono' }, f.short(addr, 8));
}

async function fetchBlocks(top, n) {
  const hs = [];
  for (let x = top; x > 0 && hs.length < n; x--) hs.push(x);
  const got = await Promise.all(hs.map((x) => api.getOr('/v1/blocks/' + x, null)));
  return got.filter(Boolean);
}

function blockRow(b, status) {
  const rejected = b.txs.filter((t) => t.code).length;
  return h('tr', { dataset: { height: String(b.height) } },
    h('td', {}, link('#/block/' + b.height, '#' + f.num(b.height))),
    h('td', {}, f.time(b.time)),
    h('td', { class: 'num' }, f.num(b.txs.length), rejected ? [' ', badge(rejected + ' rejected', 'rejected')] : null),
    h('td', {}, summarize(b.txs)),
    h('td', {}, proposerName(status, b.proposer)),
    h('td', { class: 'mono' }, f.short(b.hash, 10)));
}

function summarize(txs) {
  const m = new Map();
  txs.forEach((t) => m.set(t.type || '?', (m.get(t.type || '?') || 0) + 1));
  return [...m.entries()].map(([k, n]) => (n > 1 ? n + '× ' : '') + k).join(', ') || '—';
}

export async function renderList(root, ctx) {
  ctx.title('Blocks');
  const body = h('div', {});
  const more = h('button', { type: 'button', id: 'older' }, 'Show ' + PAGE + ' older blocks');
  root.append(h('h1', {}, 'Blocks'),
    h('p', { class: 'muted' }, 'Search above finds a transaction by its id or hash, a block by its height, a VM or a cloud by its id.'),
    body, h('p', {}, more));
  let status = await api.get('/v1/status');
  let blocks = await fetchBlocks(status.latest_height, PAGE);
  const show = () => {
    more.hidden = !blocks.length || blocks[blocks.length - 1].height <= 1;
    swap(body, table('Latest blocks (blocks are made only when there are transactions, and at least every 30 s)',
      ['Height', 'Time', 'Transactions', 'Types', 'Proposer', 'Hash'], blocks.map((b) => blockRow(b, status)), { id: 'blocks' }));
  };
  show();
  more.addEventListener('click', async () => {
    const low = blocks.length ? blocks[blocks.length - 1].height - 1 : status.latest_height;
    blocks = blocks.concat(await fetchBlocks(low, PAGE));
    if (ctx.alive) show();
  });
  ctx.refreshOn((ev) => !blocks.length || ev.height > blocks[0].height, async () => {
    status = await api.get('/v1/status');
    const top = blocks.length ? blocks[0].height : 0;
    const fresh = await fetchBlocks(status.latest_height, Math.min(PAGE, status.latest_height - top));
    blocks = fresh.concat(blocks);
    if (ctx.alive) show();
  });
}

/** actionOf returns a transaction body's action type and fields. */
function actionOf(body) {
  const [type, fields] = Object.entries(body.action || {})[0] || ['?', {}];
  return { type, fields: fields || {} };
}

const CLOUD_FIELDS = new Set(['to', 'cloud', 'provider', 'consumer']);

function fieldValue(k, v) {
  if (k === 'vm') return f.vmLink(v);
  if (CLOUD_FIELDS.has(k)) return f.cloudLink(v);
  if (k === 'invoice') return link('#/invoice/' + v, v);
  if (k === 'migration' || k === 'agreement') return link('#/search?q=' + encodeURIComponent(v), v);
  if (/_micro$/.test(k)) return f.amount(v) + ' credits';
  if (/_mpct$/.test(k)) return f.pct(v);
  if ((k === 'start' || k === 'end' || k === 'until') && typeof v === 'number') return f.isoTime(new Date(v * 1000).toISOString()) + ' (' + v + ')';
  if (typeof v === 'object') return h('code', {}, JSON.stringify(v));
  return h('span', { class: typeof v === 'string' && v.length > 40 ? 'mono wrap' : '' }, String(v));
}

/** actionFacts shows the fields of what was signed. */
export function actionFacts(body) {
  const { type, fields } = actionOf(body);
  const flat = [];
  for (const [k, v] of Object.entries(fields)) {
    if (k === 'tags' && Array.isArray(v)) flat.push([k, v.map((t) => t.key + '=' + t.value).join(', ')]);
    else flat.push([k, v]);
  }
  return h('dl', { class: 'facts action', dataset: { action: type } },
    h('dt', {}, 'Action'), h('dd', {}, h('strong', {}, type)),
    flat.map(([k, v]) => [h('dt', {}, k), h('dd', {}, fieldValue(k, v))]));
}

function txRow(t, decodeNow) {
  const details = h('details', { class: 'tx-body', dataset: { tx: t.tx || '' } }, h('summary', {}, 'What was signed'));
  let loaded = false;
  const load = async () => {
    if (loaded || !t.tx) return;
    loaded = true;
    try {
      const tx = await api.get('/v1/txs/' + t.tx);
      details.append(tx.body ? actionFacts(tx.body) : h('p', { class: 'muted' }, 'Not decodable.'));
    } catch (e) {
      details.append(errorBox(e));
    }
  };
  details.addEventListener('toggle', () => { if (details.open) load(); });
  if (decodeNow) {
    details.open = true;
    load();
  }
  return h('tr', { dataset: { tx: t.tx || '', hash: t.hash } },
    h('td', { class: 'num' }, String(t.index || 0)),
    h('td', {}, t.type ? h('strong', {}, t.type) : '?'),
    h('td', {}, t.signer ? f.cloudLink(t.signer) : '—'),
    h('td', {}, t.code ? badge(t.code, 'rejected') : badge('applied', 'active'), t.message ? [' ', h('span', { class: 'small' }, t.message)] : null),
    h('td', {}, t.id ? f.idLink(t.id) : '—'),
    h('td', {}, t.tx ? link('#/tx/' + t.tx, f.short(t.tx, 10), { class: 'mono', title: 'transaction ' + t.tx }) : h('span', { class: 'mono' }, f.short(t.hash, 10))),
    h('td', {}, details));
}

export async function renderBlock(root, ctx) {
  const height = Number(ctx.params[0]);
  ctx.title('Block ' + height);
  const [b, status] = await Promise.all([api.get('/v1/blocks/' + height), api.get('/v1/status')]);
  if (!ctx.alive) return;
  const nav = h('p', { class: 'pager' },
    height > 1 ? link('#/block/' + (height - 1), '← Block #' + f.num(height - 1)) : null, ' ',
    height < status.latest_height ? link('#/block/' + (height + 1), 'Block #' + f.num(height + 1) + ' →') : h('span', { class: 'muted' }, 'latest block'));
  const decodeNow = b.txs.length <= 12;
  root.append(h('h1', {}, 'Block #' + f.num(height)), nav,
    h('dl', { class: 'facts' },
      h('dt', {}, 'Time'), h('dd', {}, f.time(b.time)),
      h('dt', {}, 'Hash'), h('dd', { class: 'mono wrap' }, b.hash),
      h('dt', {}, 'Previous block'), h('dd', { class: 'mono wrap' }, b.last_block_hash || '—'),
      h('dt', {}, 'App hash (state after the previous block)'), h('dd', { class: 'mono wrap' }, b.app_hash || '—'),
      h('dt', {}, 'Proposer'), h('dd', {}, proposerName(status, b.proposer))),
    section('Transactions',
      table(f.num(b.txs.length) + ' transaction' + (b.txs.length === 1 ? '' : 's') + ' in block order',
        ['#', 'Type', 'Signer', 'Result', 'Made or acted on', 'Transaction', 'Decoded'], b.txs.map((t) => txRow(t, decodeNow)), { id: 'block-txs' })));
}

/**
 * findTx finds a committed transaction by its bbus id or by its consensus
 * hash. The node finds ids itself; a hash it does not index, so the blocks
 * from the latest down are scanned, up to depth of them.
 */
export async function findTx(hex, depth = 300) {
  const id = hex.toLowerCase();
  const byID = await api.getOr('/v1/txs/' + id, null);
  if (byID) return byID;
  const want = hex.toUpperCase();
  const status = await api.get('/v1/status');
  for (let top = status.latest_height; top > 0 && top > status.latest_height - depth; top -= 10) {
    const bs = await fetchBlocks(top, 10);
    for (const b of bs) {
      const t = b.txs.find((x) => x.hash === want);
      if (t) return t.tx ? api.get('/v1/txs/' + t.tx) : { ...t, time: b.time, body: null };
    }
  }
  return null;
}

export async function renderTx(root, ctx) {
  const hex = ctx.params[0];
  ctx.title('Transaction ' + f.short(hex, 8));
  const head = h('h1', {}, 'Transaction');
  const body = h('div', {});
  root.append(head, body);
  replace(body, h('p', { class: 'muted' }, 'Looking for ', h('code', {}, hex), '…'));
  const tx = await findTx(hex);
  if (!ctx.alive) return;
  if (!tx) {
    replace(body, h('p', { class: 'error', role: 'alert' }, 'No committed transaction with id or hash ', h('code', {}, hex), ' in this node\'s recent blocks.'));
    return;
  }
  replace(head, 'Transaction ', h('span', { class: 'tx-type' }, tx.type || ''));
  let signed = '';
  try {
    signed = tx.raw ? new TextDecoder().decode(Uint8Array.from(atob(tx.raw), (c) => c.charCodeAt(0))) : '';
  } catch { signed = ''; }
  const b = tx.body || {};
  replace(body,
    h('dl', { class: 'facts', id: 'tx-facts' },
      h('dt', {}, 'Id (SHA-256 of the signed body)'), h('dd', { class: 'mono wrap', id: 'tx-id' }, tx.tx || '—'),
      h('dt', {}, 'Hash (SHA-256 of the whole transaction, as CometBFT names it)'), h('dd', { class: 'mono wrap', id: 'tx-hash' }, tx.hash),
      h('dt', {}, 'Block'), h('dd', {}, link('#/block/' + tx.height, '#' + f.num(tx.height)), ', position ', String(tx.index || 0), ' · ', f.time(tx.time)),
      h('dt', {}, 'Signer'), h('dd', {}, tx.signer ? f.cloudLink(tx.signer) : '—'),
      h('dt', {}, 'Result'), h('dd', {}, tx.code ? [badge(tx.code, 'rejected'), ' ', tx.message] : badge('applied', 'active')),
      h('dt', {}, 'Made or acted on'), h('dd', {}, tx.id ? f.idLink(tx.id) : '—'),
      b.chain_id ? [h('dt', {}, 'Chain'), h('dd', {}, b.chain_id)] : null,
      b.expires ? [h('dt', {}, 'Valid until'), h('dd', {}, f.isoTime(new Date(b.expires * 1000).toISOString()))] : null,
      b.nonce !== undefined ? [h('dt', {}, 'Nonce'), h('dd', { class: 'mono' }, String(b.nonce))] : null),
    tx.body ? section('What was signed', actionFacts(tx.body)) : null,
    signed ? section('Signed bytes', h('details', {}, h('summary', {}, 'The canonical transaction (' + f.num(signed.length) + ' bytes)'),
      h('pre', { class: 'wrap' }, signed))) : null);
}
