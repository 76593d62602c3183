// "My files": drop or pick files to upload (each with progress and cancel), then the list.
import { ApiError, describeError, request, serverNow } from '../api.js';
import { h, replaceChildren, uid } from '../dom.js';
import { formatBytes, formatDateTime, formatPercent } from '../format.js';
import { lang, t } from '../i18n.js';
import { uploadFile } from '../uploader.js';
import { confirmDialog } from './dialog.js';
import { cleanSearch, filesHash, filesRequest, readQuery } from './file-query.js';
import { previewDialog, previewKind } from './file-preview.js';
import { pager } from './pager.js';

const PAGE_SIZE = 24;
// A search runs this long after the last key typed (one request per pause, not per key).
const SEARCH_DELAY_MS = 300;
// The sort menu's choices: each key both ways, in the order people look for them.
const SORT_CHOICES = [
  ['date', 'desc', 'files.sortNewest'], ['date', 'asc', 'files.sortOldest'],
  ['name', 'asc', 'files.sortNameAsc'], ['name', 'desc', 'files.sortNameDesc'],
  ['size', 'desc', 'files.sortLargest'], ['size', 'asc', 'files.sortSmallest'],
];
// Finished uploads stay visible this long, so the user sees "Uploaded" before the row goes.
const DONE_ROW_MS = 4000;
// Download links expire (the backend's DOWNLOAD_LINK_MINUTES): they are renewed this long before.
const LINK_MARGIN_MS = 60_000;

function linkIsFresh(file) {
  return Date.parse(file.url_expires_at) - LINK_MARGIN_MS > serverNow();
}

let activeUploads = 0;
window.addEventListener('beforeunload', (event) => {
  if (activeUploads > 0) event.preventDefault(); // the browser asks "Leave the page?"
});

function uploadErrorMessage(error) {
  if (error instanceof ApiError && error.status === 413) {
    // The backend's sentence names the limit ("… the 50 MB limit", "… de 50 Mo"): show it in the
    // UI's language. Decimal megabytes everywhere (settings.env, the API, this page).
    const limit = /(\d+(?:[.,]\d+)?)\s*(?:MB|Mo)\b/i.exec(String(error.detail ?? ''));
    return limit
      ? t('upload.tooLarge', { max: formatBytes(Number(limit[1].replace(',', '.')) * 1_000_000) })
      : t('upload.tooLargeNoMax');
  }
  return describeError(error, {
    507: t('upload.quota'),
    502: t('upload.storageDown'),
    503: t('upload.storageDown'),
  });
}

function fileTypeBadge(file) {
  const extension = file.name.includes('.') ? file.name.split('.').pop().slice(0, 4) : '';
  return h('span', { class: 'thumb thumb-generic', 'aria-hidden': 'true' }, extension.toUpperCase() || '?');
}

function thumbnail(file) {
  if (!file.content_type?.startsWith('image/')) return fileTypeBadge(file);
  const image = h('img', { class: 'thumb', src: file.url, alt: '', loading: 'lazy', decoding: 'async' });
  image.addEventListener('error', () => image.replaceWith(fileTypeBadge(file)), { once: true });
  return image;
}

