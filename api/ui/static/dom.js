// dom.js builds the pages' elements. Text goes in as text nodes, never as
// HTML, so whatever an API answer or a URL holds is shown, not run.

// h makes an element: h('td', {class: 'num', title: 'exact'}, 'text', node).
// Attributes that are null, undefined or false are left out, true sets an
// empty one, functions under on* become event listeners. Children may be
// nodes, strings, numbers or arrays of them; null and undefined are skipped.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) {
      continue;
    }
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

// fill replaces the children of el.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// message is a notice in a page: kind 'error' for what went wrong (it
// carries data-error, which the tests look for), 'note' for an empty list
// or a hint.
export function message(kind, ...children) {
  return h('p', {class: 'message ' + kind, 'data-error': kind === 'error' ? '' : null}, ...children);
}

// section is a titled part of a page with a place for notices above its
// body, so that a failed refresh can say so while the last figures stay.
export function section(title, attrs) {
  const msg = h('div', {class: 'section-msg'});
  const body = h('div', {class: 'section-body'});
  const el = h('section', attrs, title ? h('h2', null, title) : null, msg, body);
  return {el, msg, body};
}

// table makes a table with the given column heads; a head can be a string
// or [text, className].
export function table(heads, rows) {
  return h('div', {class: 'table-wrap'},
    h('table', null,
      h('thead', null, h('tr', null, heads.map((hd) => {
        const [text, cls] = Array.isArray(hd) ? hd : [hd, null];
        return h('th', {class: cls, scope: 'col'}, text);
      }))),
      h('tbody', null, rows)));
}

// stat is one figure with its label and an optional line below it.
export function stat(key, label, value, sub, title) {
  return h('div', {class: 'stat', 'data-stat': key},
    h('span', {class: 'stat-label'}, label),
    h('span', {class: 'stat-value', title}, value),
    sub ? h('span', {class: 'stat-sub'}, sub) : null);
}
