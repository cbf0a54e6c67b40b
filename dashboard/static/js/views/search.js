// Search: a transaction by id or hash, a block by height, or anything with an
// id (VM, cloud, migration, agreement, invoice, violation, report, oracle).
// One match opens it; several are listed.

import * as api from '../api.js';
import { h, replace, link } from '../dom.js';
import { findTx } from './blocks.js';

function go(route) {
  location.replace(route); // the search itself stays out of the history
}

export async function render(root, ctx) {
  const q = (ctx.query.get('q') || '').trim();
  ctx.title('Search ' + q);
  const out = h('div', { 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Searching…'));
  root.append(h('h1', {}, 'Search: ', h('span', { class: 'mono' }, q)), out);
  document.getElementById('q').value = q;
  if (!q) {
    replace(out, h('p', {}, 'Type a transaction id or hash, a block height, or a VM, cloud, migration, agreement or invoice id.'));
    return;
  }
  if (/^#?\d+$/.test(q)) {
    go('#/block/' + q.replace('#', ''));
    return;
  }
  if (/^[0-9a-fA-F]{64}$/.test(q)) {
    const tx = await findTx(q);
    if (!ctx.alive) return;
    if (tx && tx.tx) {
      go('#/tx/' + tx.tx);
      return;
    }
    replace(out, h('p', { class: 'error', role: 'alert' }, 'No committed transaction has the id or hash ', h('code', {}, q), ' in this node\'s recent blocks.'));
    return;
  }
  const enc = encodeURIComponent(q);
  const kinds = [
    ['VM', '/v1/vms/' + enc, () => '#/vm/' + enc],
    ['cloud', '/v1/clouds/' + enc, () => '#/cloud/' + enc],
    ['migration', '/v1/migrations/' + enc, (m) => '#/vm/' + encodeURIComponent(m.vm)],
    ['agreement', '/v1/agreements/' + enc, (a) => '#/cloud/' + encodeURIComponent(a.provider)],
    ['invoice', '/v1/invoices/' + enc, () => '#/invoice/' + enc],
    ['violation', '/v1/violations/' + enc, (v) => '#/vm/' + encodeURIComponent(v.vm)],
    ['report', '/v1/reports/' + enc, (r) => '#/vm/' + encodeURIComponent(r.vm)],
  ];
  const found = (await Promise.all(kinds.map(async ([what, path, route]) => {
    try {
      const rec = await api.getOr(path, null);
      return rec ? { what, route: route(rec), rec } : null;
    } catch {
      return null; // a malformed id for this kind
    }
  }))).filter(Boolean);
  if (!ctx.alive) return;
  if (found.length === 1) {
    go(found[0].route);
    return;
  }
  if (!found.length) {
    replace(out, h('p', { class: 'error', role: 'alert' }, 'Nothing on the ledger has the id ', h('code', {}, q), '.'));
    return;
  }
  replace(out, h('p', {}, 'Several records have this id:'),
    h('ul', {}, found.map((m) => h('li', {}, link(m.route, 'the ' + m.what + ' ' + q)))));
}
