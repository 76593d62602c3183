// The page load's question "is this browser signed in?" (POST /api/auth/session), asked as soon as
// this small module arrives: index.html loads it on its own (async, no imports), so the answer
// travels while the app's other modules are still downloading, instead of one round trip after
// them all. api.js's resumeSession() takes this answer; it never asks twice.

/** The Response of the page load's session probe (rejects when the server was not reached). */
export const sessionProbe = askAcrossTabs(() =>
  fetch('/api/auth/session', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { Accept: 'application/json' },
  }),
);
// Awaited later by api.js: until then, a network failure is not an unhandled rejection.
sessionProbe.catch(() => {});

// The same lock as api.js's acrossTabs (the backend rotates the refresh cookie at each use).
function askAcrossTabs(task) {
  return navigator.locks ? navigator.locks.request('refresh-session', task) : task();
}
