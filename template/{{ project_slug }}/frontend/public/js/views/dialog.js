// A confirmation in a modal <dialog>: the browser traps focus inside it and closes it on Escape.
import { h } from '../dom.js';

/** Resolves true when the user confirms, false on cancel or Escape; focus returns to `returnFocus`. */
export function confirmDialog({ title, body, confirmLabel, cancelLabel, returnFocus }) {
  return new Promise((resolve) => {
    const cancel = h('button', { type: 'button', class: 'btn btn-quiet', autofocus: true,
      onclick: () => dialog.close('cancel') }, cancelLabel);
    const confirm = h('button', { type: 'button', class: 'btn btn-danger',
      onclick: () => dialog.close('confirm') }, confirmLabel);
    const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': 'dialog-title', 'aria-describedby': 'dialog-body' },
      h('h2', { id: 'dialog-title' }, title),
      h('p', { id: 'dialog-body' }, body),
      h('div', { class: 'dialog-actions' }, cancel, confirm));
    dialog.addEventListener('close', () => {
      dialog.remove();
      if (returnFocus?.isConnected) returnFocus.focus();
      resolve(dialog.returnValue === 'confirm');
    }, { once: true });
    document.body.append(dialog);
    dialog.showModal(); // focuses the autofocus button: Cancel, the safe choice
  });
}

/** A modal asking for one value; resolves the text typed, or null on cancel or Escape. */
export function promptDialog({ title, label, value = '', confirmLabel, cancelLabel, returnFocus, inputAttributes = {} }) {
  return new Promise((resolve) => {
    const input = h('input', { id: 'dialog-input', class: 'input', value, autofocus: true, ...inputAttributes });
    const cancel = h('button', { type: 'button', class: 'btn btn-quiet', onclick: () => dialog.close('cancel') }, cancelLabel);
    const confirm = h('button', { type: 'submit', class: 'btn btn-primary' }, confirmLabel);
    const form = h('form', { method: 'dialog', class: 'stack', onsubmit: (event) => {
      event.preventDefault();
      if (input.reportValidity()) dialog.close('confirm');
    } },
    h('div', { class: 'field' }, h('label', { for: 'dialog-input' }, label), input),
    h('div', { class: 'dialog-actions' }, cancel, confirm));
    const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': 'dialog-title' },
      h('h2', { id: 'dialog-title' }, title), form);
    dialog.addEventListener('close', () => {
      dialog.remove();
      if (returnFocus?.isConnected) returnFocus.focus();
      resolve(dialog.returnValue === 'confirm' ? input.value : null);
    }, { once: true });
    document.body.append(dialog);
    dialog.showModal();
  });
}
