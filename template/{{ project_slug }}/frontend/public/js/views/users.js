// Administrators: add people (an invitation link or an account), then every account a page at a
// time with its space used, and the tools: role, quota, deactivate, password-reset link, delete.
// Every destructive action asks first; the audit log below lists what administrators did.
import { describeError, request } from '../api.js';
import { h, replaceChildren } from '../dom.js';
import { formatBytes, formatDateTime, formatDay } from '../format.js';
import { t } from '../i18n.js';
import { PASSWORD_MIN_LENGTH } from './auth.js';
import { confirmDialog, promptDialog } from './dialog.js';
import { field, formMessage, showMessage, whileBusy } from './form.js';
import { pager } from './pager.js';

const PAGE_SIZE = 20;

/**
 * A table that becomes one card per row on phones (app.css, .table-stack): each cell shows its
 * column's name from `data-label`. The roles are spelled out because a table whose parts CSS
 * displays as blocks loses them in some browsers' accessibility trees.
 */
function stackedTable(caption, columns, rows) {
  return h('div', { class: 'table-scroll' }, h('table', { class: 'table table-stack', role: 'table' },
    h('caption', { class: 'visually-hidden' }, caption),
    h('thead', { role: 'rowgroup' }, h('tr', { role: 'row' },
      columns.map((column) => h('th', { scope: 'col', role: 'columnheader' }, column)))),
    h('tbody', { role: 'rowgroup' }, rows.map((cells) => {
      const row = h('tr', { role: 'row', 'data-email': cells.email ?? null });
      cells.forEach((cell, index) => {
        cell.setAttribute('role', 'cell');
        cell.setAttribute('data-label', columns[index]);
        row.append(cell);
      });
      return row;
    }))));
}

/** A one-time link to hand on, in a read-only field the admin can select and copy. */
function linkBox(labelKey, email, issued) {
  const url = `${window.location.origin}${issued.path}`;
  const box = field(t(labelKey, { email, until: formatDateTime(issued.expires_at) }), {
    type: 'text', readonly: true, value: url, class: 'input link-box', 'data-testid': 'issued-link',
    onfocus: (event) => event.target.select(),
  });
  return box.element;
}

function addPeople(onAdded) {
  const message = formMessage();
  const email = field(t('admin.email'), { type: 'email', name: 'email', required: true, maxlength: 254 });
  const invite = h('button', { type: 'submit', class: 'btn btn-primary' }, t('admin.invite'));
  async function onInvite(event) {
    event.preventDefault();
    message.clear();
    await whileBusy(invite, t('admin.busy'), async () => {
      try {
        const issued = await request('POST', '/api/invitations', { json: { email: email.input.value.trim() } });
        showMessage(message.element, 'success', linkBox('admin.invitationLink', email.input.value.trim(), issued));
        message.element.querySelector('input')?.focus();
        onAdded();
      } catch (error) {
        message.error(describeError(error));
      }
    });
  }

  const newEmail = field(t('admin.email'), { type: 'email', name: 'new_email', required: true, maxlength: 254 });
  const newName = field(t('signup.fullName'), { type: 'text', name: 'new_name', maxlength: 255 });
  const newPassword = field(t('admin.password'), {
    type: 'text', name: 'new_password', required: true, minlength: PASSWORD_MIN_LENGTH, maxlength: 128, autocomplete: 'off',
  }, t('admin.passwordHint'));
  const create = h('button', { type: 'submit', class: 'btn btn-quiet' }, t('admin.create'));
  const createMessage = formMessage();
  async function onCreate(event) {
    event.preventDefault();
    createMessage.clear();
    await whileBusy(create, t('admin.busy'), async () => {
      try {
        const user = await request('POST', '/api/users', { json: {
          email: newEmail.input.value.trim(), password: newPassword.input.value,
          full_name: newName.input.value.trim() || null,
        } });
        createMessage.success(t('admin.created', { email: user.email }));
        event.target.reset();
        onAdded();
      } catch (error) {
        createMessage.error(describeError(error));
      }
    });
  }

  return h('section', { class: 'admin-add', 'aria-labelledby': 'add-heading' },
    h('h2', { id: 'add-heading' }, t('admin.addHeading')),
    h('div', { class: 'admin-forms' },
      h('form', { class: 'stack', 'aria-label': t('admin.inviteHeading'), onsubmit: onInvite },
        h('h3', {}, t('admin.inviteHeading')), h('p', { class: 'hint' }, t('admin.inviteHint')),
        email.element, invite, message.element),
      h('form', { class: 'stack', 'aria-label': t('admin.createHeading'), onsubmit: onCreate },
        h('h3', {}, t('admin.createHeading')),
        newEmail.element, newName.element, newPassword.element, create, createMessage.element)));
}

