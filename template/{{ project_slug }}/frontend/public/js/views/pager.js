// "Previous · Page 3 of 9 · 49–72 of 200 · Next" under a paginated list (offset/limit pages of the API).
import { h } from '../dom.js';
import { t } from '../i18n.js';

/**
 * Nothing when everything fits on one page. With `href(newOffset)`, each control is a link to that
 * page's URL (the files page: reload, Back and shared links keep the page) and `go(newOffset)` is
 * called on click before the link is followed; without, they are buttons that call `go(newOffset)`.
 */
export function pager({ offset, total, pageSize, label, go, href = null }) {
  if (total <= pageSize) return null;
  const lastOffset = Math.floor((total - 1) / pageSize) * pageSize;
  const control = (text, target, enabled, rel = null) => {
    if (!href) {
      return h('button', { type: 'button', class: 'btn btn-quiet', disabled: !enabled, onclick: () => go(target) }, text);
    }
    // A link to nowhere is no link: a disabled control is plain text, out of the tab order.
    if (!enabled) return h('span', { class: 'btn btn-quiet is-disabled', 'aria-disabled': 'true' }, text);
    return h('a', { class: 'btn btn-quiet', href: href(target), rel, onclick: () => go?.(target) }, text);
  };
  const pages = href
    ? h('span', { class: 'pager-page' },
      t('pager.page', { page: offset / pageSize + 1, pages: lastOffset / pageSize + 1 }))
    : null;
  return h('nav', { class: 'pager', 'aria-label': label },
    href ? control(t('pager.first'), 0, offset > 0) : null,
    control(t('pager.previous'), Math.max(0, offset - pageSize), offset > 0, 'prev'),
    pages,
    h('span', { class: 'pager-range' },
      t('pager.range', { first: offset + 1, last: Math.min(offset + pageSize, total), total })),
    control(t('pager.next'), offset + pageSize, offset + pageSize < total, 'next'),
    href ? control(t('pager.last'), lastOffset, offset < lastOffset) : null);
}
