// Federation overview: every cloud with its capacity used and free, its
// reputation and its place among the validators, and live counts.

import * as api from '../api.js';
import { h, section, table, swap, badge } from '../dom.js';
import * as f from '../fmt.js';

/**
 * bar is a labelled meter of used against total. show formats a quantity;
 * text, if given, replaces the "used of total" figure beside the bar.
 */
export function bar(label, used, total, show, text) {
  const share = total > 0 ? Math.min(100, (used * 100) / total) : 0;
  const level = share >= 90 ? 'high' : share >= 70 ? 'mid' : 'low';
  const figure = text || show(used) + ' of ' + show(total);
  return h('div', { class: 'bar-row' },
    h('span', { class: 'bar-label' }, label),
    h('div', {
      class: ['bar', level],
      role: 'meter',
      'aria-label': label,
      'aria-valuemin': 0,
      'aria-valuemax': total,
      'aria-valuenow': used,
      'aria-valuetext': text || figure + ' allocated, ' + show(Math.max(0, total - used)) + ' free',
    }, h('div', { class: 'bar-fill', style: { width: share.toFixed(1) + '%' } })),
    h('span', { class: 'bar-value' }, figure));
}

/** capacityBars shows a cloud's four resources, allocated against capacity. */
export function capacityBars(c) {
  const cap = c.capacity || {};
  const used = c.allocated || {};
  return h('div', { class: 'bars' },
    bar('vCPU', used.cpu || 0, cap.cpu || 0, f.num),
    bar('Memory', used.mem_mib || 0, cap.mem_mib || 0, f.mib),
    bar('Disk IOPS', used.disk_iops || 0, cap.disk_iops || 0, f.num),
    bar('Net Mbit/s', used.net_mbps || 0, cap.net_mbps || 0, f.num));
}

/** validatorLine says whether a cloud is in the consensus validator set. */
export function validatorLine(c, status) {
  const vals = (status && status.validators) || [];
  const total = vals.reduce((a, v) => a + v.power, 0);
  const v = vals.find((x) => x.cloud === c.id);
  if (v) {
    const share = total ? Math.round((v.power * 1000) / total) / 10 : 0;
    return h('span', { class: 'validator yes' }, 'Validator · power ' + f.num(v.power) + ' (' + share + ' % of votes)');
  }
  if (c.power > 0) return h('span', { class: 'validator pending' }, 'Validator power ' + f.num(c.power) + ', not yet in the set');
  return h('span', { class: 'validator no' }, 'Not a validator');
}

function reputation(c) {
  const bp = c.reputation_bp || 0;
  return h('div', { class: 'rep' },
    bar('Reputation', bp, 10000, f.rep, f.rep(bp)),
    h('p', { class: 'muted small' }, f.num(c.compliant_reports || 0) + ' of ' + f.num(c.reports || 0) + ' oracle reports compliant'));
}

function cloudCard(c, status) {
  return h('article', { class: ['cloud', c.status], dataset: { cloud: c.id } },
    h('h3', {}, h('a', { href: '#/cloud/' + encodeURIComponent(c.id) }, c.name || c.id), ' ',
      h('span', { class: 'muted mono' }, c.id), ' ', badge(c.status)),
    h('p', {}, validatorLine(c, status), ' · ', f.num(c.hosted_vms || 0), ' VM', c.hosted_vms === 1 ? '' : 's', ' hosted'),
    capacityBars(c),
    reputation(c));
}

function count(label, value, more, href) {
  const v = (more ? f.num(value) + '+' : f.num(value));
  return h('li', { class: 'count' }, h('a', { href }, h('span', { class: 'count-value', dataset: { count: label } }, v), h('span', { class: 'count-label' }, label)));
}

async function load() {
  const [status, clouds, vms, migs, open1, open2, vios, invs, nodes, standings] = await Promise.all([
    api.get('/v1/status'),
    api.all('/v1/clouds', {}, 5),
    api.all('/v1/vms', {}, 1),
    api.all('/v1/migrations', {}, 1),
    api.all('/v1/migrations', { status: 'proposed' }, 1),
    api.all('/v1/migrations', { status: 'accepted' }, 1),
    api.all('/v1/violations', {}, 1),
    api.all('/v1/invoices', {}, 1),
    api.get('/v1/nodes').catch(() => ({ items: [] })),
    api.get('/v1/reputation').catch(() => ({ oracles: [] })),
  ]);
  return { status, clouds, vms, migs, open1, open2, vios, invs, nodes: nodes.items || [], oracles: standings.oracles || [] };
}

