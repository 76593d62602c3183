// The outbox on the users page: how many mails wait and how many failed for good, and each failed
// mail with the mail server's answer and a button that puts it back in the queue. Nothing is
// shown while the site sends no mail and none ever failed.
import { describeError, request } from '../api.js';
import { h, replaceChildren } from '../dom.js';
import { formatDateTime } from '../format.js';
import { t } from '../i18n.js';
import { showMessage, whileBusy } from './form.js';
import { stackedTable } from './table.js';

function failedRow(mail, retry) {
  const button = h('button', {
    type: 'button', class: 'btn btn-quiet btn-small', 'aria-label': t('outbox.retryLabel', { email: mail.recipient }),
  }, t('outbox.retry'));
  button.addEventListener('click', () => whileBusy(button, t('admin.busy'), () => retry(mail)));
  return Object.assign([
    h('td', {}, h('time', { datetime: mail.created_at }, formatDateTime(mail.created_at))),
    h('td', { class: 'cell-email' }, mail.recipient),
    h('td', { class: 'cell-wrap' }, mail.subject),
    h('td', { class: 'cell-wrap' }, h('code', {}, mail.last_error ?? '')),
    h('td', { class: 'cell-actions' }, button),
  ], { email: mail.recipient });
}

/** The outbox's element, filled once the backend answers (nothing shown if it cannot). */
export function outboxLine() {
  const element = h('section', { class: 'outbox', 'aria-labelledby': 'outbox-heading', hidden: true });
  const message = h('div', { 'aria-live': 'polite' });

  async function retry(mail) {
    try {
      await request('POST', `/api/outbox/${mail.id}/retry`);
      await load();
      showMessage(message, 'success', t('outbox.retried', { email: mail.recipient }));
    } catch (error) {
      showMessage(message, 'error', describeError(error));
    }
  }

  async function load() {
    const state = await request('GET', '/api/outbox');
    element.hidden = !state.mail && state.failed === 0;
    const columns = ['when', 'to', 'subject', 'answer', 'retry'].map((column) => t(`outbox.${column}`));
    replaceChildren(element,
      h('p', { id: 'outbox-heading', class: state.failed ? 'banner banner-error' : 'hint' },
        t('outbox.line', { waiting: state.waiting, failed: state.failed })),
      message,
      state.failed_mails.length === 0 ? null : [
        h('h2', {}, t('outbox.failedHeading')),
        h('p', { class: 'hint' }, t('outbox.failedIntro')),
        stackedTable(t('outbox.failedHeading'), columns, state.failed_mails.map((mail) => failedRow(mail, retry))),
      ]);
  }

  load().catch(() => element.replaceChildren());
  return element;
}
