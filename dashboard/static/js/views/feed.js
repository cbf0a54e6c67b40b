// Live feed: ledger events as the node commits them, grouped by block, newest
// first, without reloading. The dashboard follows GET /v1/events from the
// moment it opens (starting a few blocks back); this view shows what it holds.

import { h, link, badge, replace } from '../dom.js';
import * as f from '../fmt.js';

const KINDS = [
  ['', 'every event'],
  ['migration', 'migrations'],
  ['vm', 'VMs'],
  ['cloud', 'clouds'],
  ['agreement', 'agreements'],
  ['report', 'oracle reports'],
  ['sla', 'SLA violations'],
  ['invoice', 'invoices'],
  ['offer', 'offers'],
  ['oracle', 'oracles'],
];

const SHOW_BLOCKS = 100;
// Under load a block can carry thousands of events: a block lists this many
// and counts the rest.
const SHOW_PER_BLOCK = 50;

/** describe renders what an event says, with links to what it names. */
export function describe(ev) {
  const a = ev.attrs || {};
  const cl = f.cloudLink;
  switch (ev.type.split('.')[0]) {
    case 'migration':
      return [h('span', { class: 'mono' }, a.migration), ': ', f.vmLink(a.vm), ' from ', cl(a.from), ' to ', cl(a.to)];
    case 'vm':
      return [f.vmLink(a.vm), ' on ', cl(a.cloud)];
    case 'cloud':
      return [cl(a.cloud), a.voter ? [' (vote of ', cl(a.voter), ')'] : null];
    case 'sla':
      return [h('span', { class: 'mono' }, a.violation), ': ', f.vmLink(a.vm), ' on ', cl(a.cloud), ' under ', a.agreement];
    case 'report':
      return [h('span', { class: 'mono' }, a.report), ' on ', f.vmLink(a.vm), ' by oracle ', a.oracle];
    case 'invoice':
      return [link('#/invoice/' + a.invoice, a.invoice), ': ', cl(a.provider), ' bills ', cl(a.consumer)];
    case 'agreement':
      return [h('span', { class: 'mono' }, a.agreement), ': ', cl(a.provider), ' provides to ', cl(a.consumer)];
    case 'offer':
      return [cl(a.cloud), ' published an offer'];
    case 'oracle':
      return [a.oracle, a.voter ? [' (vote of ', cl(a.voter), ')'] : null];
    default:
      return Object.entries(a).map(([k, v]) => k + '=' + v).join(' ');
  }
}

function eventItem(ev) {
  const kind = ev.type.split('.')[0];
  return h('li', { class: ['event', kind], dataset: { type: ev.type, id: ev.id || '' } },
    badge(ev.type, kind), ' ', describe(ev),
    ev.tx ? [' ', link('#/tx/' + ev.tx, 'tx ' + f.short(ev.tx, 6), { class: 'mono muted', title: 'transaction ' + ev.tx })] : null);
}

export async function render(root, ctx) {
  ctx.title('Live feed');
  const kind = h('select', { id: 'feed-kind' }, KINDS.map(([v, t]) => h('option', { value: v }, t)));
  kind.value = ctx.query.get('type') || '';
  const who = h('input', { id: 'feed-who', type: 'search', autocomplete: 'off', value: ctx.query.get('who') || '' });
  const pause = h('button', { type: 'button', 'aria-pressed': 'false', id: 'feed-pause' }, 'Pause');
  const list = h('ol', { id: 'feed', class: 'feed', role: 'log', 'aria-label': 'Ledger events, newest first' });
  const note = h('p', { class: 'muted small', id: 'feed-note' });
  root.append(h('h1', {}, 'Live feed'),
    h('p', { class: 'controls' },
      h('label', { for: 'feed-kind' }, 'Show '), kind, ' ',
      h('label', { for: 'feed-who' }, 'about VM or cloud '), who, ' ', pause),
    note, list);

  let paused = false;
  let pending = [];
  const groups = new Map(); // height -> {li, ul, n}

  const matches = (ev) => {
    if (kind.value && !ev.type.startsWith(kind.value + '.')) return false;
    const w = who.value.trim();
    if (w && !Object.values(ev.attrs || {}).includes(w)) return false;
    return true;
  };

  const group = (ev) => {
    let g = groups.get(ev.height);
    if (g) return g;
    const count = h('span', { class: 'muted' });
    const ul = h('ul', { class: 'events' });
    const li = h('li', { class: 'block-group', dataset: { height: String(ev.height) } },
      h('p', { class: 'block-head' }, link('#/block/' + ev.height, 'Block #' + f.num(ev.height)), ' · ', f.time(ev.time), ' · ', count),
      ul);
    g = { li, ul, count, n: 0 };
    groups.set(ev.height, g);
    // Keep blocks in descending height.
    const after = [...list.children].find((x) => Number(x.dataset.height) < ev.height);
    list.insertBefore(li, after || null);
    if (groups.size > SHOW_BLOCKS) {
      const oldest = Math.min(...groups.keys());
      groups.get(oldest).li.remove();
      groups.delete(oldest);
    }
    return g;
  };

  const add = (ev) => {
    if (ev.type === 'gap') {
      list.prepend(h('li', { class: 'gap' }, 'Some events were missed: ', ev.message || 'the node no longer holds them', '.'));
      return;
    }
    if (ev.type === 'block') {
      const g = group(ev);
      g.count.textContent = 'new block (this node streams no events; polling /v1/status)';
      return;
    }
    if (!matches(ev)) return;
    const g = group(ev);
    if (g.n < SHOW_PER_BLOCK) g.ul.prepend(eventItem(ev));
    g.n++;
    g.count.textContent = g.n + ' event' + (g.n === 1 ? '' : 's') +
      (g.n > SHOW_PER_BLOCK ? ' (the first ' + SHOW_PER_BLOCK + ' listed; the block explorer has them all)' : '');
  };

  const redraw = () => {
    replace(list);
    groups.clear();
    ctx.events.forEach(add);
    showNote();
  };
  const showNote = () => {
    note.textContent = ctx.chain.mode === 'polling'
      ? 'This node does not stream events (GET /v1/events): the dashboard polls /v1/status every 2 s and lists new blocks.'
      : 'Events appear as blocks commit (blocks without ledger events are not listed). The feed keeps the last ' +
        SHOW_BLOCKS + ' blocks it saw' + (paused ? '; paused: ' + pending.length + ' waiting.' : '.');
  };
  kind.addEventListener('change', redraw);
  who.addEventListener('input', redraw);
  pause.addEventListener('click', () => {
    paused = !paused;
    pause.setAttribute('aria-pressed', String(paused));
    pause.textContent = paused ? 'Resume' : 'Pause';
    if (!paused) { pending.forEach(add); pending = []; }
    showNote();
  });

  let frame = 0;
  let batch = [];
  ctx.onEvent((ev) => {
    if (paused) { pending.push(ev); showNote(); return; }
    batch.push(ev);
    if (!frame) {
      // A timer rather than an animation frame: a tab in the background still updates.
      frame = setTimeout(() => {
        frame = 0;
        const b = batch;
        batch = [];
        b.forEach(add);
        showNote();
      }, 100);
    }
  });
  ctx.cleanup(() => clearTimeout(frame));
  redraw();
}
