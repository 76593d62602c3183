// Pieces shared by the forms: labelled fields, an error area tied to the form, a busy submit button.
import { h, uid } from '../dom.js';

/** An address as the backend stores it (schemas.normalise_email): NFKC, no spaces around, lower case. */
export function normaliseEmail(value) {
  return value.normalize('NFKC').trim().toLowerCase();
}

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
 * Show `content` (text, or a node such as a link to copy) in `region` as the page's message.
 * One message at a time, the newest: any other message shown on the page (an earlier form's, or
 * "You are signed out" from the previous page) goes, so an old one never sits above the news.
 */
export function showMessage(region, kind, content) {
  if (!region.isConnected) return; // its page is gone (e.g. the session ended): nothing to say there
  for (const old of document.querySelectorAll('[data-message]')) old.remove();
  const message = typeof content === 'string'
    ? h('p', { class: `banner banner-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, content)
    : content;
  message.setAttribute('data-message', '');
  region.replaceChildren(message);
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
      showMessage(element, 'error', text);
    },
    success(text) {
      showMessage(element, 'success', text);
    },
    clear() {
      element.replaceChildren();
    },
    /**
     * An error about what was sent goes as soon as the user changes the form, or the browser
     * points at a new problem in it: a stale sentence never sits above a different one.
     */
    watch(form) {
      const clearError = () => {
        if (element.querySelector('.banner-error')) element.replaceChildren();
      };
      form.addEventListener('input', clearError);
      form.addEventListener('invalid', clearError, true); // `invalid` does not bubble
      return form;
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
