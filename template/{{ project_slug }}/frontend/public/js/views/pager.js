// "Previous · 21–40 of 43 · Next" under a paginated list (offset/limit pages of the API).
import { h } from '../dom.js';
import { t } from '../i18n.js';

/** Nothing when everything fits on one page; `go(newOffset)` is called on Previous/Next. */
export function pager({ offset, total, pageSize, label, go }) {
  if (total <= pageSize) return null;
  return h('nav', { class: 'pager', 'aria-label': label },
    h('button', {
      type: 'button', class: 'btn btn-quiet', disabled: offset === 0,
      onclick: () => go(Math.max(0, offset - pageSize)),
    }, t('pager.previous')),
    h('span', { class: 'pager-range' },
      t('pager.range', { first: offset + 1, last: Math.min(offset + pageSize, total), total })),
    h('button', {
      type: 'button', class: 'btn btn-quiet', disabled: offset + pageSize >= total,
      onclick: () => go(offset + pageSize),
    }, t('pager.next')));
}
