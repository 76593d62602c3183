// The signed-in user's details and password.
import { ApiError, describeError, request } from '../api.js';
import { h } from '../dom.js';
import { formatDay } from '../format.js';
import { t } from '../i18n.js';
import { PASSWORD_MIN_LENGTH } from './auth.js';
import { field, formMessage, whileBusy } from './form.js';

function detailsForm(context) {
  const { user } = context;
  const fullName = field(t('profile.fullName'), {
    type: 'text', name: 'full_name', autocomplete: 'name', maxlength: 255, value: user.full_name ?? '',
  });
  // The address is the account's user name: a password manager updates the saved one from here.
  const email = field(t('profile.email'), {
    type: 'email', name: 'email', autocomplete: 'username', required: true, maxlength: 254, value: user.email,
  });
  // Changing the e-mail address needs the password: whoever borrows a session cannot take the account.
  const password = field(t('profile.emailPassword'), {
    type: 'password', name: 'current_password', autocomplete: 'current-password',
  });
  const message = formMessage();
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, t('profile.save'));
  // A new address waiting for its link to be opened (only when the site sends mail).
  const pending = h('p', { class: 'hint', 'aria-live': 'polite' });
  function showPending(address) {
    pending.replaceChildren(address ? t('profile.emailPendingNow', { email: address }) : '');
  }
  showPending(user.pending_email);

  async function onSubmit(event) {
    event.preventDefault();
    message.clear();
    const newEmail = email.input.value.trim();
    const changes = { email: newEmail, full_name: fullName.input.value.trim() || null };
    if (newEmail.toLowerCase() !== context.user.email) {
      if (!password.input.value) {
        message.error(t('profile.emailNeedsPassword'));
        password.input.focus();
        return;
      }
      changes.current_password = password.input.value;
    }
    await whileBusy(submit, t('profile.saving'), async () => {
      try {
        const updated = await request('PATCH', '/api/users/me', { json: changes });
        password.input.value = '';
        context.setUser(updated);
        document.querySelector('.account-email')?.replaceChildren(updated.email);
        showPending(updated.pending_email);
        if (updated.pending_email && changes.current_password) {
          // The site sends mail: the new address is the account's once its link is opened.
          email.input.value = updated.email;
          message.success(t('profile.emailPending', { email: updated.pending_email, current: updated.email }));
        } else {
          message.success(t('profile.saved'));
        }
      } catch (error) {
        message.error(describeError(error, {
          409: t('profile.emailTaken'), 400: t('profile.wrongPassword'),
        }));
        if (error instanceof ApiError && error.status === 409) email.input.focus();
        if (error instanceof ApiError && error.status === 400) password.input.focus();
      }
    });
  }

  return h('section', { class: 'card', 'aria-labelledby': 'details-heading' },
    h('h2', { id: 'details-heading' }, t('profile.detailsHeading')),
    h('dl', { class: 'facts' },
      h('div', {}, h('dt', {}, t('profile.role')), h('dd', {}, t(`role.${user.role}`))),
      h('div', {}, h('dt', {}, t('profile.memberSince')), h('dd', {}, formatDay(user.created_at)))),
    message.watch(h('form', { class: 'stack', onsubmit: onSubmit },
      message.element, fullName.element, email.element, pending, password.element, h('div', {}, submit))));
}

function passwordForm(context) {
  // Password managers save a new password under the user name of its form: this one has it
  // hidden (the e-mail address), as browsers ask of every form with a password.
  const username = h('input', {
    type: 'email', name: 'username', autocomplete: 'username', value: context.user.email,
    readonly: true, hidden: true,
  });
  const current = field(t('profile.currentPassword'), {
    type: 'password', name: 'current_password', autocomplete: 'current-password', required: true,
  });
  const next = field(t('profile.newPassword'), {
    type: 'password', name: 'new_password', autocomplete: 'new-password', required: true,
    minlength: PASSWORD_MIN_LENGTH, maxlength: 128,
  }, t('signup.passwordHint', { min: PASSWORD_MIN_LENGTH }));
  const confirm = field(t('profile.confirmPassword'), {
    type: 'password', name: 'confirm', autocomplete: 'new-password', required: true,
  });
  const message = formMessage();
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, t('profile.changePassword'));

  async function onSubmit(event) {
    event.preventDefault();
    message.clear();
    if (next.input.value !== confirm.input.value) {
      message.error(t('signup.mismatch'));
      confirm.input.focus();
      return;
    }
    await whileBusy(submit, t('profile.saving'), async () => {
      try {
        await request('POST', '/api/users/me/password', {
          json: { current_password: current.input.value, new_password: next.input.value },
        });
        form.reset();
        username.value = context.user.email; // reset() empties it too
        message.success(t('profile.passwordSaved'));
      } catch (error) {
        // 400: the current password is wrong (401 would mean the session itself is over).
        message.error(describeError(error, { 400: t('profile.wrongPassword') }));
        current.input.focus();
      }
    });
  }

  const form = message.watch(h('form', { class: 'stack', onsubmit: onSubmit },
    message.element, username, current.element, next.element, confirm.element, h('div', {}, submit)));
  return h('section', { class: 'card', 'aria-labelledby': 'password-heading' },
    h('h2', { id: 'password-heading' }, t('profile.passwordHeading')), form);
}

export function profileView(context) {
  return h('div', { class: 'profile-page' },
    h('h1', { tabindex: '-1' }, t('profile.title')),
    h('div', { class: 'two-columns' }, detailsForm(context), passwordForm(context)));
}
