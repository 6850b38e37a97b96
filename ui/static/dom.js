// Element builders. Everything that came from a peer, a user or the API
// (ids, labels, addresses, frame bodies, error messages) goes into the
// page as text nodes or textContent, never as markup: nothing here takes
// HTML, and attributes are set one by one with names this code chooses.

const SVG_NS = 'http://www.w3.org/2000/svg';

// Attribute names h() refuses, whatever the caller: event handlers and
// inline styles (the Content-Security-Policy blocks them anyway) and
// srcdoc, which is markup.
function checkedAttr(name) {
  const n = String(name).toLowerCase();
  if (n.startsWith('on') || n === 'style' || n === 'srcdoc') {
    throw new Error('dom: attribute ' + name + ' is not allowed');
  }
  return name;
}

function append(el, child) {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) {
    for (const c of child) append(el, c);
    return;
  }
  if (child instanceof Node) {
    el.appendChild(child);
    return;
  }
  el.appendChild(document.createTextNode(String(child)));
}

function applyProps(el, props) {
  if (!props) return;
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    switch (key) {
      case 'class':
        el.setAttribute('class', Array.isArray(value) ? value.filter(Boolean).join(' ') : value);
        break;
      case 'text':
        el.textContent = String(value);
        break;
      case 'on':
        for (const [type, fn] of Object.entries(value)) el.addEventListener(type, fn);
        break;
      case 'dataset':
        for (const [k, v] of Object.entries(value)) el.dataset[k] = String(v);
        break;
      case 'value':
        el.value = String(value);
        break;
      case 'checked':
      case 'selected':
      case 'disabled':
      case 'hidden':
      case 'required':
      case 'readOnly':
      case 'multiple':
        el[key] = Boolean(value);
        break;
      default:
        el.setAttribute(checkedAttr(key), value === true ? '' : String(value));
    }
  }
}

// h('td', {class: 'num'}, 'text', otherNode, ...): an HTML element with
// properties and children; strings become text nodes.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  applyProps(el, props);
  append(el, children);
  return el;
}

// s('path', {d: ...}): an SVG element.
export function s(tag, props, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  applyProps(el, props);
  append(el, children);
  return el;
}

// clear removes every child of el.
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// replace puts children in el instead of what it held.
export function replace(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

// setText changes el's text only when it differs, so a poll that finds
// nothing new touches no layout.
export function setText(el, text) {
  const t = String(text);
  if (el.textContent !== t) el.textContent = t;
}

// toggleClass sets or clears one class.
export function toggleClass(el, name, on) {
  el.classList.toggle(name, Boolean(on));
}

// option builds an <option>.
export function option(value, label, selected) {
  return h('option', {value, selected}, label === undefined ? value : label);
}

// select builds a <select> of [value, label] pairs.
export function select(props, pairs, current) {
  return h('select', props, pairs.map(([v, l]) => option(v, l, v === current)));
}

// button builds a <button type=button>.
export function button(label, onClick, props = {}) {
  return h('button', {type: 'button', ...props, on: {click: onClick}}, label);
}
