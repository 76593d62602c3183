// Administrators add people: an invitation link to hand on, or an account made at once.
import { describeError, request } from '../api.js';
import { h } from '../dom.js';
import { formatDateTime } from '../format.js';
import { t } from '../i18n.js';
import { PASSWORD_MIN_LENGTH } from './auth.js';
import { field, formMessage, normaliseEmail, showMessage, whileBusy } from './form.js';

/**
 * A one-time link to hand on, in a read-only field the admin can select and copy, for the address
 * as the site stores it, with the server's notice (an earlier invitation still pending) under it.
 */
export function linkBox(labelKey, email, issued) {
  const url = `${window.location.origin}${issued.path}`;
  const box = field(t(labelKey, { email: issued.email ?? email, until: formatDateTime(issued.expires_at) }), {
    type: 'text', readonly: true, value: url, class: 'input link-box', 'data-testid': 'issued-link',
    onfocus: (event) => event.target.select(),
  });
  if (issued.notice) box.element.append(h('p', { class: 'hint', 'data-testid': 'issued-notice' }, issued.notice));
  return box.element;
}

export function addPeople(onAdded) {
  const message = formMessage();
  const email = field(t('admin.email'), { type: 'email', name: 'email', required: true, maxlength: 254 });
  const invite = h('button', { type: 'submit', class: 'btn btn-primary' }, t('admin.invite'));
  async function onInvite(event) {
    event.preventDefault();
    message.clear();
    await whileBusy(invite, t('admin.busy'), async () => {
      try {
        const issued = await request('POST', '/api/invitations', { json: { email: email.input.value.trim() } });
        // The address as the account will have it (the audit log shows the same).
        showMessage(message.element, 'success', linkBox('admin.invitationLink', normaliseEmail(email.input.value), issued));
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
      message.watch(h('form', { class: 'stack', 'aria-label': t('admin.inviteHeading'), onsubmit: onInvite },
        h('h3', {}, t('admin.inviteHeading')), h('p', { class: 'hint' }, t('admin.inviteHint')),
        email.element, invite, message.element)),
      createMessage.watch(h('form', { class: 'stack', 'aria-label': t('admin.createHeading'), onsubmit: onCreate },
        h('h3', {}, t('admin.createHeading')),
        newEmail.element, newName.element, newPassword.element, create, createMessage.element))));
}