function auditLog() {
  const region = h('div', { class: 'table-region' });
  let offset = 0;
  async function load() {
    try {
      const page = await request('GET', `/api/audit?offset=${offset}&limit=${PAGE_SIZE}`);
      replaceChildren(region, page.items.length === 0 ? h('p', { class: 'empty-state' }, t('audit.empty')) : [
        stackedTable(t('audit.title'), ['when', 'who', 'what', 'whom'].map((c) => t(`audit.${c}`)),
          page.items.map((entry) => [
            h('td', {}, h('time', { datetime: entry.at }, formatDateTime(entry.at))),
            h('td', {}, entry.actor_email),
            h('td', {}, t(`audit.action.${entry.action}`), entry.detail ? h('span', { class: 'hint' }, ` (${entry.detail})`) : null),
            h('td', {}, entry.target_email ?? '')])),
        pager({ offset, total: page.total, pageSize: PAGE_SIZE, label: t('audit.pages'), go: (o) => { offset = o; load(); } }),
      ]);
    } catch (error) {
      replaceChildren(region, h('p', { class: 'banner banner-error', role: 'alert' }, describeError(error)));
    }
  }
  load();
  return { element: h('section', { 'aria-labelledby': 'audit-heading' }, h('h2', { id: 'audit-heading' }, t('audit.title')), region), reload: load };
}