export function filesView(context, params) {
  const listRegion = h('div', { class: 'file-list-region' });
  const countLabel = h('span', { class: 'count' });
  const uploadList = h('ul', { class: 'upload-list', 'aria-label': t('files.uploadsHeading') });
  const status = h('p', { class: 'visually-hidden', role: 'status' });
  const picker = h('input', {
    id: uid('picker'), type: 'file', multiple: true, class: 'visually-hidden file-picker',
    onchange: () => {
      startUploads(picker.files);
      picker.value = ''; // picking the same file again must fire `change` again
    },
  });
  // Which page of which list: from the URL, and written back to it (file-query.js).
  let query = readQuery(params);
  let total = 0;
  // The caller's limits (GET /api/files/usage): space used and left, the largest file accepted.
  const maxSizeHint = h('span', { class: 'hint drop-max' });
  const usageLine = h('p', { class: 'usage', 'data-testid': 'usage' });

  async function loadUsage() {
    try {
      const usage = await request('GET', '/api/files/usage');
      const left = Math.max(0, usage.quota_bytes - usage.used_bytes);
      maxSizeHint.textContent = t('files.maxSize', { max: formatBytes(usage.max_upload_bytes) });
      usageLine.textContent = t('files.usage', {
        used: formatBytes(usage.used_bytes), quota: formatBytes(usage.quota_bytes), left: formatBytes(left),
      });
    } catch {
      usageLine.textContent = ''; // the list says what went wrong
    }
  }

  const dropZone = h('label', { class: 'drop-zone', for: picker.id },
    h('span', { class: 'drop-icon', 'aria-hidden': 'true' }),
    h('span', { class: 'drop-title' }, t('files.dropTitle')),
    // "or" in an element of its own: touch screens hide it (display: none, so screen readers skip
    // it too) where "choose files" is the only action.
    h('span', {},
      h('span', { class: 'drop-or' }, `${t('files.dropOr')} `),
      h('span', { class: 'link-like' }, t('files.pick'))),
    h('span', { class: 'hint' }, t('files.dropHint')),
    maxSizeHint);
  for (const name of ['dragenter', 'dragover']) {
    dropZone.addEventListener(name, (event) => {
      event.preventDefault();
      dropZone.classList.add('is-dragging');
    });
  }
  dropZone.addEventListener('dragleave', () => dropZone.classList.remove('is-dragging'));
  dropZone.addEventListener('drop', (event) => {
    event.preventDefault();
    dropZone.classList.remove('is-dragging');
    startUploads(event.dataTransfer.files);
  });

  function startUploads(fileList) {
    for (const file of Array.from(fileList ?? [])) startUpload(file);
  }

  function startUpload(file) {
    const controller = new AbortController();
    const progress = h('progress', { max: file.size || 1, value: 0 });
    const progressText = h('span', { class: 'upload-progress-text' }, t('upload.waiting'));
    const message = h('p', { class: 'upload-message', 'aria-live': 'polite' });
    const cancel = h('button', {
      type: 'button', class: 'btn btn-quiet btn-small',
      'aria-label': t('upload.cancelLabel', { name: file.name }),
      onclick: () => controller.abort(),
    }, t('upload.cancel'));
    const row = h('li', { class: 'upload-row' },
      h('div', { class: 'upload-head' },
        h('span', { class: 'upload-name' }, file.name), progressText, cancel),
      progress, message);
    uploadList.append(row);

    const dismiss = () => {
      const next = row.nextElementSibling ?? row.previousElementSibling;
      row.remove();
      (next?.querySelector('button') ?? picker).focus();
    };
    const finish = (kind, text) => {
      row.classList.add(`is-${kind}`);
      progressText.textContent = '';
      message.textContent = text;
      const dismissButton = h('button', { type: 'button', class: 'btn btn-quiet btn-small', onclick: dismiss },
        t('upload.dismiss'));
      const hadFocus = document.activeElement === cancel;
      cancel.replaceWith(dismissButton);
      if (hadFocus) dismissButton.focus();
    };

    activeUploads += 1;
    uploadFile(file, {
      signal: controller.signal,
      onProgress(loaded, size) {
        progress.max = size || 1;
        progress.value = loaded;
        progressText.textContent = t('upload.progress', {
          loaded: formatBytes(loaded), total: formatBytes(size), percent: formatPercent(size ? loaded / size : 1),
        });
      },
    }).then(() => {
      progress.value = progress.max;
      row.classList.add('is-done');
      progressText.textContent = t('upload.done');
      cancel.remove();
      status.textContent = `${file.name}: ${t('upload.done')}`;
      setTimeout(() => row.remove(), DONE_ROW_MS);
      // On the default list (newest first, no search) the new file is first on page 1: go there.
      // Elsewhere the user chose a page, an order or a search: it stays, with the file counted.
      const isDefaultList = query.sort === 'date' && query.order === 'desc' && !query.q;
      if (isDefaultList && query.page > 1) showQuery({ ...query, page: 1 }, { replace: true });
      else loadPage();
    }).catch((error) => {
      if (error?.name === 'AbortError') finish('cancelled', t('upload.cancelled'));
      else finish('error', uploadErrorMessage(error));
    }).finally(() => {
      activeUploads -= 1;
    });
  }

  async function deleteFile(file, button) {
    const confirmed = await confirmDialog({
      title: t('files.confirmTitle'),
      body: t('files.confirmBody', { name: file.name }),
      confirmLabel: t('files.confirmDelete'),
      cancelLabel: t('files.cancel'),
      returnFocus: button,
    });
    if (!confirmed) return;
    try {
      await request('DELETE', `/api/files/${encodeURIComponent(file.id)}`);
      status.textContent = t('files.deleted', { name: file.name });
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) {
        showListError(describeError(error));
        return;
      }
    }
    await loadPage(); // the last file of the last page gone: loadPage goes to the new last page
    listHeading.focus();
  }

  // A link that has expired (a tab left open, a computer that slept) is renewed before it is
  // followed: the API is asked for the file again. Resolves false when that failed (and said so).
  async function freshen(file, card) {
    if (linkIsFresh(file)) return true;
    try {
      Object.assign(file, await request('GET', `/api/files/${encodeURIComponent(file.id)}`));
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) showListError(describeError(error));
      return false;
    }
    card.querySelector('a.file-name').href = file.url;
    return true;
  }

  async function openFile(event, file, card) {
    const kind = previewKind(file);
    const link = event.currentTarget; // null once the event is over
    // A modified click (new tab, save as) is the browser's; a plain one previews or downloads.
    if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    if (!kind && linkIsFresh(file)) return; // a download the browser does itself
    event.preventDefault();
    if (!(await freshen(file, card))) return;
    if (kind) previewDialog({ file, kind, returnFocus: link });
    else link.click();
  }

  // One row per file in a list rather than cards in a grid: at thousands of files people search
  // and sort more than they browse pictures, and a row gives the whole name the width of the page
  // to wrap in (a card cut it at "facture-2025-03.…"), with size and date aligned for comparing.
  // One tab stop for the file (its name: preview or download; the whole row is its click target)
  // and one per action (Delete).
  function fileCard(file) {
    const card = h('li', { class: 'file-card', 'data-file-id': file.id });
    const kind = previewKind(file);
    card.append(
      thumbnail(file),
      h('div', { class: 'file-info' },
        h('a', {
          class: 'file-name', href: file.url, download: kind ? null : file.name,
          'aria-haspopup': kind ? 'dialog' : null,
          'aria-describedby': `${file.id}-meta`,
          onclick: (event) => openFile(event, file, card),
        }, file.name),
        h('p', { class: 'file-meta', id: `${file.id}-meta` },
          h('span', {}, kind ? t(`files.kind.${kind}`) : t('files.kind.download')), ' · ',
          h('span', {}, formatBytes(file.size)), ' · ',
          h('time', { datetime: file.created_at }, formatDateTime(file.created_at)))),
      h('button', {
        type: 'button', class: 'btn btn-danger-quiet btn-small file-action',
        'aria-label': t('files.deleteLabel', { name: file.name }),
        onclick: (event) => deleteFile(file, event.currentTarget),
      }, t('files.delete')));
    return card;
  }

  /** Show the list `next` names: a new history entry (Back returns here), or in place of this one. */
  function showQuery(next, { replace = false } = {}) {
    const hash = filesHash(next);
    query = next;
    if (hash !== window.location.hash) {
      if (replace) window.history.replaceState(window.history.state, '', hash);
      else window.history.pushState(null, '', hash);
    }
    syncControls();
    return loadPage();
  }

  // --- Search and sort (the URL holds both, with the page)
  const searchInput = h('input', {
    id: uid('file-search'), class: 'input', type: 'search', name: 'q', maxlength: 255,
    autocomplete: 'off', spellcheck: 'false', value: query.q,
  });
  let searchTimer = null;
  // The first key of a search adds a history entry (Back returns to the list before it); the
  // next keys of the same search replace it, so Back does not step back one letter at a time.
  let searchEntry = false;
  function search() {
    clearTimeout(searchTimer);
    const q = cleanSearch(searchInput.value);
    if (q === query.q) return;
    showQuery({ ...query, q, page: 1 }, { replace: searchEntry });
    searchEntry = true;
  }
  searchInput.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(search, SEARCH_DELAY_MS);
  });
  const searchForm = h('form', { class: 'file-search', role: 'search', onsubmit: (event) => {
    event.preventDefault(); // Enter searches at once
    search();
  } },
  h('label', { for: searchInput.id }, t('files.searchLabel')), searchInput);

  const sortSelect = h('select', {
    id: uid('file-sort'), class: 'input', name: 'sort',
    onchange: () => {
      const [sort, order] = sortSelect.value.split(':');
      searchEntry = false;
      showQuery({ ...query, sort, order, page: 1 });
    },
  }, SORT_CHOICES.map(([sort, order, key]) => h('option', { value: `${sort}:${order}` }, t(key))));
  const sortField = h('div', { class: 'file-sort' },
    h('label', { for: sortSelect.id }, t('files.sortLabel')), sortSelect);

  /** The controls show the query (after Back, Forward or a link). */
  function syncControls() {
    sortSelect.value = `${query.sort}:${query.order}`;
    if (cleanSearch(searchInput.value) !== query.q) searchInput.value = query.q;
  }
  syncControls();

  // Back, Forward, a link to another page of this list: the router hands the new query over
  // instead of building the page again (uploads in progress and focus stay).
  context?.followQuery?.((next) => {
    query = readQuery(next);
    searchEntry = false;
    syncControls();
    loadPage();
  });

  let focusListAfterLoad = false;
  function pageLinkClicked() {
    searchEntry = false;
    focusListAfterLoad = true; // the new page starts at the list's heading
  }

  function showListError(text) {
    replaceChildren(listRegion,
      h('div', { class: 'banner banner-error', role: 'alert' },
        h('p', {}, t('files.loadError', { reason: text })),
        h('button', { type: 'button', class: 'btn btn-quiet', onclick: () => loadPage() }, t('files.retry'))));
  }

  // Links are renewed before they expire while the page stays open (the list is read again).
  let renewal = null;
  function renewLinksBefore(items) {
    clearTimeout(renewal);
    if (!items.length) return;
    const soonest = Math.min(...items.map((file) => Date.parse(file.url_expires_at)));
    const delay = Math.max(soonest - LINK_MARGIN_MS - serverNow(), 5_000);
    renewal = setTimeout(() => {
      if (listRegion.isConnected) loadPage();
    }, delay);
  }

  let latestLoad = 0;
  async function loadPage() {
    const thisLoad = ++latestLoad; // an older answer arriving late is ignored
    listRegion.setAttribute('aria-busy', 'true');
    try {
      const page = await request('GET', filesRequest(query, PAGE_SIZE));
      if (thisLoad !== latestLoad) return;
      const lastPage = Math.max(1, Math.ceil(page.total / PAGE_SIZE));
      if (query.page > lastPage) {
        // A page past the end (files deleted since, a link from earlier): the last one instead.
        showQuery({ ...query, page: lastPage }, { replace: true });
        return;
      }
      loadUsage();
      renewLinksBefore(page.items);
      total = page.total;
      const plural = new Intl.PluralRules(lang).select(total); // French: 0 and 1 are singular
      countLabel.textContent = query.q
        ? t(plural === 'one' ? 'files.matchesOne' : 'files.matches', { count: total, q: query.q })
        : t(plural === 'one' ? 'files.countOne' : 'files.count', { count: total });
      if (query.q) status.textContent = countLabel.textContent; // heard while typing
      const offset = (query.page - 1) * PAGE_SIZE;
      replaceChildren(listRegion, page.items.length
        ? [
          h('ul', { class: 'file-grid file-list', 'aria-labelledby': 'files-heading' }, page.items.map(fileCard)),
          pager({
            offset, total, pageSize: PAGE_SIZE, label: t('pager.files'), go: pageLinkClicked,
            href: (newOffset) => filesHash({ ...query, page: newOffset / PAGE_SIZE + 1 }),
          }),
        ]
        : emptyList());
      if (focusListAfterLoad) listHeading.focus();
    } catch (error) {
      if (thisLoad !== latestLoad) return;
      if (!(error instanceof ApiError && error.status === 401)) showListError(describeError(error));
    } finally {
      if (thisLoad === latestLoad) {
        focusListAfterLoad = false;
        listRegion.removeAttribute('aria-busy');
      }
    }
  }

  function emptyList() {
    if (!query.q) return h('p', { class: 'empty-state' }, t('files.empty'));
    return h('div', { class: 'empty-state' },
      h('p', {}, t('files.noMatch', { q: query.q })),
      h('button', { type: 'button', class: 'btn btn-quiet', onclick: () => {
        searchInput.value = '';
        search();
        searchInput.focus();
      } }, t('files.clearSearch')));
  }

  const listHeading = h('h2', { id: 'files-heading', tabindex: '-1' }, t('files.listHeading'), ' ', countLabel);
  loadPage();
  return h('div', { class: 'files-page' },
    h('h1', { tabindex: '-1' }, t('files.title')),
    h('section', { class: 'upload-panel', 'aria-label': t('files.uploadsHeading') },
      picker, dropZone, uploadList),
    h('section', { class: 'files-panel', 'aria-labelledby': 'files-heading' },
      listHeading, usageLine,
      h('div', { class: 'file-toolbar' }, searchForm, sortField),
      listRegion),
    status);
}
