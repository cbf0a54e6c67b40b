// Building DOM nodes without innerHTML: every string from the ledger becomes a
// text node, so nothing a signer wrote can turn into markup.

const SVGNS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'class' && Array.isArray(v)) {
      el.setAttribute('class', v.filter(Boolean).join(' '));
    } else if (k === 'style' && typeof v === 'object') {
      Object.assign(el.style, v); // through the CSSOM: the page's CSP refuses style attributes
    } else if (k === 'dataset') {
      for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = dv;
    } else if (v === true) {
      el.setAttribute(k, '');
    } else {
      el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

/** append adds children (nodes, strings, numbers, arrays of them; null skipped). */
export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** h makes an HTML element: h('a', {href: '#/'}, 'home'). */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** s makes an SVG element. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVGNS, tag), attrs, children);
}

/** replace empties el and fills it with children. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** table makes a table with a caption, column headings and rows of cells. */
export function table(caption, heads, rows, attrs = {}) {
  const t = h('table', attrs,
    caption ? h('caption', {}, caption) : null,
    h('thead', {}, h('tr', {}, heads.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows.length ? rows.map((r) => (r instanceof Node ? r : h('tr', {}, r.map((c) => h('td', {}, c)))))
      : h('tr', {}, h('td', { colspan: heads.length, class: 'muted' }, 'None.'))));
  return h('div', { class: 'scroll', tabindex: 0, role: 'region', 'aria-label': caption || 'table' }, t);
}

/** section makes a titled section of a view. */
export function section(title, ...children) {
  return h('section', { class: 'card' }, h('h2', {}, title), ...children);
}

/** link makes an in-app link to a route ("#/vm/vm-1"). */
export function link(route, text, attrs = {}) {
  return h('a', { href: route, ...attrs }, text);
}

/** badge makes a small status label. */
export function badge(text, kind) {
  return h('span', { class: ['badge', kind || text] }, text);
}

/** errorBox shows an error to the reader. */
export function errorBox(err) {
  return h('p', { class: 'error', role: 'alert' }, err && err.message ? err.message : String(err));
}

function focusKey(el) {
  return el.getAttribute('href') || el.id || el.dataset.key || null;
}

/**
 * swap replaces container's content like replace, and keeps the keyboard
 * focus: if it was on a link or control inside, the same one (by href, id or
 * data-key) has it afterwards. Live refreshes use it so they never yank focus.
 */
export function swap(container, ...children) {
  const active = document.activeElement;
  const key = active && active !== container && container.contains(active) ? focusKey(active) : null;
  replace(container, ...children);
  if (key) {
    const again = [...container.querySelectorAll('a, button, input, select, summary, [tabindex]')].find((e) => focusKey(e) === key);
    if (again) again.focus({ preventScroll: true });
  }
  return container;
}
