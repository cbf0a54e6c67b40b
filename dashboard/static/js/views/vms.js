// VMs: the list, and one VM's life: a timeline of where it ran (a Gantt chart
// of its hosting intervals per cloud), its migrations with both clouds'
// signatures, the agreements it ran under, its SLA reports and violations, and
// its evidence bundle.

import * as api from '../api.js';
import { h, s, section, table, swap, badge, errorBox } from '../dom.js';
import * as f from '../fmt.js';

export async function renderList(root, ctx) {
  ctx.title('VMs');
  const filter = h('input', { id: 'vm-filter', type: 'search', autocomplete: 'off' });
  const body = h('div', {});
  root.append(h('h1', {}, 'VMs'),
    h('p', { class: 'filter' }, h('label', { for: 'vm-filter' }, 'Filter by VM, owner or host '), filter),
    body);
  let data = { items: [], more: false };
  const show = () => {
    const q = filter.value.trim().toLowerCase();
    const rows = data.items
      .filter((v) => !q || [v.id, v.owner, v.host].some((x) => x.toLowerCase().includes(q)))
      .map((v) => [f.vmLink(v.id), badge(v.state), f.cloudLink(v.owner), f.cloudLink(v.host), f.resources(v.resources),
        v.open_migration ? f.idLink(v.open_migration) : '—', f.num(v.intervals), f.stamp(v.registered)]);
    swap(body, table(data.more ? 'The first ' + f.num(data.items.length) + ' VMs' : f.num(data.items.length) + ' VMs',
      ['VM', 'State', 'Owner', 'Host', 'Resources', 'Open migration', 'Intervals', 'Registered'], rows));
  };
  filter.addEventListener('input', show);
  const refresh = async () => {
    data = await api.all('/v1/vms', {}, 5);
    if (ctx.alive) show();
  };
  await refresh();
  ctx.refreshOn((ev) => ev.type.startsWith('vm.') || ev.type === 'migration.completed' || ev.type === 'migration.proposed' || ev.type === 'gap' || ev.type === 'block',
    () => refresh().catch(() => {}));
}

const HOUR = 3600e3;
const STEPS = [10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 10e3, 15e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3, 1800e3,
  HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, 24 * HOUR, 48 * HOUR, 7 * 24 * HOUR, 14 * 24 * HOUR, 30 * 24 * HOUR];

function tickLabel(ms, step) {
  const iso = new Date(ms).toISOString();
  if (step >= 24 * HOUR) return iso.slice(5, 10);
  if (step >= 60e3) return iso.slice(11, 16);
  if (step >= 1e3) return iso.slice(11, 19);
  return iso.slice(14, 23);
}

/**
 * timeline draws a VM's hosting intervals as a Gantt chart: one row per cloud,
 * in the order the VM first ran there; one bar per interval; a connector at
 * each completed migration. end is the time an open interval is drawn to.
 */