/** oracleCard shows an oracle's reputation: how its reports agreed with the quorum's combined values. */
function oracleCard(o) {
  const decided = (o.agreeing_reports || 0) + (o.disagreeing_reports || 0);
  return h('article', { class: ['oracle', o.status], dataset: { oracle: o.oracle } },
    h('h3', {}, h('span', { class: 'mono' }, o.oracle), ' ', badge(o.status)),
    h('div', { class: 'rep' },
      bar('Reputation', o.reputation_bp || 0, 10000, f.rep, f.rep(o.reputation_bp || 0)),
      h('p', { class: 'muted small' }, f.num(o.agreeing_reports || 0) + ' of ' + f.num(decided) + ' reports in decided windows agreed with the combined value; ' +
        f.num(o.reports || 0) + ' reports in all')));
}

function build(d) {
  const { status, clouds } = d;
  const running = d.vms.items.filter((v) => v.state === 'running').length;
  const active = clouds.items.filter((c) => c.status === 'active').length;
  const totalPower = status.validators.reduce((a, v) => a + v.power, 0);
  const byAddr = status.validators.map((v) => [
    h('span', { class: 'mono' }, f.short(v.address, 10)),
    v.cloud ? f.cloudLink(v.cloud) : h('span', { class: 'muted' }, 'unknown'),
    f.num(v.power),
    totalPower ? (Math.round((v.power * 1000) / totalPower) / 10) + ' %' : '—',
  ]);
  const up = d.nodes.filter((n) => n.connected).length;
  const nodeRows = d.nodes.map((n) => [
    f.cloudLink(n.cloud),
    n.node_id ? h('span', { class: 'mono', title: n.node_id }, f.short(n.node_id, 10)) : h('span', { class: 'muted' }, 'none published'),
    n.self ? badge('this node', 'active') : n.connected ? badge('connected', 'active') : badge('not connected', 'warn'),
    n.validator ? (n.last_signed_height ? h('a', { href: '#/block/' + n.last_signed_height }, '#' + f.num(n.last_signed_height)) : '—') : h('span', { class: 'muted' }, 'not a validator'),
    n.version || '—',
  ]);
  return [
    h('p', { class: 'lead' },
      'Chain ', h('strong', {}, status.chain_id), ' at block ', h('a', { href: '#/block/' + status.latest_height }, '#' + f.num(status.latest_height)),
      ' (', f.time(status.latest_block_time), ')', status.catching_up ? [' · ', badge('catching up', 'warn')] : null,
      '. This node signs for ', f.cloudLink(status.cloud), '.'),
    h('ul', { class: 'counts', 'aria-label': 'Live counts' },
      count('clouds', active, clouds.more, '#/'),
      count('VMs running', running, d.vms.more, '#/vms'),
      count('migrations', d.migs.items.length, d.migs.more, '#/graph'),
      count('open migrations', d.open1.items.length + d.open2.items.length, d.open1.more || d.open2.more, '#/graph'),
      count('SLA violations', d.vios.items.length, d.vios.more, '#/sla'),
      count('invoices', d.invs.items.length, d.invs.more, '#/sla'),
      count('validators', status.validators.length, false, '#/blocks'),
      count('nodes connected', up, false, '#/')),
    section('Clouds',
      h('div', { class: 'clouds' }, clouds.items.map((c) => cloudCard(c, status)))),
    section('Oracles',
      d.oracles.length ? h('div', { class: 'clouds', id: 'oracles' }, d.oracles.map(oracleCard))
        : h('p', { class: 'muted' }, 'No oracle has been admitted yet.')),
    section('Validators',
      table('Consensus validator set', ['Address', 'Cloud', 'Power', 'Share of votes'], byAddr)),
    section("Members' nodes",
      table("Each member's node as this node sees it", ['Cloud', 'Node id', 'Connection', 'Last signed block', 'Version'], nodeRows)),
  ];
}

export async function render(root, ctx) {
  ctx.title('Overview');
  const body = h('div', {});
  root.append(h('h1', {}, 'Federation overview'), body);
  const refresh = async () => {
    const d = await load();
    if (ctx.alive) swap(body, build(d));
  };
  await refresh();
  ctx.refreshOn(() => true, () => refresh().catch(() => {}));
}
