// The signed-in pages' views (files, profile, users), whose modules are fetched when first needed
// rather than with the page: a first visit's sign-in form then waits for a third of the modules
// (docs/performance.md). main.js fetches them once the first page is drawn, so signing in does
// not wait for them either.

// Every module these views need, asked for in one go: their imports would otherwise be found one
// level at a time (files.js, then file-list.js, then file-row.js …), a round trip each.
// tests/test_frontend.py checks this list against the imports, so it cannot drift.
const MODULES = [
  './uploader.js',
  './views/add-people.js',
  './views/audit-log.js',
  './views/backup-line.js',
  './views/dialog.js',
  './views/file-list.js',
  './views/file-preview.js',
  './views/file-query.js',
  './views/file-row.js',
  './views/file-toolbar.js',
  './views/file-usage.js',
  './views/files.js',
  './views/outbox.js',
  './views/pager.js',
  './views/profile.js',
  './views/table.js',
  './views/upload-panel.js',
  './views/user-actions.js',
  './views/users.js',
];
let fetching = null;

function fetchAll() {
  fetching ??= Promise.all(MODULES.map((module) => import(module))).catch(() => {
    fetching = null; // offline: the next page that needs them asks again
  });
}

/** A view loaded on demand: `load()` resolves once `view` is set. */
function later(importView) {
  const entry = { view: null, loading: null };
  entry.load = () => {
    fetchAll();
    entry.loading ??= importView().then(
      (view) => { entry.view = view; },
      (error) => { entry.loading = null; throw error; }, // the next visit of the page tries again
    );
    return entry.loading;
  };
  return entry;
}

export const files = later(async () => (await import('./views/files.js')).filesView);
export const profile = later(async () => (await import('./views/profile.js')).profileView);
export const users = later(async () => (await import('./views/users.js')).usersView);
