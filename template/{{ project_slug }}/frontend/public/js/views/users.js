// Administrators: every account a page at a time with its space used, and the tools: role, quota,
// deactivate, password-reset link, delete (user-actions.js); then adding people (add-people.js)
// and the audit log (audit-log.js); the backups' line and the outbox (outbox.js) above them.
// Every destructive action asks first.
import { describeError, request } from '../api.js';
import { h, replaceChildren } from '../dom.js';
import { formatShortDay, formatSpace } from '../format.js';
import { t, tn } from '../i18n.js';
import { addPeople } from './add-people.js';
import { auditLog } from './audit-log.js';
import { backupLine } from './backup-line.js';
import { outboxLine } from './outbox.js';
import { showMessage } from './form.js';
import { pager } from './pager.js';
import { stackedTable } from './table.js';
import { actionButtons, userActions } from './user-actions.js';

const PAGE_SIZE = 20;
const COLUMNS = ['account', 'role', 'usage', 'created', 'actions'];

/** A cell whose parts stay together: on phones (a label beside a value) they are one value. */
function cell(className, ...parts) {
  return h('td', { class: className }, h('div', {}, ...parts));
}

/** One user's cells: who (address and name), role and status, space, since when, and the tools. */
function userCells(user, isSelf, actions) {
  const space = formatSpace(user.used_bytes, user.quota_bytes);
  return Object.assign([
    cell('cell-account', h('span', { class: 'cell-email' }, user.email),
      isSelf ? h('span', { class: 'tag' }, t('users.you')) : null,
      user.full_name ? h('span', { class: 'hint cell-name' }, user.full_name) : null),
    cell(null, t(`role.${user.role}`), h('span', { class: 'cell-name' },
      h('span', { class: user.is_active ? 'pill pill-ok' : 'pill pill-off' }, t(user.is_active ? 'users.active' : 'users.inactive')),
      // An open sign-up whose mailed link was not opened yet: it cannot sign in.
      user.email_verified === false ? h('span', { class: 'pill pill-off' }, t('users.unverified')) : null)),
    cell(null, t('users.usageOf', space),
      h('span', { class: 'hint cell-name' }, tn('users.fileCount', user.file_count),
        user.quota_mb !== null ? h('span', { class: 'tag' }, t('users.custom')) : null)),
    cell(null, h('time', { datetime: user.created_at }, formatShortDay(user.created_at))),
    h('td', { class: 'cell-actions' }, actionButtons(user, isSelf, actions)),
  ], { email: user.email });
}

export function usersView(context) {
  const region = h('div', { class: 'table-region' });
  const message = h('div', { 'aria-live': 'polite' });
  const heading = h('h1', { tabindex: '-1' }, t('users.title'));
  const audit = auditLog();
  let offset = 0;

  async function loadPage() {
    region.setAttribute('aria-busy', 'true');
    try {
      const page = await request('GET', `/api/users?offset=${offset}&limit=${PAGE_SIZE}`);
      replaceChildren(region, page.items.length === 0 ? h('p', { class: 'empty-state' }, t('users.empty')) : [
        stackedTable(t('users.title'), COLUMNS.map((column) => t(`users.${column}`)),
          page.items.map((user) => userCells(user, user.id === context.user.id, actions))),
        pager({
          offset, total: page.total, pageSize: PAGE_SIZE, label: t('pager.users'),
          go: (newOffset) => {
            offset = newOffset;
            loadPage().then(() => heading.focus());
          },
        }),
      ]);
    } catch (error) {
      replaceChildren(region, h('p', { class: 'banner banner-error', role: 'alert' }, describeError(error)));
    } finally {
      region.removeAttribute('aria-busy');
    }
  }

  const actions = userActions({
    say: (kind, content) => showMessage(message, kind, content),
    clear: () => message.replaceChildren(),
    focusMessage: () => message.querySelector('input')?.focus(),
    region, heading, audit, reload: loadPage,
  });
  loadPage();
  return h('div', { class: 'users-page' }, heading, backupLine(), outboxLine(), message, region,
    addPeople(() => { loadPage(); audit.reload(); }), audit.element);
}
