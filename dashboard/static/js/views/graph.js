// Migration graph: the clouds as nodes and the migrations between them over a
// chosen period as weighted, directed edges.

import * as api from '../api.js';
import { h, s, section, table, swap } from '../dom.js';
import * as f from '../fmt.js';

const HOUR = 3600e3;
const PERIODS = [
  ['1h', 'Last hour', HOUR],
  ['24h', 'Last 24 hours', 24 * HOUR],
  ['7d', 'Last 7 days', 7 * 24 * HOUR],
  ['30d', 'Last 30 days', 30 * 24 * HOUR],
  ['all', 'All time', 0],
  ['custom', 'Between two times', 0],
];

// A datetime-local value read as UTC, and back.
const fromLocal = (v) => (v ? new Date(v + 'Z').toISOString() : '');
const toLocal = (iso) => (iso ? new Date(iso).toISOString().slice(0, 16) : '');

/** edges counts migrations per (from, to) pair, heaviest first. */
export function edges(migrations) {
  const m = new Map();
  for (const g of migrations) {
    const k = g.from + '\u0000' + g.to;
    m.set(k, (m.get(k) || 0) + 1);
  }
  return [...m.entries()].map(([k, n]) => {
    const [from, to] = k.split('\u0000');
    return { from, to, n };
  }).sort((a, b) => b.n - a.n || a.from.localeCompare(b.from) || a.to.localeCompare(b.to));
}

/** draw lays the clouds on a circle and draws each edge as a curved arrow. */
export function draw(clouds, es, colorOf) {
  const W = 720; const H = 520; const NR = 30;
  const cx = W / 2; const cy = H / 2; const R = Math.min(W, H) / 2 - 70;
  const n = clouds.length;
  if (!n) return h('p', { class: 'muted' }, 'No clouds.');
  const pos = new Map();
  clouds.forEach((c, i) => {
    const a = (n === 2 ? Math.PI : -Math.PI / 2) + (2 * Math.PI * i) / Math.max(n, 1);
    pos.set(c.id, n === 1 ? [cx, cy] : [cx + R * Math.cos(a), cy + R * Math.sin(a)]);
  });
  const max = Math.max(1, ...es.map((e) => e.n));
  const label = 'Migration graph: ' + (es.length ? es.map((e) => e.from + ' to ' + e.to + ': ' + e.n).join('; ') : 'no migrations in the period');
  // Fit the view to the nodes and their labels.
  const xs = [...pos.values()].map((p) => p[0]);
  const ys = [...pos.values()].map((p) => p[1]);
  const vx = Math.min(...xs) - 110; const vy = Math.min(...ys) - 70;
  const vw = Math.max(...xs) - Math.min(...xs) + 220; const vh = Math.max(...ys) - Math.min(...ys) + 140;
  return s('svg', { viewBox: `${vx} ${vy} ${vw} ${vh}`, class: 'graph', role: 'img', 'aria-label': label },
    s('title', {}, label),
    s('defs', {}, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 7, refY: 5, markerWidth: 20, markerHeight: 20, orient: 'auto', markerUnits: 'userSpaceOnUse' },
      s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }))),
    es.map((e) => {
      const a = pos.get(e.from); const b = pos.get(e.to);
      if (!a || !b) return null;
      const dx = b[0] - a[0]; const dy = b[1] - a[1];
      const d = Math.hypot(dx, dy) || 1;
      const ux = dx / d; const uy = dy / d;
      // Bend to the right of the direction, so a→b and b→a stay apart.
      const bend = 0.18 * d;
      const c = [(a[0] + b[0]) / 2 - uy * bend, (a[1] + b[1]) / 2 + ux * bend];
      const start = towards(a, c, NR + 2);
      const end = towards(b, c, NR + 6);
      const w = 2 + (6 * e.n) / max;
      const mid = [0.25 * start[0] + 0.5 * c[0] + 0.25 * end[0], 0.25 * start[1] + 0.5 * c[1] + 0.25 * end[1]];
      return s('g', { class: 'edge', 'data-from': e.from, 'data-to': e.to, 'data-n': e.n },
        s('title', {}, e.from + ' → ' + e.to + ': ' + e.n + ' migration' + (e.n === 1 ? '' : 's')),
        s('path', { d: `M${start[0]},${start[1]} Q${c[0]},${c[1]} ${end[0]},${end[1]}`, stroke: colorOf(e.from), 'stroke-width': w, fill: 'none', 'marker-end': 'url(#arrow)' }),
        s('rect', { x: mid[0] - 16, y: mid[1] - 11, width: 32, height: 22, rx: 11, class: 'edge-label-bg' }),
        s('text', { x: mid[0], y: mid[1] + 5, 'text-anchor': 'middle', class: 'edge-label' }, f.num(e.n)));
    }),
    clouds.map((c) => {
      const [x, y] = pos.get(c.id);
      // The label sits outside the circle, away from the centre, clear of the edges.
      const away = n === 1 ? [0, 1] : [(x - cx) / R, (y - cy) / R];
      const lx = x + away[0] * (NR + 22);
      const ly = y + away[1] * (NR + 18) + 5;
      const anchor = Math.abs(away[0]) < 0.3 ? 'middle' : away[0] > 0 ? 'start' : 'end';
      return s('a', { href: '#/cloud/' + encodeURIComponent(c.id), class: 'node', 'data-cloud': c.id },
        s('title', {}, c.id + ' (' + (c.name || c.id) + '): ' + f.num(c.hosted_vms || 0) + ' VMs hosted'),
        s('circle', { cx: x, cy: y, r: NR, fill: colorOf(c.id) }),
        s('text', { x, y: y + 4, 'text-anchor': 'middle', class: 'node-count' }, f.num(c.hosted_vms || 0)),
        s('text', { x: anchor === 'middle' ? x : lx - away[0] * 12, y: ly, 'text-anchor': anchor, class: 'node-label' }, c.id));
    }));
}

