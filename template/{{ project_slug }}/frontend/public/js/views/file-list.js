// The list half of "My files": its heading with the count, one page of rows, the pager, and the
// empty and failed states. Which page of which list comes from `navigation` (the URL).
import { ApiError, describeError, request, serverNow } from '../api.js';
import { h, replaceChildren } from '../dom.js';
import { t, tn } from '../i18n.js';
import { filesHash, filesRequest } from './file-query.js';
import { LINK_MARGIN_MS, fileRow } from './file-row.js';
import { pager } from './pager.js';

export const PAGE_SIZE = 24;

/** Read the list again before the soonest of its download links expires (page left open). */
function linkRenewal(reload) {
  let timer = null;
  return (items) => {
    clearTimeout(timer);
    if (!items.length) return;
    const soonest = Math.min(...items.map((file) => Date.parse(file.url_expires_at)));
    timer = setTimeout(reload, Math.max(soonest - LINK_MARGIN_MS - serverNow(), 5_000));
  };
}

/** `navigation` gives query(), show(next, {replace}), clearSearch() and pageLinkClicked(). */
export function fileList({ navigation, status, usage }) {
  const region = h('div', { class: 'file-list-region' });
  const countLabel = h('span', { class: 'count' });
  const heading = h('h2', { id: 'files-heading', tabindex: '-1' }, t('files.listHeading'), ' ', countLabel);
  const renewLinks = linkRenewal(() => {
    if (region.isConnected) list.load();
  });
  let latestLoad = 0;
  let focusAfterLoad = false;

  const list = {
    heading,
    region,
    say(text) {
      status.textContent = text;
    },
    focusHeading() {
      heading.focus();
    },
    /** The next page shown starts at the list's heading (a pager link was followed). */
    focusNextLoad() {
      focusAfterLoad = true;
    },
    showError(text) {
      replaceChildren(region, h('div', { class: 'banner banner-error', role: 'alert' },
        h('p', {}, t('files.loadError', { reason: text })),
        h('button', { type: 'button', class: 'btn btn-quiet', onclick: () => list.load() }, t('files.retry'))));
    },
    async load() {
      const thisLoad = ++latestLoad; // an older answer arriving late is ignored
      const query = navigation.query();
      region.setAttribute('aria-busy', 'true');
      try {
        const page = await request('GET', filesRequest(query, PAGE_SIZE));
        if (thisLoad !== latestLoad) return;
        const lastPage = Math.max(1, Math.ceil(page.total / PAGE_SIZE));
        // A page past the end (files deleted since, a link from earlier): the last one instead.
        if (query.page > lastPage) return void navigation.show({ ...query, page: lastPage }, { replace: true });
        usage.load();
        renewLinks(page.items);
        show(page, query);
        if (focusAfterLoad) heading.focus();
      } catch (error) {
        if (thisLoad !== latestLoad) return;
        if (!(error instanceof ApiError && error.status === 401)) list.showError(describeError(error));
      } finally {
        if (thisLoad === latestLoad) {
          focusAfterLoad = false;
          region.removeAttribute('aria-busy');
        }
      }
    },
  };

  function show(page, query) {
    countLabel.textContent = query.q
      ? tn('files.matches', page.total, { q: query.q })
      : tn('files.count', page.total);
    if (query.q) status.textContent = countLabel.textContent; // heard while typing
    replaceChildren(region, page.items.length ? [
      h('ul', { class: 'file-grid file-list', 'aria-labelledby': 'files-heading' },
        page.items.map((file) => fileRow(file, list))),
      pager({
        offset: (query.page - 1) * PAGE_SIZE, total: page.total, pageSize: PAGE_SIZE, label: t('pager.files'),
        go: navigation.pageLinkClicked,
        href: (newOffset) => filesHash({ ...query, page: newOffset / PAGE_SIZE + 1 }),
      }),
    ] : emptyList(query));
  }

  function emptyList(query) {
    if (!query.q) return h('p', { class: 'empty-state' }, t('files.empty'));
    return h('div', { class: 'empty-state' },
      h('p', {}, t('files.noMatch', { q: query.q })),
      h('button', { type: 'button', class: 'btn btn-quiet', onclick: navigation.clearSearch }, t('files.clearSearch')));
  }

  return list;
}
