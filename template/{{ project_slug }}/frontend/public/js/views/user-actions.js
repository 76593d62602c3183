// The tools of a row of the users table: role, quota, password-reset link, (de)activate, delete.
// Each visible label begins its accessible name ("Nommer admin : ada@…"), so voice control finds
// the button by what it shows.
import { describeError, request } from '../api.js';
import { h } from '../dom.js';
import { formatQuota } from '../format.js';
import { t, tn } from '../i18n.js';
import { linkBox } from './add-people.js';
import { confirmDialog, promptDialog } from './dialog.js';

function button(label, aria, onclick, { kind = 'btn-quiet', userId = null, action = null } = {}) {
  const element = h('button', {
    type: 'button', class: `btn ${kind} btn-small`, 'aria-label': aria,
    'data-user-id': userId, 'data-action': action, onclick: () => onclick(element),
  }, label);
  return element;
}

/** The actions, for actionButtons; `page` gives say(kind, content), clear(), focusMessage(), region, heading, audit, reload(). */
export function userActions(page) {
  /** Run an admin action, then reload the table and the audit log. */
  async function act(work, successText) {
    page.clear();
    try {
      const result = await work();
      if (successText) page.say('success', typeof successText === 'function' ? successText(result) : successText);
      await page.reload();
      page.audit.reload();
      return result;
    } catch (error) {
      page.say('error', describeError(error));
      return null;
    }
  }
  const ask = (returnFocus, key, user, confirmKey) => confirmDialog({
    title: t(`${key}Title`, { email: user.email }), body: t(`${key}Body`, { email: user.email }),
    confirmLabel: t(confirmKey), cancelLabel: t('files.cancel'), returnFocus,
  });
  const patch = (user, json) => () => request('PATCH', `/api/users/${user.id}`, { json });

  async function setActive(target, user, isActive) {
    if (!isActive && !(await ask(target, 'users.confirmDeactivate', user, 'users.deactivate'))) return;
    await act(patch(user, { is_active: isActive }),
      (updated) => t(updated.is_active ? 'users.reactivated' : 'users.deactivated', { email: updated.email }));
    // The table was drawn again: keep the keyboard on this user's row.
    page.region.querySelector(`[data-user-id="${CSS.escape(user.id)}"][data-action="active"]`)?.focus();
  }

  async function setRole(target, user, role) {
    if (role === 'user' && !(await ask(target, 'users.confirmDemote', user, 'users.demote'))) return;
    await act(patch(user, { role }),
      (updated) => t(updated.role === 'admin' ? 'users.promoted' : 'users.demoted', { email: updated.email }));
  }

  async function setQuota(target, user) {
    const value = await promptDialog({
      title: t('users.quotaTitle', { email: user.email }), label: t('users.quotaLabel'),
      value: user.quota_mb ?? '', confirmLabel: t('users.quotaSave'), cancelLabel: t('files.cancel'), returnFocus: target,
      inputAttributes: { type: 'number', min: 1, step: 1, inputmode: 'numeric' },
    });
    if (value === null) return;
    await act(patch(user, { quota_mb: value.trim() === '' ? null : Number(value) }),
      (updated) => t('users.quotaSet', { email: updated.email, quota: formatQuota(updated.quota_bytes) }));
  }

  async function createResetLink(target, user) {
    page.clear();
    try {
      const issued = await request('POST', `/api/users/${user.id}/password-reset`);
      page.say('success', linkBox('users.resetLink', user.email, issued));
      page.focusMessage();
      page.audit.reload();
    } catch (error) {
      page.say('error', describeError(error));
      target.focus();
    }
  }

  async function remove(target, user) {
    const confirmed = await confirmDialog({
      title: t('users.confirmDeleteTitle', { email: user.email }),
      body: t('users.confirmDeleteBody', { email: user.email, files: tn('users.fileCount', user.file_count) }),
      confirmLabel: t('users.delete'), cancelLabel: t('files.cancel'), returnFocus: target,
    });
    if (!confirmed) return;
    await act(() => request('DELETE', `/api/users/${user.id}?confirm_email=${encodeURIComponent(user.email)}`),
      t('users.deletedAccount', { email: user.email }));
    page.heading.focus();
  }

  return { setActive, setRole, setQuota, createResetLink, remove };
}

/** The row's buttons; no deactivate or delete on one's own row. */
export function actionButtons(user, isSelf, { setActive, setRole, setQuota, createResetLink, remove }) {
  const label = (key) => t(key, { email: user.email });
  const toggle = user.is_active ? 'deactivate' : 'reactivate';
  return [
    user.role === 'admin'
      ? button(t('users.demote'), label('users.demoteLabel'), (b) => setRole(b, user, 'user'))
      : button(t('users.promote'), label('users.promoteLabel'), (b) => setRole(b, user, 'admin')),
    button(t('users.quota'), label('users.quotaButtonLabel'), (b) => setQuota(b, user)),
    button(t('users.reset'), label('users.resetLabel'), (b) => createResetLink(b, user)),
    isSelf ? null : button(t(`users.${toggle}`), label(`users.${toggle}Label`), (b) => setActive(b, user, !user.is_active),
      { kind: user.is_active ? 'btn-danger-quiet' : 'btn-quiet', userId: user.id, action: 'active' }),
    isSelf ? null : button(t('users.delete'), label('users.deleteLabel'), (b) => remove(b, user), { kind: 'btn-danger-quiet' }),
  ];
}

