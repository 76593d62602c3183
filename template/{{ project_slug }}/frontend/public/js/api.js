// The backend API (same origin, /api/...). The access token lives in this module's memory only:
// never in localStorage or sessionStorage, where any script could read it. The refresh token is an
// HttpOnly cookie (Path=/api/auth) that the browser sends to /api/auth/refresh by itself.
import { formatDuration } from './format.js';
import { t } from './i18n.js';
import { sessionProbe } from './session-probe.js';

/**
 * A failed API call: `status` 0 means the server was not reached; `retryAfter`, the seconds to
 * wait before trying again when the server said (a 429's Retry-After), else null; `code`, which
 * refusal it is when the server names it (its X-Error-Code header: 'email_unverified'), else null.
 */
export class ApiError extends Error {
  constructor(status, detail = null, retryAfter = null, requestId = null, code = null) {
    super(typeof detail === 'string' ? detail : `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
    this.retryAfter = retryAfter;
    // The request's id (X-Request-ID, in a 5xx's body too): what the administrator looks up.
    this.requestId = requestId;
    this.code = code;
  }
}

// Refresh a little before the token expires, so a request never travels with a dying token.
const EXPIRY_MARGIN_MS = 30_000;

let accessToken = null;
let expiresAt = 0;
let pendingRefresh = null;
// Set once the session is over (signed out, here or in another tab, or expired): requests still
// on their way then fail quietly instead of trying a refresh that can only be refused.
let sessionOver = false;
// The page load's session probe, already on its way (session-probe.js); used once.
let pageLoadProbe = sessionProbe;

/**
 * Fired when the session ends: `expired` when it ends without the user asking (refresh cookie
 * expired or revoked), here or in another tab; `signed-out` when the user signed out in another tab.
 */
export const sessionEvents = new EventTarget();

// Every tab of the site hears when one of them sees the session end, and ends it too: the tabs
// share the refresh cookie, so a session over in one is over in all. Every browser the site
// supports has BroadcastChannel, so there is deliberately no fallback through localStorage's
// `storage` event; where it is missing, each tab notices at its next request instead.
const tabs = typeof BroadcastChannel === 'function' ? new BroadcastChannel('session') : null;
tabs?.addEventListener('message', ({ data }) => {
  if (data !== 'expired' && data !== 'signed-out') return;
  forgetToken();
  sessionOver = true;
  sessionEvents.dispatchEvent(new Event(data));
});

function storeToken({ access_token: token, expires_in: seconds }) {
  sessionOver = false;
  accessToken = token;
  expiresAt = Date.now() + (Number(seconds) || 60) * 1000;
}

function forgetToken() {
  accessToken = null;
  expiresAt = 0;
}

export function hasSession() {
  return accessToken !== null;
}

async function readBody(response) {
  if (response.status === 204) return null;
  const type = response.headers.get('Content-Type') ?? '';
  if (!type.includes('json')) return null; // e.g. an nginx error page
  try {
    return await response.json();
  } catch {
    return null;
  }
}

// The server's clock as seen from here (its Date header), for times it sets, such as when a
// download link expires: this computer's clock may be off by minutes or hours.
let serverClockOffset = 0;

/** The server's current time, in milliseconds. */
export function serverNow() {
  return Date.now() + serverClockOffset;
}

async function send(url, init) {
  return received(fetch(url, { credentials: 'same-origin', ...init }));
}

/** The response `fetching` resolves to, or ApiError(0) when the server was not reached. */
async function received(fetching) {
  let response;
  try {
    response = await fetching;
  } catch {
    throw new ApiError(0);
  }
  const date = Date.parse(response.headers.get('Date') ?? '');
  if (!Number.isNaN(date)) serverClockOffset = date - Date.now();
  return response;
}

/** Seconds to wait from a Retry-After header (seconds or an HTTP date); null without one. */
function retryAfter(response) {
  const value = response.headers.get('Retry-After')?.trim();
  if (!value) return null;
  if (/^\d+$/.test(value)) return Number(value);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(1, Math.ceil((date - serverNow()) / 1000));
}

function failure(response, body) {
  const requestId = body?.request_id ?? response.headers.get('X-Request-ID');
  return new ApiError(response.status, body?.detail ?? null, retryAfter(response), requestId,
    response.headers.get('X-Error-Code'));
}

/**
 * Get a new access token from the refresh cookie. Resolves true on success, false when there is
 * no valid session; rejects with ApiError when the server cannot answer. Concurrent callers share
 * one request, because the backend rotates the cookie on every refresh.
 */
export function refreshSession() {
  if (sessionOver) return Promise.resolve(false);
  pendingRefresh ??= (async () => {
    try {
      const response = await acrossTabs(() =>
        send('/api/auth/refresh', { method: 'POST', headers: { Accept: 'application/json' } }),
      );
      const body = await readBody(response);
      if (response.ok && body?.access_token) {
        storeToken(body);
        return true;
      }
      forgetToken();
      if (response.status === 401 || response.status === 403) return false;
      throw failure(response, body);
    } finally {
      pendingRefresh = null;
    }
  })();
  return pendingRefresh;
}

/**
 * At page load: the session this browser may have, from the refresh cookie. Resolves true when
 * signed in, false when not; the server answers 204 rather than 401 for "not signed in", so a
 * guest's visit shows no failed request in the console.
 */
export async function resumeSession() {
  // The first call takes the probe session-probe.js started while the page loaded.
  const probe = pageLoadProbe;
  pageLoadProbe = null;
  const response = await (probe ? received(probe) : acrossTabs(() =>
    send('/api/auth/session', { method: 'POST', headers: { Accept: 'application/json' } }),
  ));
  const body = await readBody(response);
  if (response.ok && body?.access_token) {
    storeToken(body);
    return true;
  }
  if (response.status === 204) return false;
  throw failure(response, body);
}

/**
 * Whether the session this tab holds still stands on the server, asked quietly (the page-load
 * probe: 204, not an error, when it has ended), e.g. when the tab comes back into view after the
 * session was ended elsewhere (a password changed on another device, an administrator). An ended
 * session ends in this tab and every other one ('expired' event); an unreachable server, or a
 * tab without a session, leaves everything as it is.
 */
export async function checkSession() {
  if (sessionOver || accessToken === null) return;
  let response;
  try {
    response = await acrossTabs(() =>
      send('/api/auth/session', { method: 'POST', headers: { Accept: 'application/json' } }),
    );
  } catch {
    return; // offline: the next request will tell
  }
  const body = await readBody(response);
  if (response.ok && body?.access_token) storeToken(body);
  else if (response.status === 204) sessionExpired();
}

/**
 * Run task while holding a lock shared by every tab of the site. Tabs share the refresh cookie and
 * the backend rotates it at each use (presenting a rotated one ends the session), so tabs that
 * refresh at the same moment, as after a browser restart, must take turns: the second one then
 * sends the cookie the first one received.
 */
function acrossTabs(task) {
  return navigator.locks ? navigator.locks.request('refresh-session', task) : task();
}

function sessionExpired() {
  forgetToken();
  if (!sessionOver) {
    sessionOver = true;
    sessionEvents.dispatchEvent(new Event('expired'));
    tabs?.postMessage('expired');
  }
  return new ApiError(401, null);
}

/** A valid access token, refreshed first if it is about to expire; throws when the session is over. */
export async function currentToken() {
  if (accessToken && Date.now() < expiresAt - EXPIRY_MARGIN_MS) return accessToken;
  if (!(await refreshSession())) throw sessionExpired();
  return accessToken;
}

/**
 * Call the API with the access token. On a 401 the token is refreshed and the call retried once;
 * if that fails too, the session is over. Resolves with the parsed JSON body (null for 204).
 */
export async function request(method, path, { json, form } = {}) {
  const attempt = async () => {
    const headers = { Accept: 'application/json', Authorization: `Bearer ${await currentToken()}` };
    let body;
    if (json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(json);
    } else if (form !== undefined) {
      body = form;
    }
    return send(path, { method, headers, body });
  };
  let response = await attempt();
  if (response.status === 401) {
    if (!(await refreshSession())) throw sessionExpired();
    response = await attempt();
    if (response.status === 401) throw sessionExpired();
  }
  const body = await readBody(response);
  if (!response.ok) throw failure(response, body);
  return body;
}

export async function signIn(email, password) {
  const response = await send('/api/auth/login', {
    method: 'POST',
    headers: { Accept: 'application/json' },
    body: new URLSearchParams({ username: email, password }),
  });
  const body = await readBody(response);
  if (!response.ok || !body?.access_token) throw failure(response, body);
  storeToken(body);
}

export async function signUp({ email, password, fullName, invitation = null }) {
  return postAnonymous('/api/auth/register', { email, password, full_name: fullName || null, invitation });
}

/** The address an invitation link was made for: `{email}`; rejects with ApiError 400 (and the
 * server's sentence) when the link is unknown, used or expired. */
export async function lookupInvitation(token) {
  return postAnonymous('/api/auth/invitation', { token });
}

/** Set a new password with a one-time link an administrator handed on. */
export async function resetPassword({ token, email, newPassword }) {
  return postAnonymous('/api/auth/reset-password', { token, email, new_password: newPassword });
}

/** Who may sign up ('open', 'invite' or 'closed': REGISTRATION) and whether the site sends mail. */
export async function siteAccess() {
  const response = await send('/api/auth/registration', { headers: { Accept: 'application/json' } });
  const body = await readBody(response);
  if (!response.ok) throw failure(response, body);
  return { registration: body.registration, mail: body.mail === true };
}

/** Who may sign up: 'open', 'invite' or 'closed' (REGISTRATION in settings.env). */
export async function registrationMode() {
  return (await siteAccess()).registration;
}

/** "Forgot password": the server answers the same whether or not the address has an account. */
export async function requestPasswordReset(email) {
  return postAnonymous('/api/auth/forgot-password', { email });
}

/** A new link for an account whose address is not confirmed yet (the same answer for every address). */
export async function resendVerification(email) {
  return postAnonymous('/api/auth/resend-verification', { email });
}

/** Use a mailed verification link: `{email, changed}` (changed: a new address became the account's). */
export async function verifyEmail(token) {
  return postAnonymous('/api/auth/verify-email', { token });
}

async function postAnonymous(path, json) {
  const response = await send(path, {
    method: 'POST',
    headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
    body: JSON.stringify(json),
  });
  const body = await readBody(response);
  if (!response.ok) throw failure(response, body);
  return body;
}

/** End the session on the server (cookie cleared, refresh family revoked), then in memory and in every other tab. */
export async function signOut() {
  const headers = accessToken ? { Authorization: `Bearer ${accessToken}` } : {};
  forgetToken();
  sessionOver = true;
  try {
    await send('/api/auth/logout', { method: 'POST', headers });
  } catch {
    // Offline: the token is gone from memory anyway and the cookie expires on its own.
  }
  tabs?.postMessage('signed-out');
}

/** Forget the token without calling the server (after a password change revoked the session). */
export function dropSession() {
  forgetToken();
}

// A 422's problems, each a sentence of the backend in the site's language that already names its
// field ("Mot de passe : trop court, …"): shown as they are, never prefixed with `loc` again.
function describeDetails(detail) {
  if (Array.isArray(detail)) {
    return detail.map((item) => item.msg).filter(Boolean).join(' ');
  }
  return typeof detail === 'string' ? detail : '';
}

/**
 * Words a person understands for a failed call. `byStatus` maps the statuses that mean something
 * special where the call was made (401 on the sign-in form: wrong password) to a message.
 */
export function describeError(error, byStatus = {}) {
  if (!(error instanceof ApiError)) {
    console.error(error);
    return t('error.server');
  }
  if (error.status in byStatus) return byStatus[error.status];
  switch (error.status) {
    case 0: return t('error.network');
    case 401: return t('signin.sessionExpired');
    case 403: return t('error.forbidden');
    case 404: return t('error.notFound');
    case 413: return t('upload.tooLargeNoMax');
    case 422: return t('error.invalid', { details: describeDetails(error.detail) });
    case 429: return error.retryAfter
      ? t('error.tooManyWait', { wait: formatDuration(error.retryAfter) })
      : t('error.tooMany');
    case 502: case 503: case 504: return withRequestId(t('error.unavailable'), error);
    default:
      if (error.status >= 400 && error.status < 500 && error.detail) {
        return t('error.rejected', { details: describeDetails(error.detail) });
      }
      return withRequestId(t('error.server'), error);
  }
}

/** A server-side failure's message, with the id a user can quote ("erreur 7f3a… : signalez-la"). */
function withRequestId(message, error) {
  return error.requestId ? `${message} ${t('error.reportId', { id: error.requestId })}` : message;
}
