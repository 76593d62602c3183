// One line on the users page: when the backups last copied the site and how the last restore
// drill went, or what is wrong (the backup service's own sentence), or that there are none.
import { request } from '../api.js';
import { h, replaceChildren } from '../dom.js';
import { formatAgo } from '../format.js';
import { t } from '../i18n.js';

function drillText(state) {
  if (!state.drill_at) return t('backups.noDrill');
  return t(state.drill_passed ? 'backups.drillPassed' : 'backups.drillFailed', { when: formatAgo(state.drill_at) });
}

function lineOf(state) {
  if (!state.configured) return h('p', { class: 'hint backup-line' }, t('backups.none'));
  if (!state.ok) {
    return h('p', { class: 'banner banner-error backup-line', role: 'status' },
      t('backups.failing', { problem: state.problem ?? '' }));
  }
  const copy = state.last_copy_at ? formatAgo(state.last_copy_at) : t('backups.never');
  return h('p', { class: 'hint backup-line' }, t('backups.line', { copy, drill: drillText(state) }));
}

/** The line's element, filled once the backend answers (nothing shown if it cannot). */
export function backupLine() {
  const element = h('div', { 'aria-live': 'polite' });
  request('GET', '/api/backups')
    .then((state) => replaceChildren(element, lineOf(state)))
    .catch(() => element.replaceChildren());
  return element;
}
