// Sign-in and sign-up pages.
import { ApiError, describeError, request, signIn, signUp } from '../api.js';
import { h } from '../dom.js';
import { t } from '../i18n.js';
import { field, formMessage, whileBusy } from './form.js';

// Mirrors the backend's rule (schemas.PASSWORD_MIN_LENGTH), so the browser says it before a round trip.
export const PASSWORD_MIN_LENGTH = 8;

async function openSession(context, email, password) {
  await signIn(email, password);
  context.setUser(await request('GET', '/api/users/me'));
  context.navigate('#/files');
}

function signInErrors() {
  return {
    401: t('signin.badCredentials'),
    403: t('signin.inactive'),
  };
}

export function signInView(context) {
  const email = field(t('signin.email'), {
    type: 'email', name: 'email', autocomplete: 'username', required: true, autofocus: true,
  });
  const password = field(t('signin.password'), {
    type: 'password', name: 'password', autocomplete: 'current-password', required: true,
  });
  const message = formMessage();
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, t('signin.submit'));

  async function onSubmit(event) {
    event.preventDefault();
    message.clear();
    await whileBusy(submit, t('signin.busy'), async () => {
      try {
        await openSession(context, email.input.value.trim(), password.input.value);
      } catch (error) {
        message.error(describeError(error, signInErrors()));
        password.input.select();
        password.input.focus();
      }
    });
  }

  return h('section', { class: 'card auth-card', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title', tabindex: '-1' }, t('signin.title')),
    h('p', { class: 'lead' }, t('signin.intro')),
    h('form', { class: 'stack', onsubmit: onSubmit },
      message.element, email.element, password.element, submit),
    h('p', { class: 'switch' }, `${t('signin.noAccount')} `, h('a', { href: '#/signup' }, t('signin.toSignup'))));
}

export function signUpView(context) {
  const fullName = field(t('signup.fullName'), { type: 'text', name: 'full_name', autocomplete: 'name', maxlength: 255 });
  const email = field(t('signup.email'), {
    type: 'email', name: 'email', autocomplete: 'email', required: true, maxlength: 254,
  });
  const password = field(t('signup.password'), {
    type: 'password', name: 'password', autocomplete: 'new-password', required: true,
    minlength: PASSWORD_MIN_LENGTH, maxlength: 128,
  }, t('signup.passwordHint', { min: PASSWORD_MIN_LENGTH }));
  const confirm = field(t('signup.confirm'), {
    type: 'password', name: 'confirm', autocomplete: 'new-password', required: true,
  });
  const message = formMessage();
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, t('signup.submit'));

  async function onSubmit(event) {
    event.preventDefault();
    message.clear();
    if (password.input.value !== confirm.input.value) {
      message.error(t('signup.mismatch'));
      confirm.input.focus();
      return;
    }
    await whileBusy(submit, t('signup.busy'), async () => {
      const credentials = { email: email.input.value.trim(), password: password.input.value };
      try {
        await signUp({ ...credentials, fullName: fullName.input.value.trim() });
        await openSession(context, credentials.email, credentials.password);
      } catch (error) {
        message.error(describeError(error, { 409: t('signup.emailTaken') }));
        (error instanceof ApiError && error.status === 409 ? email.input : submit).focus();
      }
    });
  }

  return h('section', { class: 'card auth-card', 'aria-labelledby': 'signup-title' },
    h('h1', { id: 'signup-title', tabindex: '-1' }, t('signup.title')),
    h('p', { class: 'lead' }, t('signup.intro')),
    h('form', { class: 'stack', onsubmit: onSubmit },
      message.element, fullName.element, email.element, password.element, confirm.element, submit),
    h('p', { class: 'switch' }, `${t('signup.haveAccount')} `, h('a', { href: '#/signin' }, t('signup.toSignin'))));
}