function towards(p, q, dist) {
  const dx = q[0] - p[0]; const dy = q[1] - p[1];
  const d = Math.hypot(dx, dy) || 1;
  return [p[0] + (dx / d) * dist, p[1] + (dy / d) * dist];
}

export async function render(root, ctx) {
  ctx.title('Migration graph');
  const q = ctx.query;
  const period = h('select', { id: 'period' }, PERIODS.map(([v, text]) => h('option', { value: v }, text)));
  period.value = q.get('period') || 'all';
  const since = h('input', { id: 'since', type: 'datetime-local', value: toLocal(q.get('since')) });
  const until = h('input', { id: 'until', type: 'datetime-local', value: toLocal(q.get('until')) });
  const status = h('select', { id: 'mstatus' },
    h('option', { value: 'completed' }, 'completed migrations'),
    h('option', { value: '' }, 'every proposal (any status)'));
  status.value = q.has('status') ? q.get('status') : 'completed';
  const custom = h('span', { class: 'custom' },
    h('label', { for: 'since' }, 'From (UTC) '), since, ' ', h('label', { for: 'until' }, 'until (UTC) '), until);
  const body = h('div', { 'aria-live': 'polite' });
  const form = h('form', {
    class: 'controls',
    onsubmit(e) {
      e.preventDefault();
      const p = new URLSearchParams({ period: period.value, status: status.value });
      if (period.value === 'custom') {
        if (since.value) p.set('since', fromLocal(since.value));
        if (until.value) p.set('until', fromLocal(until.value));
      }
      location.hash = '#/graph?' + p.toString();
    },
  },
  h('label', { for: 'period' }, 'Period '), period, ' ', custom, ' ',
  h('label', { for: 'mstatus' }, 'Count '), status, ' ',
  h('button', { type: 'submit' }, 'Show'));
  const syncCustom = () => { custom.hidden = period.value !== 'custom'; };
  period.addEventListener('change', syncCustom);
  syncCustom();
  root.append(h('h1', {}, 'Migration graph'), form, body);

  const refresh = async () => {
    const st = await api.get('/v1/status');
    const now = Date.parse(st.latest_block_time) || Date.now();
    const p = PERIODS.find(([v]) => v === period.value) || PERIODS[4];
    const params = { status: status.value };
    let what = 'all time';
    if (p[0] === 'custom') {
      params.since = q.get('since') || '';
      params.until = q.get('until') || '';
      what = (params.since ? 'from ' + f.isoTime(params.since) : 'from the start') + (params.until ? ' until ' + f.isoTime(params.until) : ' until now');
    } else if (p[2]) {
      params.since = new Date(now - p[2]).toISOString();
      what = p[1].toLowerCase() + ' (since ' + f.isoTime(params.since) + ', by block time)';
    }
    const [clouds, migs] = await Promise.all([api.all('/v1/clouds', {}, 5), api.all('/v1/migrations', params, 20)]);
    if (!ctx.alive) return;
    const es = edges(migs.items);
    const colorOf = f.colors(clouds.items.map((c) => c.id));
    const shown = clouds.items.filter((c) => c.status !== 'removed' || es.some((e) => e.from === c.id || e.to === c.id));
    swap(body,
      h('p', { class: 'lead' }, f.num(migs.items.length), migs.more ? '+' : '', ' ', status.value || 'proposed', ' migration',
        migs.items.length === 1 ? '' : 's', ' ', what, ', counted by the time each was proposed. Edge width grows with the count; a node shows the VMs its cloud hosts now.'),
      h('div', { class: 'chart', id: 'graph' }, draw(shown, es, colorOf)),
      section('Edges', table('Migrations per pair of clouds', ['From', 'To', 'Migrations'],
        es.map((e) => [f.cloudLink(e.from), f.cloudLink(e.to), f.num(e.n)]), { id: 'edges' })));
  };
  await refresh();
  ctx.refreshOn((ev) => ev.type.startsWith('migration.') || ev.type.startsWith('cloud.') || ev.type === 'gap' || ev.type === 'block',
    () => refresh().catch(() => {}));
}
