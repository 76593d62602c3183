// Pieces shared by the forms: labelled fields, an error area tied to the form, a busy submit button.
import { h, uid } from '../dom.js';

/** A labelled input; extra `attributes` go on the <input> (type, autocomplete, required, …). */
export function field(label, attributes = {}, hint = null) {
  const id = uid('field');
  const hintId = hint ? `${id}-hint` : null;
  const input = h('input', { id, class: 'input', 'aria-describedby': hintId, ...attributes });
  const element = h('div', { class: 'field' },
    h('label', { for: id }, label),
    input,
    hint ? h('p', { id: hintId, class: 'hint' }, hint) : null);
  return { element, input };
}

/**
 * The place where a form says what went wrong (role=alert, so it is read out when it appears)
 * or that it worked (role=status).
 */
export function formMessage() {
  const element = h('div', { class: 'form-message', 'aria-live': 'polite' });
  return {
    element,
    error(text) {
      element.replaceChildren(h('p', { class: 'banner banner-error', role: 'alert' }, text));
    },
    success(text) {
      element.replaceChildren(h('p', { class: 'banner banner-success', role: 'status' }, text));
    },
    clear() {
      element.replaceChildren();
    },
  };
}

/** Disable the submit button and show `busyLabel` while `work` runs (no double submits). */
export async function whileBusy(button, busyLabel, work) {
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  button.textContent = busyLabel;
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    button.textContent = label;
  }
}
