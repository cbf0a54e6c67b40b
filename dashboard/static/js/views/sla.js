// SLAs and invoices: the agreements, every SLA violation, and the invoices per
// pair of clouds with their lines and the evidence each line rests on.

import * as api from '../api.js';
import { h, section, table, swap, badge, link } from '../dom.js';
import * as f from '../fmt.js';

function evidence(stamps) {
  return (stamps || []).map((st, i) => [i ? ', ' : '',
    st.tx ? link('#/tx/' + st.tx, 'tx ' + f.short(st.tx, 6), { class: 'mono', title: 'transaction ' + st.tx + ' in block ' + st.height }) : 'ledger',
    ' @', link('#/block/' + st.height, '#' + st.height)]);
}

/** linesTable shows an invoice's lines. */
export function linesTable(inv) {
  return table('Lines of ' + inv.id, ['Kind', 'VM', 'Agreement', 'Period', 'Seconds', 'Resources', 'Price / vCPU-h', 'Violation', 'Amount', 'Evidence'],
    (inv.lines || []).map((l) => h('tr', { class: l.kind },
      h('td', {}, badge(l.kind)),
      h('td', {}, f.vmLink(l.vm)),
      h('td', {}, l.agreement),
      h('td', {}, f.time(l.start), ' → ', f.time(l.end)),
      h('td', { class: 'num' }, f.num(l.seconds)),
      h('td', {}, l.resources ? f.resources(l.resources) : '—'),
      h('td', { class: 'num' }, l.price_vcpu_hour_micro ? f.amount(l.price_vcpu_hour_micro) : '—'),
      h('td', {}, l.violation || '—'),
      h('td', { class: 'num' }, f.amount(l.amount_micro)),
      h('td', {}, evidence(l.evidence)))),
    { class: 'lines' });
}

function invoiceSummary(inv) {
  return [h('span', { class: 'mono' }, inv.id), ' · ', f.time(inv.from), ' → ', f.time(inv.until), ' · ', badge(inv.status),
    ' · total ', h('strong', {}, f.amount(inv.total_micro))];
}

/** invoiceFacts lists an invoice's totals and answer. */
function invoiceFacts(inv) {
  return h('dl', { class: 'facts' },
    h('dt', {}, 'Provider'), h('dd', {}, f.cloudLink(inv.provider)),
    h('dt', {}, 'Consumer'), h('dd', {}, f.cloudLink(inv.consumer)),
    h('dt', {}, 'Hosting'), h('dd', {}, f.amount(inv.hosting_micro)),
    h('dt', {}, 'Penalties'), h('dd', {}, '−', f.amount(inv.penalties_micro)),
    h('dt', {}, 'Total'), h('dd', {}, h('strong', {}, f.amount(inv.total_micro))),
    h('dt', {}, 'Closed'), h('dd', {}, f.stamp(inv.closed)),
    h('dt', {}, 'Answer'), h('dd', {}, badge(inv.status), inv.answered ? [' ', f.stamp(inv.answered)] : null, inv.reason ? [' — ', inv.reason] : null));
}

function pairs(invoices) {
  const m = new Map();
  for (const inv of invoices) {
    const k = inv.provider + ' → ' + inv.consumer;
    if (!m.has(k)) m.set(k, { provider: inv.provider, consumer: inv.consumer, invoices: [] });
    m.get(k).invoices.push(inv);
  }
  return [...m.values()].sort((a, b) => a.provider.localeCompare(b.provider) || a.consumer.localeCompare(b.consumer));
}

function pairCard(p) {
  const sum = (k) => p.invoices.reduce((a, inv) => a + inv[k], 0);
  const open = p.invoices.filter((i) => i.status === 'issued').length;
  return h('article', { class: 'pair', dataset: { pair: p.provider + '>' + p.consumer } },
    h('h3', {}, f.cloudLink(p.provider), ' bills ', f.cloudLink(p.consumer)),
    h('p', {}, f.num(p.invoices.length), ' invoice', p.invoices.length === 1 ? '' : 's', open ? ' (' + open + ' awaiting answer)' : '',
      ': hosting ', f.amount(sum('hosting_micro')), ', penalties −', f.amount(sum('penalties_micro')),
      ', total ', h('strong', {}, f.amount(sum('total_micro'))), ' credits.'),
    p.invoices.slice().reverse().map((inv, i) => h('details', { class: 'invoice', open: i === 0, dataset: { invoice: inv.id } },
      h('summary', {}, invoiceSummary(inv)),
      invoiceFacts(inv),
      (inv.lines || []).length || !(inv.hosting_lines + inv.penalty_lines) ? linesTable(inv)
        : h('p', { class: 'muted' }, f.num(inv.hosting_lines + inv.penalty_lines) + ' lines: open the invoice to read them.'),
      h('p', {}, link('#/invoice/' + inv.id, 'Open ' + inv.id + ' on its own')))));
}

