// Dialogs: the token prompt (its markup is in index.html), and the
// confirmations of stop and delete, which ask how (graceful or
// immediate) and for how long a graceful stop may drain.

import {h, replace} from './dom.js';
import {getToken, setToken} from './api.js';
import {durationOK} from './format.js';

// promptToken shows the token dialog and resolves once a token is
// stored. It cannot be dismissed: without a token nothing works.
export function promptToken(reason) {
  const dialog = document.getElementById('token-dialog');
  const form = document.getElementById('token-form');
  const input = document.getElementById('token-input');
  const why = document.getElementById('token-reason');
  why.textContent = reason || '';
  input.value = '';
  return new Promise((resolve) => {
    const onSubmit = (ev) => {
      ev.preventDefault();
      const token = input.value.trim();
      if (!token) {
        why.textContent = 'Enter the token.';
        return;
      }
      setToken(token);
      form.removeEventListener('submit', onSubmit);
      dialog.close();
      updateTokenButton();
      resolve(token);
    };
    form.addEventListener('submit', onSubmit);
    if (!dialog.open) dialog.showModal();
    input.focus();
  });
}

// setUpTokenDialog wires what does not change between prompts.
export function setUpTokenDialog() {
  const dialog = document.getElementById('token-dialog');
  dialog.addEventListener('cancel', (ev) => ev.preventDefault());
  document.getElementById('token-forget').addEventListener('click', () => {
    setToken('');
    updateTokenButton();
    document.getElementById('token-reason').textContent = 'The stored token is forgotten.';
  });
  document.getElementById('token-button').addEventListener('click', () => {
    setToken('');
    updateTokenButton();
    location.reload();
  });
  updateTokenButton();
}

function updateTokenButton() {
  const b = document.getElementById('token-button');
  b.hidden = !getToken();
  b.textContent = 'Forget token';
  b.title = 'forget the token stored in this tab and ask again';
}

// confirmStop asks how to stop (or delete) a listener. It resolves to
// {mode, drainTimeout}, or null when cancelled.
export function confirmStop({title, verb, danger}) {
  return new Promise((resolve) => {
    const graceful = h('input', {type: 'radio', name: 'mode', value: 'STOP_MODE_GRACEFUL', checked: true});
    const immediate = h('input', {type: 'radio', name: 'mode', value: 'STOP_MODE_IMMEDIATE'});
    const drain = h('input', {type: 'text', name: 'drainTimeout', placeholder: '10s (default)', spellcheck: 'false', autocomplete: 'off'});
    const err = h('p', {class: 'field-error', role: 'alert'});
    const ok = h('button', {type: 'submit', class: danger ? 'danger' : 'primary', dataset: {action: 'confirm'}}, verb);
    const cancel = h('button', {type: 'button', class: 'ghost', dataset: {action: 'cancel'}}, 'Cancel');
    const form = h('form', {method: 'dialog', class: 'stop-form'},
      h('h2', null, title),
      h('fieldset', {class: 'radios'},
        h('legend', null, 'Mode'),
        h('label', null, graceful, ' graceful: stop accepting, let frames in progress finish'),
        h('label', null, immediate, ' immediate: close every connection at once')),
      h('label', {class: 'field'}, h('span', null, 'Drain timeout (graceful)'), drain, err),
      h('div', {class: 'buttons'}, ok, cancel));
    const dialog = h('dialog', {class: 'dialog', id: 'stop-dialog'}, form);
    const done = (value) => {
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    immediate.addEventListener('change', () => { drain.disabled = immediate.checked; });
    graceful.addEventListener('change', () => { drain.disabled = !graceful.checked; });
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const d = drain.value.trim();
      if (d && !durationOK(d)) {
        err.textContent = 'not a duration: write e.g. 5s, 500ms, 1m';
        return;
      }
      const mode = immediate.checked ? 'STOP_MODE_IMMEDIATE' : 'STOP_MODE_GRACEFUL';
      done({mode, drainTimeout: mode === 'STOP_MODE_GRACEFUL' ? d : ''});
    });
    cancel.addEventListener('click', () => done(null));
    dialog.addEventListener('cancel', (ev) => {
      ev.preventDefault();
      done(null);
    });
    document.body.appendChild(dialog);
    dialog.showModal();
    ok.focus();
  });
}

// toast shows a short message at the bottom of the page.
let toastTimer = 0;
export function toast(message, kind) {
  let el = document.getElementById('toast');
  if (!el) {
    el = h('div', {id: 'toast', class: 'toast', role: 'status'});
    document.body.appendChild(el);
  }
  replace(el, message);
  el.className = 'toast show' + (kind ? ' ' + kind : '');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.className = 'toast'; }, kind === 'error' ? 8000 : 3500);
}
