// "My files": drop or pick files to upload (each with progress and cancel), then the list.
import { ApiError, describeError, request, serverNow } from '../api.js';
import { h, replaceChildren, uid } from '../dom.js';
import { formatBytes, formatDateTime, formatPercent } from '../format.js';
import { lang, t } from '../i18n.js';
import { uploadFile } from '../uploader.js';
import { confirmDialog } from './dialog.js';
import { pager } from './pager.js';

const PAGE_SIZE = 24;
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

export function filesView() {
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
  let offset = 0;
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
    h('span', {}, `${t('files.dropOr')} `, h('span', { class: 'link-like' }, t('files.pick'))),
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
      offset = 0;
      loadPage();
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
    if (offset > 0 && total - 1 <= offset) offset -= PAGE_SIZE;
    await loadPage();
    listHeading.focus();
  }

  // A link that has expired (a tab left open, a computer that slept) is renewed before it is
  // followed: the click asks the API for the file again, then follows the fresh link.
  async function openFile(event, file, card) {
    if (linkIsFresh(file)) return;
    event.preventDefault();
    const clicked = event.currentTarget; // null once the event is over
    try {
      Object.assign(file, await request('GET', `/api/files/${encodeURIComponent(file.id)}`));
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) showListError(describeError(error));
      return;
    }
    for (const link of card.querySelectorAll('a[download]')) link.href = file.url;
    clicked.click();
  }

  function fileCard(file) {
    const card = h('li', { class: 'file-card', 'data-file-id': file.id });
    const follow = (event) => openFile(event, file, card);
    card.append(
      h('a', {
        class: 'file-link', href: file.url, download: file.name,
        'aria-label': t('files.download', { name: file.name }), onclick: follow,
      }, thumbnail(file)),
      h('div', { class: 'file-info' },
        h('a', {
          class: 'file-name', href: file.url, download: file.name, title: file.name, onclick: follow,
        }, file.name),
        h('p', { class: 'file-meta' },
          h('span', {}, formatBytes(file.size)), ' · ',
          h('time', { datetime: file.created_at }, formatDateTime(file.created_at)))),
      h('button', {
        type: 'button', class: 'btn btn-danger-quiet btn-small',
        'aria-label': t('files.deleteLabel', { name: file.name }),
        onclick: (event) => deleteFile(file, event.currentTarget),
      }, t('files.delete')));
    return card;
  }

  function goToPage(newOffset) {
    offset = newOffset;
    loadPage().then(() => listHeading.focus());
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

  async function loadPage() {
    listRegion.setAttribute('aria-busy', 'true');
    try {
      const page = await request('GET', `/api/files?offset=${offset}&limit=${PAGE_SIZE}`);
      loadUsage();
      renewLinksBefore(page.items);
      total = page.total;
      const plural = new Intl.PluralRules(lang).select(total); // French: 0 and 1 are singular
      countLabel.textContent = t(plural === 'one' ? 'files.countOne' : 'files.count', { count: total });
      replaceChildren(listRegion, page.items.length
        ? [
          h('ul', { class: 'file-grid' }, page.items.map(fileCard)),
          pager({ offset, total, pageSize: PAGE_SIZE, label: t('pager.files'), go: goToPage }),
        ]
        : h('p', { class: 'empty-state' }, t('files.empty')));
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) showListError(describeError(error));
    } finally {
      listRegion.removeAttribute('aria-busy');
    }
  }

  const listHeading = h('h2', { id: 'files-heading', tabindex: '-1' }, t('files.listHeading'), ' ', countLabel);
  loadPage();
  return h('div', { class: 'files-page' },
    h('h1', { tabindex: '-1' }, t('files.title')),
    h('section', { class: 'upload-panel', 'aria-label': t('files.uploadsHeading') },
      picker, dropZone, uploadList),
    h('section', { class: 'files-panel', 'aria-labelledby': 'files-heading' },
      listHeading, usageLine, listRegion),
    status);
}
