// Entry point: restore the session from the refresh cookie, then show the page the URL names.
import './error-report.js';
import { ApiError, checkSession, describeError, request, resumeSession, sessionEvents, signOut } from './api.js';
import { h, replaceChildren, uid } from './dom.js';
import { t } from './i18n.js';
import { logo } from './logo.js';
import { notFoundView } from './views/not-found.js';
import { forgotView, joinView, resetView, signInView, signUpView, verifyView } from './views/auth.js';
import { files, profile, users } from './signed-in-views.js';

// Hash routes (#/files): a static server needs no rewrite rule and a reload keeps the page.
const ROUTES = {
  '/signin': { view: signInView, title: 'signin.title', access: 'guest' },
  '/signup': { view: signUpView, title: 'signup.title', access: 'guest' },
  // One-time links an administrator hands on: #/join?token=… and #/reset?token=…
  '/join': { view: joinView, title: 'join.title', access: 'guest' },
  '/reset': { view: resetView, title: 'reset.title', access: 'guest' },
  // "Forgot password" (only offered when the site sends mail): a reset link by mail.
  '/forgot': { view: forgotView, title: 'forgot.title', access: 'guest' },
  // A mailed link that confirms an address: an open sign-up's (signed out), or a new address of
  // the account (often signed in): open to both.
  '/verify': { view: verifyView, title: 'verify.title', access: 'any' },
  '/files': { later: files, title: 'files.title', access: 'user', nav: 'nav.files' },
  '/profile': { later: profile, title: 'profile.title', access: 'user', nav: 'nav.profile' },
  // The users table is wide (six columns, five actions a row): its page takes more of a wide screen.
  '/users': { later: users, title: 'users.title', access: 'admin', nav: 'nav.users', wide: true },
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

/** Show `hash` in place of the current entry (a page the visitor may not see): Back skips it. */
function redirect(hash) {
  window.history.replaceState(window.history.state, '', hash);
  render();
}

// Deep links survive signing in: a signed-out visitor of #/profile is sent to
// #/signin?next=%2Fprofile and, once signed in, on to #/profile (its ?query too).
/** The sign-in page, remembering the in-app page `next` ('/files?page=3') to return to. */
function signInFor(next) {
  return next ? `${HOME.guest}?next=${encodeURIComponent(next)}` : HOME.guest;
}

/** The hash to go to after signing in: `next` if it names a page of this app the user may see. */
function afterSignIn(next, user) {
  if (typeof next !== 'string' || !next.startsWith('/')) return HOME.user;
  const route = ROUTES[next.split('?')[0]];
  if (!route || route.access === 'guest' || route.access === 'any'
    || (route.access === 'admin' && user.role !== 'admin')) {
    return HOME.user; // only routes of this app: never another site, never a loop back to a form
  }
  return `#${next}`;
}

/** The page this tab shows, as `next` for signInFor (null on a guest page). */
function currentPage() {
  const page = window.location.hash.replace(/^#/, '');
  const access = ROUTES[page.split('?')[0]]?.access;
  return access === 'guest' || access === 'any' ? null : page || null;
}

/** The session is over (signed out here or elsewhere, or ended on the server): back to sign-in. */
function endSession(message, kind, next = null) {
  if (!state.user) return;
  state.user = null;
  flash(message, kind);
  redirect(signInFor(next));
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
  /** Signed in (or up) on a page whose `params` may hold `next`: go there, or to the files. */
  signedIn(user, params) {
    state.user = user;
    navigate(afterSignIn(params?.get('next'), user));
  },
  /** `hash` of a guest page, carrying on the `next` of `params` (sign-in ⇄ sign-up links). */
  keepNext(hash, params) {
    const next = params?.get('next');
    return next ? `${hash}?next=${encodeURIComponent(next)}` : hash;
  },
  async signOut(message = t('signin.signedOut')) {
    await signOut();
    state.user = null;
    flash(message);
    navigate('#/signin');
  },
};

function header(path) {
  const brand = h('a', { class: 'brand', href: `/${state.user ? HOME.user : HOME.guest}` },
    logo(28), appName);
  if (!state.user) return h('header', { class: 'topbar' }, h('div', { class: 'topbar-inner' }, brand));
  const links = Object.entries(ROUTES)
    .filter(([, route]) => route.nav && (route.access !== 'admin' || state.user.role === 'admin'))
    .map(([routePath, route]) => h('li', {},
      h('a', { href: `/#${routePath}`, 'aria-current': routePath === path ? 'page' : null }, t(route.nav))));
  // On phones the links and the account fold into a menu behind one button (CSS shows the
  // button below 40rem only), so the header is one short row; the menu shows the whole e-mail.
  const menu = h('div', { id: uid('menu'), class: 'menu' },
    h('nav', { 'aria-label': t('app.mainNav') }, h('ul', { class: 'nav-links' }, links)),
    h('div', { class: 'account' },
      h('span', { class: 'account-email', title: t('nav.signedInAs', { email: state.user.email }) },
        state.user.email),
      h('button', { type: 'button', class: 'btn btn-quiet', onclick: () => context.signOut() },
        t('nav.signOut'))));
  const bar = h('header', { class: 'topbar' });
  const toggle = h('button', {
    type: 'button', class: 'btn btn-quiet menu-toggle', 'aria-expanded': 'false', 'aria-controls': menu.id,
    onclick: () => openMenu(toggle.getAttribute('aria-expanded') !== 'true'),
  }, h('span', { class: 'menu-icon', 'aria-hidden': 'true' }), t('nav.menu'));
  function openMenu(open) {
    toggle.setAttribute('aria-expanded', String(open));
    bar.classList.toggle('is-open', open);
  }
  bar.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape' || !bar.classList.contains('is-open')) return;
    openMenu(false);
    toggle.focus();
  });
  bar.append(h('div', { class: 'topbar-inner' }, brand, toggle, menu));
  return bar;
}

