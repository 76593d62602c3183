// The administrators' audit log, newest first, a page at a time, under the users table.
import { describeError, request } from '../api.js';
import { h, replaceChildren } from '../dom.js';
import { formatDateTime } from '../format.js';
import { t } from '../i18n.js';
import { pager } from './pager.js';
import { stackedTable } from './table.js';

const PAGE_SIZE = 20;

function entryCells(entry) {
  return [
    h('td', {}, h('time', { datetime: entry.at }, formatDateTime(entry.at))),
    h('td', { class: 'cell-email' }, entry.actor_email),
    // The backend's sentence in the site's language ("Rôle changé en administrateur"); the action's
    // label from an older backend without one.
    h('td', { class: 'cell-wrap' }, entry.summary ?? t(`audit.action.${entry.action}`)),
    h('td', { class: 'cell-email' }, entry.target_email ?? ''),
  ];
}

/** { element, reload() }: the log's section, and a way to show a new entry. */
export function auditLog() {
  const region = h('div', { class: 'table-region' });
  let offset = 0;
  async function load() {
    try {
      const page = await request('GET', `/api/audit?offset=${offset}&limit=${PAGE_SIZE}`);
      const columns = ['when', 'who', 'what', 'whom'].map((column) => t(`audit.${column}`));
      replaceChildren(region, page.items.length === 0 ? h('p', { class: 'empty-state' }, t('audit.empty')) : [
        stackedTable(t('audit.title'), columns, page.items.map(entryCells)),
        pager({
          offset, total: page.total, pageSize: PAGE_SIZE, label: t('audit.pages'),
          go: (newOffset) => {
            offset = newOffset;
            load();
          },
        }),
      ]);
    } catch (error) {
      replaceChildren(region, h('p', { class: 'banner banner-error', role: 'alert' }, describeError(error)));
    }
  }
  load();
  return {
    element: h('section', { 'aria-labelledby': 'audit-heading' }, h('h2', { id: 'audit-heading' }, t('audit.title')), region),
    reload: load,
  };
}
