// Search by name and sort, above the file list. Both live in the URL with the page
// (file-query.js); the toolbar shows what the URL says and asks `navigation` to show new lists.
import { h, uid } from '../dom.js';
import { t } from '../i18n.js';
import { cleanSearch } from './file-query.js';

// A search runs this long after the last key typed (one request per pause, not per key).
const SEARCH_DELAY_MS = 300;
// The sort menu's choices: each key both ways, in the order people look for them.
const SORT_CHOICES = [
  ['date', 'desc', 'files.sortNewest'], ['date', 'asc', 'files.sortOldest'],
  ['name', 'asc', 'files.sortNameAsc'], ['name', 'desc', 'files.sortNameDesc'],
  ['size', 'desc', 'files.sortLargest'], ['size', 'asc', 'files.sortSmallest'],
];

/** `navigation` gives query() and show(next, {replace}). */
export function fileToolbar(navigation) {
  const input = h('input', {
    id: uid('file-search'), class: 'input', type: 'search', name: 'q', maxlength: 255,
    autocomplete: 'off', spellcheck: 'false', value: navigation.query().q,
  });
  let timer = null;
  // The first key of a search adds a history entry (Back returns to the list before it); the
  // next keys of the same search replace it, so Back does not step back one letter at a time.
  let searchEntry = false;
  function search() {
    clearTimeout(timer);
    const query = navigation.query();
    const q = cleanSearch(input.value);
    if (q === query.q) return;
    navigation.show({ ...query, q, page: 1 }, { replace: searchEntry });
    searchEntry = true;
  }
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(search, SEARCH_DELAY_MS);
  });
  const searchForm = h('form', { class: 'file-search', role: 'search', onsubmit: (event) => {
    event.preventDefault(); // Enter searches at once
    search();
  } }, h('label', { for: input.id }, t('files.searchLabel')), input);

  const select = h('select', {
    id: uid('file-sort'), class: 'input', name: 'sort',
    onchange: () => {
      const [sort, order] = select.value.split(':');
      searchEntry = false;
      navigation.show({ ...navigation.query(), sort, order, page: 1 });
    },
  }, SORT_CHOICES.map(([sort, order, key]) => h('option', { value: `${sort}:${order}` }, t(key))));

  const toolbar = {
    element: h('div', { class: 'file-toolbar' }, searchForm,
      h('div', { class: 'file-sort' }, h('label', { for: select.id }, t('files.sortLabel')), select)),
    /** The controls show the query (after Back, Forward or a link). */
    sync() {
      const query = navigation.query();
      select.value = `${query.sort}:${query.order}`;
      if (cleanSearch(input.value) !== query.q) input.value = query.q;
    },
    /** The next key typed starts a new search (a new history entry). */
    endSearch() {
      searchEntry = false;
    },
    clear() {
      input.value = '';
      search();
      input.focus();
    },
  };
  toolbar.sync();
  return toolbar;
}
