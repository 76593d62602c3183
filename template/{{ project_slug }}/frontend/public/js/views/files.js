// "My files": the upload panel (drop or pick files, each with progress and cancel), then the list
// with its search and sort. This module assembles the pieces and keeps which list is shown in the
// URL: #/files?page=3&sort=size&order=desc&q=facture (file-query.js).
import { h } from '../dom.js';
import { t } from '../i18n.js';
import { fileList } from './file-list.js';
import { filesHash, readQuery } from './file-query.js';
import { fileToolbar } from './file-toolbar.js';
import { usageSummary } from './file-usage.js';
import { uploadPanel } from './upload-panel.js';

export function filesView(context, params) {
  const status = h('p', { class: 'visually-hidden', role: 'status' });
  const usage = usageSummary();
  let query = readQuery(params);

  const navigation = {
    query: () => query,
    /** Show the list `next` names: a new history entry (Back returns here), or in place of this one. */
    show(next, { replace = false } = {}) {
      const hash = filesHash(next);
      query = next;
      if (hash !== window.location.hash) {
        if (replace) window.history.replaceState(window.history.state, '', hash);
        else window.history.pushState(null, '', hash);
      }
      toolbar.sync();
      return list.load();
    },
    clearSearch: () => toolbar.clear(),
    pageLinkClicked() {
      toolbar.endSearch();
      list.focusNextLoad(); // the new page starts at the list's heading
    },
  };
  const toolbar = fileToolbar(navigation);
  const list = fileList({ navigation, status, usage });

  // On the default list (newest first, no search) a new file is first on page 1: go there.
  // Elsewhere the user chose a page, an order or a search: it stays, with the file counted.
  function uploaded() {
    const isDefaultList = query.sort === 'date' && query.order === 'desc' && !query.q;
    if (isDefaultList && query.page > 1) navigation.show({ ...query, page: 1 }, { replace: true });
    else list.load();
  }

  // Back, Forward, a link to another page of this list: the router hands the new query over
  // instead of building the page again (uploads in progress and focus stay).
  context?.followQuery?.((next) => {
    query = readQuery(next);
    toolbar.endSearch();
    toolbar.sync();
    list.load();
  });

  list.load();
  return h('div', { class: 'files-page' },
    h('h1', { tabindex: '-1' }, t('files.title')),
    uploadPanel({ usage, status, onUploaded: uploaded }),
    h('section', { class: 'files-panel', 'aria-labelledby': 'files-heading' },
      list.heading, usage.line, toolbar.element, list.region),
    status);
}
