// The page's own uncaught errors (a bug in these modules, a promise nobody awaited) go to the
// backend, which logs them and passes them to Sentry when the site has one: the operator hears of
// a broken page without a user having to describe it. Imported first by main.js; no imports of
// its own, so it listens before anything else can fail.
// Bounded: a loop that throws sends a few reports, not thousands (the edge limits each address too).
const MAX_REPORTS_PER_PAGE = 5;
const MAX_TEXT = 500;
const MAX_STACK = 4000;
const sent = new Set();

function cut(text, max) {
  const value = String(text ?? '');
  return value.length > max ? value.slice(0, max) : value;
}

function send(report) {
  const key = `${report.kind}|${report.message}|${report.source}|${report.line}`;
  if (sent.size >= MAX_REPORTS_PER_PAGE || sent.has(key)) return;
  sent.add(key);
  // The route only (#/files): a link's token, in a query, stays in the browser.
  const page = window.location.hash.split('?', 1)[0];
  fetch('/api/client-errors', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ ...report, page: cut(page, MAX_TEXT) }),
    credentials: 'omit',
    keepalive: true,
  }).catch(() => {}); // the server is unreachable: nothing more to do, never an error about errors
}

window.addEventListener('error', (event) => {
  send({
    kind: 'error',
    message: cut(event.message || 'error', MAX_TEXT),
    source: cut(event.filename, MAX_TEXT),
    line: Number.isInteger(event.lineno) ? event.lineno : null,
    column: Number.isInteger(event.colno) ? event.colno : null,
    stack: cut(event.error?.stack, MAX_STACK),
  });
});

window.addEventListener('unhandledrejection', (event) => {
  const reason = event.reason;
  send({
    kind: 'unhandledrejection',
    message: cut(reason?.message ?? reason ?? 'unhandled rejection', MAX_TEXT),
    source: '',
    line: null,
    column: null,
    stack: cut(reason?.stack, MAX_STACK),
  });
});
