// Building the page without innerHTML: every value from the server becomes a text node,
// so a display name or room topic can never inject markup.

/** `h('button.primary', {onclick}, 'Save')`: an element with classes, attributes, children. */
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'value') el.value = value;
    else if (key === 'checked') el.checked = !!value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';
export function svg(tag, attrs = {}) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

// --- Formatting -------------------------------------------------------------------------

export function bytes(n) {
  if (n === undefined || n === null) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${i ? v.toFixed(1) : v} ${units[i]}`;
}

export function when(ms) {
  if (!ms) return '—';
  const d = new Date(Number(ms));
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function ago(ms) {
  if (!ms) return 'never';
  const s = Math.round((Date.now() - Number(ms)) / 1000);
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} days ago`;
}

export function duration(seconds) {
  const d = Math.floor(seconds / 86400);
  const hrs = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return d ? `${d} d ${hrs} h` : hrs ? `${hrs} h ${m} min` : `${m} min`;
}

export const num = (n) => (n === undefined || n === null ? '—' : Number(n).toLocaleString());

export function badge(text, kind = '') {
  return h(`span.badge${kind ? '.' + kind : ''}`, text);
}

export function yesNo(value) {
  return value ? badge('yes', 'ok') : badge('no');
}

// --- Feedback ---------------------------------------------------------------------------

/** The API's own error text, so the admin sees what the server said. */
export function errorText(err) {
  if (err && err.errcode) return `${err.message} (${err.errcode})`;
  return err && err.message ? err.message : String(err);
}

export function errorBox(err) {
  return h('div.error', { role: 'alert' }, errorText(err));
}

let toastArea;
export function toast(message, bad = false) {
  if (!toastArea || !toastArea.isConnected) {
    toastArea = h('div.toasts', { role: 'status', 'aria-live': 'polite' });
    document.body.append(toastArea);
  }
  const el = h(`div.toast${bad ? '.bad' : ''}`, message);
  toastArea.append(el);
  setTimeout(() => el.remove(), 6000);
}

/**
 * A modal dialog with a form. `body` is the form's fields; `submit(form)` runs on
 * confirmation and may throw: its error stays in the dialog and the dialog stays open.
 * Resolves to submit's result, or undefined when cancelled.
 */
export function dialog({ title, body = [], confirm = 'Confirm', danger = false, submit }) {
  return new Promise((resolve) => {
    const error = h('div');
    const confirmButton = h(`button.${danger ? 'danger' : 'primary'}`, { type: 'submit' }, confirm);
    const form = h('form', { method: 'dialog' },
      h('h2', title), body, error,
      h('div.button-row', confirmButton,
        h('button', { type: 'button', onclick: () => close(undefined) }, 'Cancel')));
    const dlg = h('dialog', { 'aria-label': title }, form);
    let settled = false;
    function close(value) {
      if (settled) return;
      settled = true;
      dlg.close();
      dlg.remove();
      resolve(value);
    }
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); close(undefined); });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      confirmButton.disabled = true;
      fill(error);
      try {
        const result = submit ? await submit(form) : true;
        close(result === undefined ? true : result);
      } catch (err) {
        fill(error, errorBox(err));
        confirmButton.disabled = false;
      }
    });
    document.body.append(dlg);
    dlg.showModal();
    const first = form.querySelector('input, select, textarea');
    (first || confirmButton).focus();
  });
}

/** A confirmation for a destructive action that runs `action` once confirmed. */
export function confirmAction(title, text, action, confirm = 'Confirm') {
  return dialog({ title, body: [h('p', text)], confirm, danger: true, submit: action });
}

/** A labelled form field. */
export function field(labelText, input) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  if (input.type === 'checkbox') {
    return h('div.field.inline', input, h('label', { for: id }, labelText));
  }
  return h('div.field', h('label', { for: id }, labelText), input);
}

export function input(name, attrs = {}) {
  return h('input', { type: 'text', name, autocomplete: 'off', ...attrs });
}

export function checkbox(name, checked = false) {
  return h('input', { type: 'checkbox', name, checked });
}

export function select(name, options, value) {
  return h('select', { name },
    options.map(([v, label]) => h('option', { value: v, selected: v === value }, label)));
}

/** A labelled description list. */
export function props(pairs) {
  return h('dl.props', pairs.filter(Boolean).flatMap(([k, v]) => [h('dt', k), h('dd', v)]));
}

export function json(value) {
  return h('pre.json', JSON.stringify(value, null, 2));
}