function flashBanner() {
  if (!state.flash) return null;
  const { message, kind } = state.flash;
  state.flash = null;
  return h('p', {
    class: `banner banner-${kind}`, role: kind === 'error' ? 'alert' : 'status', 'data-message': '',
  }, message);
}

// The frontend's nginx answers a mistyped address (/pas/une/page) with this page and a 404: the
// app then shows its "page not found", and its links (written from the site's root, /#/files)
// lead back into the app.
const isUnknownAddress = !['/', '/index.html'].includes(window.location.pathname);

function render() {
  if (isUnknownAddress) return renderPage(null, null, new URLSearchParams());
  const [path, query = ''] = (window.location.hash.replace(/^#/, '') || '/').split('?');
  const params = new URLSearchParams(query);
  const route = ROUTES[path];
  if (route?.access === 'guest' && state.user) return redirect(afterSignIn(params.get('next'), state.user));
  if (route && !['guest', 'any'].includes(route.access) && !state.user) return redirect(signInFor(currentPage()));
  if (!route && path === '/') return redirect(state.user ? HOME.user : HOME.guest);

  // Same page, another ?query (the files page's page, sort or search): the view shows it itself.
  if (route && path === state.path && state.followQuery && !state.flash) return state.followQuery(params);
  if (route?.later && !route.later.view) return showLater(route, path, params);
  state.path = path;
  state.followQuery = null;
  renderPage(route, path, params);
}

/** Fetch the modules of `route`'s view, then render (the address may have changed meanwhile). */
function showLater(route, path, params) {
  route.later.load().then(render, () => {
    flash(describeError(new ApiError(0)), 'error'); // offline: say so on an empty page
    renderPage({ ...route, view: () => null }, path, params);
  });
}

/** Draw the page of `route` (null: not found) in place of the current one. */
function renderPage(route, path, params) {
  const isAllowed = !route || route.access !== 'admin' || state.user.role === 'admin';
  const view = route && isAllowed ? route.view ?? route.later.view : notFoundView;
  document.title = route && isAllowed ? `${t(route.title)} · ${appName}` : appName;

  const width = !state.user ? ' page-narrow' : route?.wide && isAllowed ? ' page-wide' : '';
  const main = h('main', { id: 'main', tabindex: '-1', class: `page${width}` });
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

// The session ended on the server (here or in another tab), or the user signed out in another
// tab: this tab signs out too, and signing in again brings the user back to this page.
sessionEvents.addEventListener('expired', () => endSession(t('signin.sessionExpired'), 'error', currentPage()));
sessionEvents.addEventListener('signed-out', () => endSession(t('signin.signedOut'), 'info', currentPage()));

// A session ended on the server (password changed on another device, account deactivated) would
// otherwise show only at the tab's next request: a tab coming back into view asks at once, quietly
// (one small request, as a page load makes), and signs out if it has ended.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && state.user) checkSession();
});

async function restoreSession() {
  try {
    if (await resumeSession()) state.user = await request('GET', '/api/users/me');
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
for (const entry of [files, profile, users]) entry.load().catch(() => {});
