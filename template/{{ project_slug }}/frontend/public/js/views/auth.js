// Sign-in and sign-up pages.
import {
  ApiError, describeError, lookupInvitation, registrationMode, request, requestPasswordReset, resendVerification,
  resetPassword, signIn, signUp, siteAccess, verifyEmail,
} from '../api.js';
import { h } from '../dom.js';
import { t } from '../i18n.js';
import { field, formMessage, whileBusy } from './form.js';

// Mirrors the backend's rule (schemas.PASSWORD_MIN_LENGTH), so the browser says it before a round trip.
export const PASSWORD_MIN_LENGTH = 8;

/** Sign in, then go where the visitor was heading (`next` in `params`, see main.js) or to the files. */
async function openSession(context, params, email, password) {
  await signIn(email, password);
  context.signedIn(await request('GET', '/api/users/me'), params);
}

/**
 * A one-time link refused (400: used, expired, unknown or made for another address): the server's
 * sentence says which and what to do, in the site's language, so it is the whole message.
 */
function linkRefusal(error) {
  return error instanceof ApiError && error.status === 400 && typeof error.detail === 'string'
    ? error.detail
    : null;
}

function signInErrors() {
  return {
    401: t('signin.badCredentials'),
    403: t('signin.inactive'),
  };
}

/**
 * The account's address is not confirmed yet (an open sign-up while the site sends mail): the
 * server's sentence, and a button that mails a new link.
 */
function unverified(detail, address, message) {
  const resend = h('button', { type: 'button', class: 'btn btn-quiet' }, t('signin.unverifiedResend'));
  resend.addEventListener('click', () => whileBusy(resend, t('forgot.busy'), async () => {
    try {
      await resendVerification(address);
      message.success(t('signin.unverifiedSent', { email: address }));
    } catch (error) {
      message.error(describeError(error));
    }
  }));
  return h('div', { class: 'banner banner-error stack', role: 'alert' }, h('p', {}, detail), h('div', {}, resend));
}

export function signInView(context, params) {
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
        await openSession(context, params, email.input.value.trim(), password.input.value);
      } catch (error) {
        if (error instanceof ApiError && error.code === 'email_unverified') {
          message.error(unverified(error.detail, email.input.value.trim(), message));
          return;
        }
        message.error(describeError(error, signInErrors()));
        password.input.select();
        password.input.focus();
      }
    });
  }

  // "Create an account" only when anyone may (REGISTRATION=open); otherwise say how to get one.
  // "Forgot your password?" only when the site sends mail.
  const signUpOffer = h('p', { class: 'switch' });
  const forgotOffer = h('p', { class: 'switch' });
  siteAccess().then(({ registration: mode, mail }) => {
    signUpOffer.replaceChildren(...(mode === 'open'
      ? [`${t('signin.noAccount')} `, h('a', { href: context.keepNext('#/signup', params) }, t('signin.toSignup'))]
      : [t(`signin.noAccount.${mode}`)]));
    if (mail) forgotOffer.replaceChildren(h('a', { href: '#/forgot' }, t('signin.forgot')));
  }, () => signUpOffer.replaceChildren());

  return h('section', { class: 'card auth-card', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title', tabindex: '-1' }, t('signin.title')),
    h('p', { class: 'lead' }, t('signin.intro')),
    message.watch(h('form', { class: 'stack', onsubmit: onSubmit },
      message.element, email.element, password.element, submit)),
    forgotOffer,
    signUpOffer);
}

/** #/forgot: ask for a reset link by mail. The answer is the same for every address. */
export function forgotView() {
  const email = field(t('forgot.email'), {
    type: 'email', name: 'email', autocomplete: 'username', required: true, maxlength: 254, autofocus: true,
  });
  const message = formMessage();
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, t('forgot.submit'));
  const form = message.watch(h('form', { class: 'stack', onsubmit: onSubmit },
    message.element, email.element, submit));

  async function onSubmit(event) {
    event.preventDefault();
    message.clear();
    await whileBusy(submit, t('forgot.busy'), async () => {
      const address = email.input.value.trim();
      try {
        await requestPasswordReset(address);
        form.replaceChildren(h('p', { class: 'banner banner-success', role: 'status' }, t('forgot.sent', { email: address })));
      } catch (error) {
        message.error(describeError(error, { 404: t('forgot.off') }));
        submit.focus();
      }
    });
  }

  return h('section', { class: 'card auth-card', 'aria-labelledby': 'forgot-title' },
    h('h1', { id: 'forgot-title', tabindex: '-1' }, t('forgot.title')),
    h('p', { class: 'lead' }, t('forgot.intro')),
    form,
    h('p', { class: 'switch' }, h('a', { href: '#/signin' }, t('forgot.back'))));
}

