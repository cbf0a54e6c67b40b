// One cloud: its standing, capacity and validator place, the VMs it hosts,
// its migrations, agreements, violations and invoices.

import * as api from '../api.js';
import { h, section, table, swap, badge, link } from '../dom.js';
import * as f from '../fmt.js';
import { capacityBars, validatorLine, bar } from './overview.js';

async function load(id) {
  const enc = encodeURIComponent(id);
  const [c, status, vms, migs, ags, vios, invs] = await Promise.all([
    api.get('/v1/clouds/' + enc),
    api.get('/v1/status'),
    api.all('/v1/vms', {}, 5),
    api.all('/v1/migrations', { cloud: id }, 5),
    api.all('/v1/agreements', { cloud: id }, 5),
    api.all('/v1/violations', { cloud: id }, 5),
    api.all('/v1/invoices', { cloud: id }, 5),
  ]);
  return { c, status, vms, migs, ags, vios, invs };
}

function build(d) {
  const { c } = d;
  const hosted = d.vms.items.filter((v) => v.host === c.id && v.state === 'running');
  const recent = d.migs.items.slice(-50).reverse();
  return [
    h('p', { class: 'lead' }, c.name, ' · ', badge(c.status), ' · ', validatorLine(c, d.status), c.api ? [' · API ', h('span', { class: 'mono' }, c.api)] : null),
    h('div', { class: 'grid2' },
      section('Capacity', capacityBars(c)),
      section('Reputation',
        bar('Reputation', c.reputation_bp, 10000, f.rep, f.rep(c.reputation_bp)),
        h('p', {}, f.num(c.compliant_reports), ' of ', f.num(c.reports), ' oracle reports compliant.'),
        h('dl', { class: 'facts' },
          h('dt', {}, 'Applied'), h('dd', {}, f.stamp(c.joined)),
          h('dt', {}, 'Admitted'), h('dd', {}, f.stamp(c.admitted), c.approvals && c.approvals.length ? ' by ' + c.approvals.join(', ') : ''),
          c.removed ? [h('dt', {}, 'Removed'), h('dd', {}, f.stamp(c.removed))] : null))),
    section('VMs hosted now',
      table(f.num(hosted.length) + (d.vms.more ? '+' : '') + ' running here', ['VM', 'Owner', 'Resources', 'Since (intervals)'],
        hosted.map((v) => [f.vmLink(v.id), f.cloudLink(v.owner), f.resources(v.resources), f.num(v.intervals)]))),
    section('Migrations',
      table('The latest ' + f.num(recent.length) + ' of ' + f.num(d.migs.items.length) + (d.migs.more ? '+' : '') + ' migrations to or from ' + c.id + ', newest first',
        ['Migration', 'VM', 'From → to', 'Status', 'Proposed', 'Accepted', 'Completed'],
        recent.map((m) => [m.id, f.vmLink(m.vm), [f.cloudLink(m.from), ' → ', f.cloudLink(m.to)], badge(m.status),
          f.stamp(m.proposed), f.stamp(m.accepted), f.stamp(m.completed)]))),
    section('Agreements',
      table('Agreements with ' + c.id, ['Agreement', 'Provider', 'Consumer', 'Status', 'Price / vCPU-h', 'Availability', 'Penalty'],
        d.ags.items.map((a) => [a.id, f.cloudLink(a.provider), f.cloudLink(a.consumer), badge(a.status), f.amount(a.price_vcpu_hour_micro),
          f.pct(a.availability_mpct), f.pct(a.penalty_mpct)]))),
    section('SLA violations attributed to it',
      table('Violations', ['Violation', 'VM', 'Consumer', 'Agreement', 'Measured', 'Penalty', 'Recorded'],
        d.vios.items.map((v) => [v.id, f.vmLink(v.vm), f.cloudLink(v.consumer), v.agreement, f.pct(v.availability_mpct), f.amount(v.penalty_micro), f.stamp(v.recorded)]))),
    section('Invoices',
      table('Invoices it sent or received', ['Invoice', 'Provider', 'Consumer', 'Period', 'Total', 'Status'],
        d.invs.items.map((i) => [link('#/invoice/' + i.id, i.id), f.cloudLink(i.provider), f.cloudLink(i.consumer),
          [f.time(i.from), ' → ', f.time(i.until)], f.amount(i.total_micro), badge(i.status)]))),
  ];
}

export async function render(root, ctx) {
  const id = ctx.params[0];
  ctx.title('Cloud ' + id);
  const body = h('div', {});
  root.append(h('h1', {}, 'Cloud ', h('span', { class: 'mono' }, id)), body);
  const refresh = async () => {
    const d = await load(id);
    if (ctx.alive) swap(body, build(d));
  };
  await refresh();
  ctx.refreshOn((ev) => Object.values(ev.attrs || {}).includes(id) || ev.type === 'gap' || ev.type === 'block',
    () => refresh().catch(() => {}));
}
