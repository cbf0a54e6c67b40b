// Formatting of ledger values. The ledger holds integers only: amounts in
// micro-credits, percentages in thousandths of a percent, reputation in basis
// points. They are shown as decimals without ever going through floating point.

import { h, link } from './dom.js';

function fixed(v, places) {
  const neg = v < 0;
  let str = String(Math.abs(Math.trunc(Number(v) || 0)));
  if (str.length <= places) str = '0'.repeat(places - str.length + 1) + str;
  const whole = str.slice(0, str.length - places);
  const frac = str.slice(str.length - places).replace(/0+$/, '');
  return (neg ? '-' : '') + whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',') + (frac ? '.' + frac : '');
}

/** amount renders micro-credits as credits ("0.001111"). */
export function amount(micro) { return fixed(micro, 6); }

/** pct renders thousandths of a percent ("99.9 %"). */
export function pct(mpct) { return fixed(mpct, 3) + ' %'; }

/** rep renders basis points as a percentage ("97.5 %"). */
export function rep(bp) { return fixed(bp, 2) + ' %'; }

/** num renders a whole number with thousands separators. */
export function num(n) { return fixed(n, 0); }

/** mib renders MiB as MiB or GiB. */
export function mib(n) { return n === 0 ? '0' : n >= 1024 && n % 1024 === 0 ? num(n / 1024) + ' GiB' : num(n) + ' MiB'; }

/** resources renders a resource vector briefly. */
export function resources(r) {
  if (!r) return '';
  const parts = [num(r.cpu) + ' vCPU', mib(r.mem_mib)];
  if (r.disk_iops) parts.push(num(r.disk_iops) + ' IOPS');
  if (r.net_mbps) parts.push(num(r.net_mbps) + ' Mbit/s');
  return parts.join(' · ');
}

/** isoTime renders an RFC 3339 time as "2026-11-25 18:55:14.123Z". */
export function isoTime(t) {
  if (!t) return '';
  const d = new Date(t);
  if (Number.isNaN(d.getTime()) || d.getTime() <= 0) return '';
  return d.toISOString().replace('T', ' ').replace('.000Z', 'Z');
}

/** time makes a <time> element for an RFC 3339 time. */
export function time(t) {
  const text = isoTime(t);
  return text ? h('time', { datetime: t }, text) : '—';
}

/** duration renders milliseconds briefly ("2 h 5 min", "3.2 s"). */
export function duration(ms) {
  if (ms < 0) ms = 0;
  if (ms < 1000) return Math.round(ms) + ' ms';
  if (ms < 60000) return (Math.round(ms / 100) / 10) + ' s';
  const min = Math.floor(ms / 60000);
  if (min < 60) return min + ' min ' + Math.floor((ms % 60000) / 1000) + ' s';
  const hr = Math.floor(min / 60);
  if (hr < 48) return hr + ' h ' + (min % 60) + ' min';
  return Math.floor(hr / 24) + ' d ' + (hr % 24) + ' h';
}

/** short shortens a long hex string for display ("3F2A…9C1B"). */
export function short(hex, n = 8) {
  if (!hex || hex.length <= 2 * n + 1) return hex || '';
  return hex.slice(0, n) + '…' + hex.slice(-4);
}

/** stamp shows where the ledger recorded something: time, block and transaction. */
export function stamp(st) {
  if (!st) return '—';
  return h('span', { class: 'stamp' },
    time(st.at), ' ',
    st.height ? link('#/block/' + st.height, '#' + st.height, { title: 'block ' + st.height }) : null,
    st.tx ? [' ', link('#/tx/' + st.tx, 'tx ' + short(st.tx, 6), { title: 'transaction ' + st.tx, class: 'mono' })] : null);
}

/** cloudLink links to a cloud's page. */
export function cloudLink(id) { return id ? link('#/cloud/' + encodeURIComponent(id), id) : '—'; }

/** vmLink links to a VM's page. */
export function vmLink(id) { return id ? link('#/vm/' + encodeURIComponent(id), id) : '—'; }

/** idLink links an id the ledger made to where it is shown best. */
export function idLink(id) {
  if (!id) return '—';
  if (/^inv-\d+$/.test(id)) return link('#/invoice/' + id, id);
  if (/^(mig|agr|vio|rep)-\d+$/.test(id)) return link('#/search?q=' + encodeURIComponent(id), id);
  return link('#/search?q=' + encodeURIComponent(id), id);
}

const PALETTE = ['#1f77b4', '#d95f02', '#1b9e77', '#7570b3', '#e7298a', '#66a61e', '#a6761d', '#e6ab02', '#17becf', '#666666'];

/** colors assigns each cloud id a color, stably in id order. */
export function colors(ids) {
  const m = new Map();
  [...new Set(ids)].sort().forEach((id, i) => m.set(id, PALETTE[i % PALETTE.length]));
  return (id) => m.get(id) || '#888888';
}
