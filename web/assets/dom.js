// Building DOM from code without ever parsing markup. Event data (a customer's name, a note, a title)
// can hold anything, `<img src=x onerror=...>` included: it only ever reaches the page as a text node
// or an attribute value, never through innerHTML, insertAdjacentHTML or outerHTML.

/**
 * h('div', {class: 'card', testid: 'omset-total', dataset: {id: 3}, onclick: fn}, 'text', child, ...)
 * Props: class, testid (-> data-testid), dataset, text, style (object), on* (listeners), and any other
 * key as an attribute (true -> empty attribute, false/null -> left out). Children: strings and numbers
 * become text nodes; null, undefined and false are skipped; arrays are flattened.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  applyProps(el, props);
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function applyProps(el, props) {
  if (!props) return;
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'testid') el.dataset.testid = value;
    else if (key === 'text') el.textContent = String(value);
    else if (key === 'dataset') for (const [k, v] of Object.entries(value)) el.dataset[k] = String(v);
    else if (key === 'style') Object.assign(el.style, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'value' || key === 'checked' || key === 'disabled') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
}

/** Replaces the children of el (no markup parsing). */
export function setChildren(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** Sets text only when it changed; returns whether it did (so callers can animate real changes). */
export function setText(el, text) {
  const s = String(text);
  if (el.textContent === s) return false;
  el.textContent = s;
  return true;
}

/** Restarts a CSS animation class on el (pulse on a changed figure). */
export function replay(el, className) {
  el.classList.remove(className);
  void el.offsetWidth; // reflow, so removing and adding the class starts the animation again
  el.classList.add(className);
}

export const $ = (selector, root = document) => root.querySelector(selector);