export function timeline(hist, colorOf, end, violations = []) {
  const ivs = hist.intervals;
  if (!ivs.length) return h('p', { class: 'muted' }, 'No hosting intervals.');
  const rows = [];
  ivs.forEach((iv) => { if (!rows.includes(iv.cloud)) rows.push(iv.cloud); });
  const t0 = Date.parse(ivs[0].start.at);
  let t1 = Math.max(end, t0 + 1);
  ivs.forEach((iv) => { if (iv.end) t1 = Math.max(t1, Date.parse(iv.end.at)); });
  t1 += (t1 - t0) * 0.04;
  const W = 960; const L = 130; const R = 16; const T = 30; const RH = 40; const B = 8;
  const H = T + rows.length * RH + B;
  const x = (ms) => L + ((ms - t0) / (t1 - t0)) * (W - L - R);
  const y = (cloud) => T + rows.indexOf(cloud) * RH;
  const span = t1 - t0;
  const step = STEPS.find((st) => span / st <= 7) || STEPS[STEPS.length - 1];
  const ticks = [];
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) ticks.push(t);

  const label = 'Timeline of ' + hist.vm.id + ': ' + ivs.map((iv) => iv.cloud + ' from ' + f.isoTime(iv.start.at) +
    (iv.end ? ' to ' + f.isoTime(iv.end.at) : ', running')).join('; then ');
  return s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'gantt', role: 'img', 'aria-label': label, preserveAspectRatio: 'xMinYMin meet' },
    s('title', {}, label),
    rows.map((c, i) => s('g', { class: 'row' },
      i % 2 ? s('rect', { x: 0, y: y(c), width: W, height: RH, class: 'stripe' }) : null,
      s('text', { x: 8, y: y(c) + RH / 2 + 5, class: 'row-label', 'data-row': c }, c))),
    ticks.map((t) => s('g', { class: 'tick' },
      s('line', { x1: x(t), x2: x(t), y1: T - 6, y2: H - B }),
      s('text', { x: x(t), y: T - 12, 'text-anchor': 'middle' }, tickLabel(t, step)))),
    ivs.map((iv) => {
      const a = Date.parse(iv.start.at);
      const b = iv.end ? Date.parse(iv.end.at) : end;
      const w = Math.max(3, x(b) - x(a));
      const tip = iv.cloud + ': ' + f.isoTime(iv.start.at) + ' → ' + (iv.end ? f.isoTime(iv.end.at) : 'running') +
        (iv.agreement ? ' under ' + iv.agreement : ' (no agreement)');
      return s('g', { class: ['bar-iv', iv.end ? '' : 'open'], 'data-cloud': iv.cloud, 'data-seq': iv.seq },
        s('title', {}, tip),
        s('rect', { x: x(a), y: y(iv.cloud) + 8, width: w, height: RH - 16, rx: 4, fill: colorOf(iv.cloud) }),
        w > 70 ? s('text', { x: x(a) + 6, y: y(iv.cloud) + RH / 2 + 4, class: 'bar-text' },
          (iv.agreement || 'no agreement') + (iv.end ? '' : ' · running')) : null);
    }),
    violations.filter((v) => rows.includes(v.cloud)).map((v) => {
      const a = Date.parse(v.start); const b = Date.parse(v.end);
      return s('g', { class: 'vio', 'data-violation': v.id },
        s('title', {}, v.id + ': ' + v.cloud + ' missed its objective from ' + f.isoTime(v.start) + ' to ' + f.isoTime(v.end) +
          ' (measured ' + f.pct(v.availability_mpct) + ', agreed ' + f.pct(v.availability_objective_mpct) + ')'),
        s('rect', { x: x(a), y: y(v.cloud) + RH - 9, width: Math.max(3, x(b) - x(a)), height: 6, rx: 2 }));
    }),
    hist.migrations.filter((m) => m.completed).map((m) => {
      const t = Date.parse(m.completed.at);
      if (!rows.includes(m.from) || !rows.includes(m.to)) return null;
      const ya = y(m.from) + RH / 2; const yb = y(m.to) + RH / 2;
      return s('g', { class: 'mig' },
        s('title', {}, m.id + ': ' + m.from + ' → ' + m.to + ' completed ' + f.isoTime(m.completed.at)),
        s('line', { x1: x(t), x2: x(t), y1: ya, y2: yb }),
        s('circle', { cx: x(t), cy: ya, r: 3.5 }),
        s('circle', { cx: x(t), cy: yb, r: 3.5 }));
    }));
}

function evidenceLink(id, served) {
  const href = api.url('/v1/evidence', { vm: id });
  const a = h('a', { href, download: 'evidence-' + id + '.json', id: 'evidence-link' }, 'Evidence bundle of ' + id + ' (JSON)');
  a.addEventListener('click', (e) => {
    if (!api.token()) return; // the browser sends what a plain link needs
    e.preventDefault();
    api.download(href, 'evidence-' + id + '.json').catch((err) => a.after(errorBox(err)));
  });
  return h('p', {}, a, served
    ? [' — ', h('code', {}, 'bbus evidence verify'), ' checks it offline against the chain\'s genesis.']
    : h('span', { class: 'muted' }, ' (this node does not serve GET /v1/evidence yet, so the link answers 404)'));
}

function agreementRow(ag, current) {
  return [f.idLink(ag.id), f.cloudLink(ag.provider), f.cloudLink(ag.consumer), badge(ag.status),
    f.amount(ag.price_vcpu_hour_micro) + ' / vCPU-h' + (ag.price_gib_hour_micro ? ', ' + f.amount(ag.price_gib_hour_micro) + ' / GiB-h' : ''),
    f.pct(ag.availability_mpct), ag.max_latency_ms ? ag.max_latency_ms + ' ms' : '—', f.pct(ag.penalty_mpct),
    f.stamp(ag.signed), ag.until ? f.time(ag.until) : 'open-ended', current ? badge('in force now', 'active') : ''];
}