export function usersView(context) {
  const region = h('div', { class: 'table-region' });
  const message = h('div', { 'aria-live': 'polite' });
  let offset = 0;
  const heading = h('h1', { tabindex: '-1' }, t('users.title'));
  const audit = auditLog();

  function say(kind, content) {
    showMessage(message, kind, content);
  }

  /** Run an admin action, then reload the table and the audit log. */
  async function act(work, successText) {
    message.replaceChildren();
    try {
      const result = await work();
      if (successText) say('success', typeof successText === 'function' ? successText(result) : successText);
      await loadPage();
      audit.reload();
      return result;
    } catch (error) {
      say('error', describeError(error));
      return null;
    }
  }

  const ask = (button, key, user, confirmKey) => confirmDialog({
    title: t(`${key}Title`, { email: user.email }), body: t(`${key}Body`, { email: user.email }),
    confirmLabel: t(confirmKey), cancelLabel: t('files.cancel'), returnFocus: button,
  });

  async function setActive(button, user, isActive) {
    if (!isActive && !(await ask(button, 'users.confirmDeactivate', user, 'users.deactivate'))) return;
    await act(() => request('PATCH', `/api/users/${user.id}`, { json: { is_active: isActive } }),
      (updated) => t(updated.is_active ? 'users.reactivated' : 'users.deactivated', { email: updated.email }));
    // The table was drawn again: keep the keyboard on this user's row.
    region.querySelector(`[data-user-id="${CSS.escape(user.id)}"][data-action="active"]`)?.focus();
  }

  async function setRole(button, user, role) {
    if (role === 'user' && !(await ask(button, 'users.confirmDemote', user, 'users.demote'))) return;
    await act(() => request('PATCH', `/api/users/${user.id}`, { json: { role } }),
      (updated) => t(updated.role === 'admin' ? 'users.promoted' : 'users.demoted', { email: updated.email }));
  }

  async function setQuota(button, user) {
    const value = await promptDialog({
      title: t('users.quotaTitle', { email: user.email }), label: t('users.quotaLabel'),
      value: user.quota_mb ?? '', confirmLabel: t('users.quotaSave'), cancelLabel: t('files.cancel'), returnFocus: button,
      inputAttributes: { type: 'number', min: 1, step: 1, inputmode: 'numeric' },
    });
    if (value === null) return;
    const quota = value.trim() === '' ? null : Number(value);
    await act(() => request('PATCH', `/api/users/${user.id}`, { json: { quota_mb: quota } }),
      (updated) => t('users.quotaSet', { email: updated.email, quota: formatBytes(updated.quota_bytes) }));
  }

  async function createResetLink(button, user) {
    message.replaceChildren();
    try {
      const issued = await request('POST', `/api/users/${user.id}/password-reset`);
      say('success', linkBox('users.resetLink', user.email, issued));
      message.querySelector('input')?.focus();
      audit.reload();
    } catch (error) {
      say('error', describeError(error));
      button.focus();
    }
  }

  async function remove(button, user) {
    const files = t('users.fileCount', { count: user.file_count });
    const confirmed = await confirmDialog({
      title: t('users.confirmDeleteTitle', { email: user.email }),
      body: t('users.confirmDeleteBody', { email: user.email, files }),
      confirmLabel: t('users.delete'), cancelLabel: t('files.cancel'), returnFocus: button,
    });
    if (!confirmed) return;
    await act(() => request('DELETE', `/api/users/${user.id}?confirm_email=${encodeURIComponent(user.email)}`),
      t('users.deletedAccount', { email: user.email }));
    heading.focus();
  }

  function button(label, aria, onclick, kind = 'btn-quiet', userId = null, actionName = null) {
    const element = h('button', {
      type: 'button', class: `btn ${kind} btn-small`, 'aria-label': aria,
      'data-user-id': userId, 'data-action': actionName, onclick: () => onclick(element),
    }, label);
    return element;
  }

  function row(user) {
    const isSelf = user.id === context.user.id;
    const action = user.is_active ? 'deactivate' : 'reactivate';
    const usage = t('users.usageOf', { used: formatBytes(user.used_bytes), quota: formatBytes(user.quota_bytes) });
    return Object.assign([
      h('td', { class: 'cell-email' }, user.email, isSelf ? h('span', { class: 'tag' }, t('users.you')) : null),
      h('td', {}, user.full_name ?? ''),
      h('td', {}, t(`role.${user.role}`)),
      h('td', {}, h('span', { class: user.is_active ? 'pill pill-ok' : 'pill pill-off' },
        user.is_active ? t('users.active') : t('users.inactive'))),
      h('td', {}, usage, h('br'), h('span', { class: 'hint' }, t('users.fileCount', { count: user.file_count })),
        user.quota_mb !== null ? h('span', { class: 'tag' }, t('users.custom')) : null),
      h('td', {}, h('time', { datetime: user.created_at }, formatDay(user.created_at))),
      h('td', { class: 'cell-actions' },
        user.role === 'admin'
          ? button(t('users.demote'), t('users.demoteLabel', { email: user.email }), (b) => setRole(b, user, 'user'))
          : button(t('users.promote'), t('users.promoteLabel', { email: user.email }), (b) => setRole(b, user, 'admin')),
        button(t('users.quota'), t('users.quotaButtonLabel', { email: user.email }), (b) => setQuota(b, user)),
        button(t('users.reset'), t('users.resetLabel', { email: user.email }), (b) => createResetLink(b, user)),
        isSelf ? null : button(t(`users.${action}`), t(`users.${action}Label`, { email: user.email }),
          (b) => setActive(b, user, !user.is_active), user.is_active ? 'btn-danger-quiet' : 'btn-quiet', user.id, 'active'),
        isSelf ? null : button(t('users.delete'), t('users.deleteLabel', { email: user.email }),
          (b) => remove(b, user), 'btn-danger-quiet')),
    ], { email: user.email });
  }

  async function loadPage() {
    region.setAttribute('aria-busy', 'true');
    try {
      const page = await request('GET', `/api/users?offset=${offset}&limit=${PAGE_SIZE}`);
      const columns = ['email', 'fullName', 'role', 'status', 'usage', 'created', 'actions'];
      replaceChildren(region, page.items.length === 0 ? h('p', { class: 'empty-state' }, t('users.empty')) : [
        stackedTable(t('users.title'), columns.map((column) => t(`users.${column}`)), page.items.map(row)),
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
  return h('div', { class: 'users-page' }, heading, message, region,
    addPeople(() => { loadPage(); audit.reload(); }), audit.element);
}
