// Administrators: every account, a page at a time, with deactivate/reactivate.
import { describeError, request } from '../api.js';
import { h, replaceChildren } from '../dom.js';
import { formatDay } from '../format.js';
import { t } from '../i18n.js';
import { pager } from './pager.js';

const PAGE_SIZE = 20;

export function usersView(context) {
  const region = h('div', { class: 'table-region' });
  const message = h('div', { 'aria-live': 'polite' });
  let offset = 0;
  const heading = h('h1', { tabindex: '-1' }, t('users.title'));

  async function setActive(user, isActive) {
    message.replaceChildren();
    try {
      const updated = await request('PATCH', `/api/users/${encodeURIComponent(user.id)}`, {
        json: { is_active: isActive },
      });
      const key = updated.is_active ? 'users.reactivated' : 'users.deactivated';
      message.replaceChildren(h('p', { class: 'banner banner-success', role: 'status' }, t(key, { email: updated.email })));
      await loadPage();
      region.querySelector(`[data-user-id="${CSS.escape(user.id)}"]`)?.focus();
    } catch (error) {
      message.replaceChildren(h('p', { class: 'banner banner-error', role: 'alert' }, describeError(error)));
    }
  }

  function row(user) {
    const isSelf = user.id === context.user.id;
    const action = user.is_active ? 'deactivate' : 'reactivate';
    return h('tr', {},
      h('td', { class: 'cell-email' }, user.email, isSelf ? h('span', { class: 'tag' }, t('users.you')) : null),
      h('td', {}, user.full_name ?? ''),
      h('td', {}, t(`role.${user.role}`)),
      h('td', {}, h('span', { class: user.is_active ? 'pill pill-ok' : 'pill pill-off' },
        user.is_active ? t('users.active') : t('users.inactive'))),
      h('td', {}, h('time', { datetime: user.created_at }, formatDay(user.created_at))),
      h('td', {}, isSelf ? null : h('button', {
        type: 'button',
        class: user.is_active ? 'btn btn-danger-quiet btn-small' : 'btn btn-quiet btn-small',
        'data-user-id': user.id,
        'aria-label': t(`users.${action}Label`, { email: user.email }),
        onclick: () => setActive(user, !user.is_active),
      }, t(`users.${action}`))));
  }

  async function loadPage() {
    region.setAttribute('aria-busy', 'true');
    try {
      const page = await request('GET', `/api/users?offset=${offset}&limit=${PAGE_SIZE}`);
      const columns = ['email', 'fullName', 'role', 'status', 'created', 'actions'];
      replaceChildren(region, page.items.length === 0 ? h('p', { class: 'empty-state' }, t('users.empty')) : [
        h('div', { class: 'table-scroll' },
          h('table', { class: 'table' },
            h('caption', { class: 'visually-hidden' }, t('users.title')),
            h('thead', {}, h('tr', {}, columns.map((column) => h('th', { scope: 'col' }, t(`users.${column}`))))),
            h('tbody', {}, page.items.map(row)))),
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

  loadPage();
  return h('div', { class: 'users-page' }, heading, message, region);
}