export async function render(root, ctx) {
  ctx.title('SLAs and invoices');
  const cloud = ctx.query.get('cloud') || '';
  const pick = h('select', { id: 'sla-cloud' }, h('option', { value: '' }, 'every cloud'));
  const body = h('div', {});
  root.append(h('h1', {}, 'SLAs and invoices'),
    h('form', {
      class: 'controls',
      onsubmit(e) { e.preventDefault(); location.hash = '#/sla' + (pick.value ? '?cloud=' + encodeURIComponent(pick.value) : ''); },
    }, h('label', { for: 'sla-cloud' }, 'Cloud '), pick, ' ', h('button', { type: 'submit' }, 'Show')),
    body);

  const refresh = async () => {
    const [clouds, ags, vios, invs] = await Promise.all([
      api.all('/v1/clouds', {}, 5),
      api.all('/v1/agreements', { cloud }, 5),
      api.all('/v1/violations', { cloud }, 10),
      api.all('/v1/invoices', { cloud }, 10),
    ]);
    // A list holds invoice heads: each pair's latest invoice (shown open) gets its first lines.
    const latest = new Map();
    invs.items.forEach((inv) => latest.set(inv.provider + '>' + inv.consumer, inv));
    await Promise.all([...latest.values()].map(async (inv) => {
      const page = await api.getOr('/v1/invoices/' + encodeURIComponent(inv.id) + '/lines', { items: [] }, { limit: 100 });
      inv.lines = page.items || [];
    }));
    if (!ctx.alive) return;
    if (pick.options.length === 1) {
      clouds.items.forEach((c) => pick.append(h('option', { value: c.id }, c.id)));
      pick.value = cloud;
    }
    const penalty = vios.items.reduce((a, v) => a + v.penalty_micro, 0);
    swap(body,
      section('SLA violations',
        h('p', { class: 'lead' }, f.num(vios.items.length), vios.more ? '+' : '', ' violation', vios.items.length === 1 ? '' : 's',
          cloud ? ' attributed to ' + cloud : '', ', penalties ', f.amount(penalty), ' credits in all.'),
        table('SLA violations, oldest first', ['Violation', 'VM', 'Provider (host)', 'Consumer', 'Agreement', 'Window', 'Measured', 'Objective', 'Charge', 'Penalty', 'Recorded'],
          vios.items.map((v) => [h('span', { class: 'mono' }, v.id), f.vmLink(v.vm), f.cloudLink(v.cloud), f.cloudLink(v.consumer), v.agreement,
            [f.time(v.start), ' → ', f.time(v.end), ' (', f.num(v.seconds), ' s)'],
            f.pct(v.availability_mpct) + (v.latency_ms ? ', ' + v.latency_ms + ' ms' : ''),
            f.pct(v.availability_objective_mpct) + (v.max_latency_ms ? ', ≤ ' + v.max_latency_ms + ' ms' : ''),
            f.amount(v.charge_micro), f.amount(v.penalty_micro), f.stamp(v.recorded)]), { id: 'violations' })),
      section('Invoices per pair of clouds',
        invs.items.length ? pairs(invs.items).map(pairCard) : h('p', { class: 'muted' }, 'No invoices closed yet.')),
      section('Agreements',
        table('Agreements, in the order proposed', ['Agreement', 'Provider', 'Consumer', 'Status', 'Price / vCPU-h', 'Availability', 'Max latency', 'Penalty', 'Signed', 'Until'],
          ags.items.map((a) => [h('span', { class: 'mono' }, a.id), f.cloudLink(a.provider), f.cloudLink(a.consumer), badge(a.status),
            f.amount(a.price_vcpu_hour_micro), f.pct(a.availability_mpct), a.max_latency_ms ? a.max_latency_ms + ' ms' : '—',
            f.pct(a.penalty_mpct), f.stamp(a.signed), a.until ? f.time(a.until) : 'open-ended']), { id: 'agreements' })));
  };
  await refresh();
  ctx.refreshOn((ev) => /^(sla|invoice|agreement|report)\./.test(ev.type) || ev.type === 'gap' || ev.type === 'block',
    () => refresh().catch(() => {}));
}

export async function renderInvoice(root, ctx) {
  const id = ctx.params[0];
  ctx.title('Invoice ' + id);
  const body = h('div', {});
  root.append(h('h1', {}, 'Invoice ', h('span', { class: 'mono' }, id)), body);
  const refresh = async () => {
    const inv = await api.get('/v1/invoices/' + encodeURIComponent(id));
    // The head carries the first lines; the rest come page by page.
    inv.lines = inv.lines || [];
    for (let after = inv.lines_next; after && ctx.alive;) {
      const page = await api.get('/v1/invoices/' + encodeURIComponent(id) + '/lines', { limit: 1000, after });
      inv.lines.push(...(page.items || []));
      after = page.next;
    }
    if (ctx.alive) {
      swap(body, h('p', { class: 'lead' }, f.cloudLink(inv.provider), ' bills ', f.cloudLink(inv.consumer), ' for ', f.time(inv.from), ' → ', f.time(inv.until), '.'),
        invoiceFacts(inv), section('Lines', linesTable(inv)));
    }
  };
  await refresh();
  ctx.refreshOn((ev) => ev.attrs && ev.attrs.invoice === id, () => refresh().catch(() => {}));
}