async function loadVM(id) {
  const hist = await api.get('/v1/vms/' + encodeURIComponent(id) + '/history');
  const since = new Date(Date.now() - WINDOW_HOURS * 3600e3).toISOString().replace(/\.\d+Z$/, 'Z');
  const [status, clouds, vios, served, wins] = await Promise.all([
    api.get('/v1/status'),
    api.all('/v1/clouds', {}, 5),
    api.all('/v1/violations', { vm: id }, 5),
    api.hasRoute('/v1/evidence'),
    api.all('/v1/vms/' + encodeURIComponent(id) + '/windows', { since }, 1, 200).catch(() => ({ items: [], more: false })),
  ]);
  const agIDs = [...new Set(hist.intervals.map((iv) => iv.agreement).concat(hist.migrations.map((m) => m.agreement)).filter(Boolean))];
  const repIDs = [...new Set(vios.items.map((v) => v.report))];
  const [ags, reps] = await Promise.all([
    Promise.all(agIDs.map((a) => api.getOr('/v1/agreements/' + a, null))),
    Promise.all(repIDs.map((r) => api.getOr('/v1/reports/' + r, null))),
  ]);
  return { hist, status, clouds, vios, ags: ags.filter(Boolean), reps: reps.filter(Boolean), served, wins };
}

// WINDOW_HOURS is how far back the VM view lists the oracles' windows.
const WINDOW_HOURS = 6;

const verdictKind = { agree: 'active', disagree: 'warn', excluded: 'muted' };

/**
 * windowsTable shows each reported window of the VM: one column per oracle
 * with what it measured and whether it agreed with the combined value, which
 * the ledger took once a quorum of oracles had reported the window.
 */
function windowsTable(vmID, wins) {
  const oracles = [...new Set(wins.items.flatMap((w) => w.reports.map((r) => r.oracle)))].sort();
  const measured = (m) => f.pct(m.availability_mpct) + (m.latency_ms ? ', ' + m.latency_ms + ' ms' : '');
  const rows = wins.items.map((w) => {
    const by = Object.fromEntries(w.reports.map((r) => [r.oracle, r]));
    return h('tr', { dataset: { start: w.start, status: w.status } },
      h('td', {}, f.time(w.start), ' → ', f.time(w.end)),
      h('td', {}, badge(w.status, w.status === 'decided' ? 'active' : w.status === 'open' ? 'proposed' : 'warn')),
      h('td', { class: 'combined' }, w.status === 'decided' ? measured(w) : '—'),
      oracles.map((o) => {
        const r = by[o];
        return h('td', { dataset: { oracle: o } }, r ? [measured(r), r.verdict ? [' ', badge(r.verdict, verdictKind[r.verdict])] : null] : '—');
      }),
      h('td', {}, (w.violations || []).join(', ') || (w.overlaps ? 'overlaps ' + w.overlaps : '—')));
  });
  return [
    table('Windows of ' + vmID + ' reported in the last ' + WINDOW_HOURS + ' hours' + (wins.more ? ' (the first 200)' : ''),
      ['Window', 'Status', 'Combined'].concat(oracles, ['Violations']), rows, { id: 'windows' }),
    h('p', { class: 'muted small' }, 'A window is decided once the federation\'s quorum of oracles has reported it: the ledger takes the median of their measurements (for an even count, the one worse for the host) and checks only that against the agreement. Each report agrees or disagrees with it (within 5 percentage points), which makes the oracle\'s reputation; reports after the decision are kept and scored but change nothing.'),
  ];
}

