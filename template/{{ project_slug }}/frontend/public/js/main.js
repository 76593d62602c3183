// Entry point: restore the session from the refresh cookie, then show the page the URL names.
import { describeError, refreshSession, request, sessionEvents, signOut } from './api.js';
import { h, replaceChildren } from './dom.js';
import { t } from './i18n.js';
import { filesView } from './views/files.js';
import { notFoundView } from './views/not-found.js';
import { profileView } from './views/profile.js';
import { joinView, resetView, signInView, signUpView } from './views/auth.js';
import { usersView } from './views/users.js';

// Hash routes (#/files): a static server needs no rewrite rule and a reload keeps the page.
const ROUTES = {
  '/signin': { view: signInView, title: 'signin.title', access: 'guest' },
  '/signup': { view: signUpView, title: 'signup.title', access: 'guest' },
  // One-time links an administrator hands on: #/join?token=… and #/reset?token=…
  '/join': { view: joinView, title: 'join.title', access: 'guest' },
  '/reset': { view: resetView, title: 'reset.title', access: 'guest' },
  '/files': { view: filesView, title: 'files.title', access: 'user', nav: 'nav.files' },
  '/profile': { view: profileView, title: 'profile.title', access: 'user', nav: 'nav.profile' },
  '/users': { view: usersView, title: 'users.title', access: 'admin', nav: 'nav.users' },
};
const HOME = { guest: '#/signin', user: '#/files' };

const appName = document.title;
const root = document.getElementById('app');
const state = { user: null, flash: null, firstRender: true, path: null, followQuery: null };

/** A message shown once, at the top of the next page rendered (e.g. "You are signed out"). */
function flash(message, kind = 'info') {
  state.flash = { message, kind };
}

function navigate(hash) {
  if (window.location.hash === hash) render();
  else window.location.hash = hash;
}

const context = {
  get user() {
    return state.user;
  },
  setUser(user) {
    state.user = user;
  },
  flash,
  navigate,
  /** The view follows changes of its own ?query (Back, Forward, its links) without being rebuilt. */
  followQuery(handler) {
    state.followQuery = handler;
  },
  async signOut(message = t('signin.signedOut')) {
    await signOut();
    state.user = null;
    flash(message);
    navigate('#/signin');
  },
};

function header(path) {
  const brand = h('a', { class: 'brand', href: state.user ? HOME.user : HOME.guest },
    h('img', { src: '/favicon.svg', alt: '', width: 28, height: 28 }), appName);
  if (!state.user) return h('header', { class: 'topbar' }, h('div', { class: 'topbar-inner' }, brand));
  const links = Object.entries(ROUTES)
    .filter(([, route]) => route.nav && (route.access !== 'admin' || state.user.role === 'admin'))
    .map(([routePath, route]) => h('li', {},
      h('a', { href: `#${routePath}`, 'aria-current': routePath === path ? 'page' : null }, t(route.nav))));
  return h('header', { class: 'topbar' },
    h('div', { class: 'topbar-inner' },
      brand,
      h('nav', { 'aria-label': t('app.mainNav') }, h('ul', { class: 'nav-links' }, links)),
      h('div', { class: 'account' },
        h('span', { class: 'account-email', title: t('nav.signedInAs', { email: state.user.email }) },
          state.user.email),
        h('button', { type: 'button', class: 'btn btn-quiet', onclick: () => context.signOut() },
          t('nav.signOut')))));
}

function flashBanner() {
  if (!state.flash) return null;
  const { message, kind } = state.flash;
  state.flash = null;
  return h('p', { class: `banner banner-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
}

function render() {
  const [path, query = ''] = (window.location.hash.replace(/^#/, '') || '/').split('?');
  const params = new URLSearchParams(query);
  const route = ROUTES[path];
  if (route?.access === 'guest' && state.user) return navigate(HOME.user);
  if (route && route.access !== 'guest' && !state.user) return navigate(HOME.guest);
  if (!route && path === '/') return navigate(state.user ? HOME.user : HOME.guest);

  // Same page, another ?query (the files page's page, sort or search): the view shows it itself.
  if (route && path === state.path && state.followQuery && !state.flash) return state.followQuery(params);
  state.path = path;
  state.followQuery = null;

  const isAllowed = !route || route.access !== 'admin' || state.user.role === 'admin';
  const view = route && isAllowed ? route.view : notFoundView;
  document.title = route && isAllowed ? `${t(route.title)} · ${appName}` : appName;

  const main = h('main', { id: 'main', tabindex: '-1', class: state.user ? 'page' : 'page page-narrow' });
  replaceChildren(root,
    h('a', { class: 'skip-link', href: '#main', onclick: skipToMain }, t('app.skipToContent')),
    header(path),
    main);
  replaceChildren(main, flashBanner(), view(context, params));
  root.removeAttribute('aria-busy');

  // After a navigation, focus the page heading so screen readers announce the new page and
  // keyboard users start from the top of it (not on the first load: the browser starts there).
  if (!state.firstRender) (main.querySelector('h1') ?? main).focus();
  state.firstRender = false;
}

function skipToMain(event) {
  event.preventDefault(); // the hash is the router's: move focus instead of navigating
  document.getElementById('main')?.focus();
}

sessionEvents.addEventListener('expired', () => {
  if (!state.user) return;
  state.user = null;
  flash(t('signin.sessionExpired'), 'error');
  navigate('#/signin');
});

async function restoreSession() {
  try {
    if (await refreshSession()) state.user = await request('GET', '/api/users/me');
  } catch (error) {
    state.user = null;
    flash(describeError(error), 'error');
  }
}

// A file dropped anywhere but the drop zone would make the browser open it in place of the app.
for (const name of ['dragover', 'drop']) {
  window.addEventListener(name, (event) => {
    if (event.dataTransfer?.types.includes('Files')) event.preventDefault();
  });
}

await restoreSession();
window.addEventListener('hashchange', render);
render();