/** The sign-up form; `invitation` (the secret of an invitation link) lets it work in invite mode. */
export function signUpView(context, params, { invitation = null } = {}) {
  const fullName = field(t('signup.fullName'), { type: 'text', name: 'full_name', autocomplete: 'name', maxlength: 255 });
  // The e-mail address is the account's user name: password managers save it with the password.
  const email = field(t('signup.email'), {
    type: 'email', name: 'email', autocomplete: 'username', required: true, maxlength: 254,
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
        const account = await signUp({ ...credentials, fullName: fullName.input.value.trim(), invitation });
        if (account?.email_verified === false) {
          // An open sign-up while the site sends mail: usable once the mailed link is opened.
          form.replaceChildren(h('p', { class: 'banner banner-success', role: 'status' },
            t('signup.checkMail', { email: account.email })));
          return;
        }
        await openSession(context, params, credentials.email, credentials.password);
      } catch (error) {
        // 400: the invitation is used, expired or for another address; the server says which.
        const refused = invitation ? linkRefusal(error) : null;
        message.error(refused ?? describeError(error, { 409: t('signup.emailTaken') }));
        (error instanceof ApiError && error.status === 409 ? email.input : submit).focus();
      }
    });
  }

  const form = message.watch(h('form', { class: 'stack', onsubmit: onSubmit },
    message.element, fullName.element, email.element, password.element, confirm.element, submit));
  if (!invitation) {
    // Without an invitation the page works only when sign-up is open: say so before anyone types.
    registrationMode().then((mode) => {
      if (mode !== 'open') form.replaceChildren(h('p', { class: 'banner banner-info', role: 'status' }, t(`signin.noAccount.${mode}`)));
    }, () => {});
  }
  return h('section', { class: 'card auth-card', 'aria-labelledby': 'signup-title' },
    h('h1', { id: 'signup-title', tabindex: '-1' }, t(invitation ? 'join.title' : 'signup.title')),
    h('p', { class: 'lead' }, t(invitation ? 'join.intro' : 'signup.intro')),
    form,
    h('p', { class: 'switch' }, `${t('signup.haveAccount')} `,
      h('a', { href: context.keepNext('#/signin', params) }, t('signup.toSignin'))));
}

/**
 * #/join?token=…: sign up through an invitation link. The page asks first which address the link
 * was made for and fills it in; a link used or expired says so at once, in place of a form that
 * could only be refused.
 */
export function joinView(context, params) {
  const invitation = params.get('token');
  const page = signUpView(context, params, { invitation });
  const form = page.querySelector('form');
  lookupInvitation(invitation).then(({ email }) => {
    const input = form.querySelector('input[name=email]');
    if (!input.value) input.value = email;
  }, (error) => {
    const refused = linkRefusal(error);
    if (refused) form.replaceChildren(h('p', { class: 'banner banner-error', role: 'alert' }, refused));
  });
  return page;
}

/** #/reset?token=…: choose a new password with a one-time link from an administrator. */
export function resetView(context, params) {
  const token = params.get('token');
  const email = field(t('reset.email'), {
    type: 'email', name: 'email', autocomplete: 'username', required: true, maxlength: 254, autofocus: true,
  });
  const password = field(t('reset.password'), {
    type: 'password', name: 'new_password', autocomplete: 'new-password', required: true,
    minlength: PASSWORD_MIN_LENGTH, maxlength: 128,
  }, t('signup.passwordHint', { min: PASSWORD_MIN_LENGTH }));
  const confirm = field(t('signup.confirm'), {
    type: 'password', name: 'confirm', autocomplete: 'new-password', required: true,
  });
  const message = formMessage();
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, t('reset.submit'));

  async function onSubmit(event) {
    event.preventDefault();
    message.clear();
    if (password.input.value !== confirm.input.value) {
      message.error(t('signup.mismatch'));
      confirm.input.focus();
      return;
    }
    await whileBusy(submit, t('reset.busy'), async () => {
      try {
        await resetPassword({ token, email: email.input.value.trim(), newPassword: password.input.value });
        context.flash(t('reset.done'), 'success');
        context.navigate('#/signin');
      } catch (error) {
        message.error(linkRefusal(error) ?? describeError(error));
        submit.focus();
      }
    });
  }

  return h('section', { class: 'card auth-card', 'aria-labelledby': 'reset-title' },
    h('h1', { id: 'reset-title', tabindex: '-1' }, t('reset.title')),
    h('p', { class: 'lead' }, t('reset.intro')),
    message.watch(h('form', { class: 'stack', onsubmit: onSubmit },
      message.element, email.element, password.element, confirm.element, submit)));
}

/**
 * #/verify?token=…: a mailed link that confirms an address (an open sign-up's, or the new address
 * of an account). Opened, it is used at once; then on to sign-in, or to the profile when signed in.
 */
export function verifyView(context, params) {
  const status = h('p', { class: 'banner banner-info', role: 'status' }, t('verify.busy'));
  const body = h('div', { class: 'stack' }, status);
  verifyEmail(params.get('token') ?? '').then(async ({ email, changed }) => {
    if (context.user) {
      context.setUser(await request('GET', '/api/users/me'));
      context.flash(t('verify.changed', { email }), 'success');
      context.navigate('#/profile');
      return;
    }
    context.flash(t(changed ? 'verify.changedSignIn' : 'verify.done', { email }), 'success');
    context.navigate('#/signin');
  }, (error) => {
    body.replaceChildren(
      h('p', { class: 'banner banner-error', role: 'alert' },
        linkRefusal(error) ?? describeError(error, { 409: t('profile.emailTaken') })),
      h('p', { class: 'switch' }, h('a', { href: context.user ? '#/profile' : '#/signin' },
        t(context.user ? 'profile.title' : 'verify.toSignin'))));
  });
  return h('section', { class: 'card auth-card', 'aria-labelledby': 'verify-title' },
    h('h1', { id: 'verify-title', tabindex: '-1' }, t('verify.title')),
    body);
}