function buildVM(d) {
  const { hist, status } = d;
  const vm = hist.vm;
  const colorOf = f.colors(d.clouds.items.map((c) => c.id));
  const end = Math.max(Date.parse(status.latest_block_time) || 0, ...hist.intervals.map((iv) => Date.parse(iv.start.at)));
  const open = hist.intervals.find((iv) => !iv.end);
  const inForce = open && open.agreement;
  return [
    h('dl', { class: 'facts' },
      h('dt', {}, 'State'), h('dd', {}, badge(vm.state)),
      h('dt', {}, 'Owner'), h('dd', {}, f.cloudLink(vm.owner)),
      h('dt', {}, 'Host now'), h('dd', { id: 'vm-host' }, vm.state === 'running' ? f.cloudLink(vm.host) : '—'),
      h('dt', {}, 'Resources'), h('dd', {}, f.resources(vm.resources)),
      vm.image ? [h('dt', {}, 'Image'), h('dd', { class: 'mono' }, vm.image)] : null,
      h('dt', {}, 'Registered'), h('dd', {}, f.stamp(vm.registered)),
      vm.terminated ? [h('dt', {}, 'Terminated'), h('dd', {}, f.stamp(vm.terminated))] : null,
      h('dt', {}, 'Open migration'), h('dd', {}, vm.open_migration || '—'),
      h('dt', {}, 'Agreement in force'), h('dd', {}, inForce ? inForce : open ? 'none (hosted unpriced)' : '—')),
    evidenceLink(vm.id, d.served),
    section('Where it ran',
      h('div', { id: 'timeline', class: 'chart' }, timeline(hist, colorOf, end, d.vios.items)),
      h('p', { class: 'legend muted small' }, 'One row per cloud, in the order the VM first ran there; a bar per hosting interval (dashed while it still runs), labelled with its agreement; ',
        h('span', { class: 'key-mig', 'aria-hidden': 'true' }), ' a completed migration; ', h('span', { class: 'key-vio', 'aria-hidden': 'true' }), ' an SLA violation\'s window.'),
      table('Hosting intervals, oldest first', ['#', 'Cloud', 'Started', 'Ended', 'Duration', 'Agreement', 'Opened by'],
        hist.intervals.map((iv) => {
          const a = Date.parse(iv.start.at);
          const b = iv.end ? Date.parse(iv.end.at) : end;
          return h('tr', { dataset: { cloud: iv.cloud } },
            h('td', {}, String(iv.seq)),
            h('td', {}, h('span', { class: 'swatch', style: { background: colorOf(iv.cloud) }, 'aria-hidden': 'true' }), ' ', f.cloudLink(iv.cloud)),
            h('td', {}, f.stamp(iv.start)),
            h('td', {}, iv.end ? f.stamp(iv.end) : badge('running', 'active')),
            h('td', {}, f.duration(b - a) + (iv.end ? '' : ' so far')),
            h('td', {}, iv.agreement || '—'),
            h('td', {}, iv.migration || 'registration'));
        }), { id: 'intervals' })),
    section('Migrations',
      h('p', { class: 'muted small' }, 'Each migration carries two signatures: the source cloud proposes, the destination accepts (and completes once the VM runs there).'),
      table('Migrations of ' + vm.id, ['Migration', 'From → to', 'Status', 'Agreement', 'Proposed by source', 'Accepted by destination', 'Completed', 'Ended'],
        hist.migrations.map((m) => [h('span', { class: 'mono' }, m.id),
          [f.cloudLink(m.from), ' → ', f.cloudLink(m.to)], badge(m.status), m.agreement || '—',
          f.stamp(m.proposed), f.stamp(m.accepted), f.stamp(m.completed), f.stamp(m.ended)]), { id: 'migrations' })),
    section('Agreements it ran under',
      table('Agreements', ['Agreement', 'Provider', 'Consumer', 'Status', 'Price', 'Availability objective', 'Max latency', 'Penalty', 'Signed', 'Until', ''],
        d.ags.map((ag) => agreementRow(ag, ag.id === inForce)))),
    section('SLA violations and reports',
      table('Violations attributed to the host of ' + vm.id, ['Violation', 'Cloud', 'Agreement', 'Window', 'Measured', 'Objective', 'Charge', 'Penalty', 'Recorded'],
        d.vios.items.map((v) => [v.id, f.cloudLink(v.cloud), v.agreement, [f.time(v.start), ' → ', f.time(v.end)],
          f.pct(v.availability_mpct) + (v.latency_ms ? ', ' + v.latency_ms + ' ms' : ''),
          f.pct(v.availability_objective_mpct) + (v.max_latency_ms ? ', ≤ ' + v.max_latency_ms + ' ms' : ''),
          f.amount(v.charge_micro), f.amount(v.penalty_micro), f.stamp(v.recorded)]), { id: 'violations' }),
      table('Oracle reports behind them', ['Report', 'Oracle', 'Window', 'Availability', 'Latency', 'Recorded'],
        d.reps.map((r) => [r.id, r.oracle, [f.time(r.start), ' → ', f.time(r.end)], f.pct(r.availability_mpct),
          r.latency_ms ? r.latency_ms + ' ms' : '—', f.stamp(r.recorded)])),
      h('p', { class: 'muted small' }, 'Compliant windows make no violation; every report, compliant or not, is in the windows below.')),
    section('Oracle windows', windowsTable(vm.id, d.wins)),
  ];
}

export async function renderVM(root, ctx) {
  const id = ctx.params[0];
  ctx.title('VM ' + id);
  const body = h('div', {});
  root.append(h('h1', {}, 'VM ', h('span', { class: 'mono' }, id)), body);
  const refresh = async () => {
    const d = await loadVM(id);
    if (ctx.alive) swap(body, buildVM(d));
  };
  await refresh();
  ctx.refreshOn((ev) => (ev.attrs && ev.attrs.vm === id) || ev.type === 'gap' || ev.type === 'block', () => refresh().catch(() => {}));
}
