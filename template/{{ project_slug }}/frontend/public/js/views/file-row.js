// One file of the list: its picture or type, its name (the one tab stop that previews or
// downloads it; the whole row is its click target), its type, size and date, and Delete.
//
// One row per file rather than cards in a grid: at thousands of files people search and sort more
// than they browse pictures, and a row gives the whole name the width of the page to wrap in (a
// card cut it at "facture-2025-03.…"), with size and date aligned for comparing.
import { ApiError, describeError, request, serverNow } from '../api.js';
import { h } from '../dom.js';
import { formatBytes, formatDateTime } from '../format.js';
import { t } from '../i18n.js';
import { confirmDialog } from './dialog.js';
import { previewDialog, previewKind } from './file-preview.js';

// Download links expire (the backend's DOWNLOAD_LINK_MINUTES): they are renewed this long before.
export const LINK_MARGIN_MS = 60_000;

export function linkIsFresh(file) {
  return Date.parse(file.url_expires_at) - LINK_MARGIN_MS > serverNow();
}

function extensionOf(file) {
  return file.name.includes('.') ? file.name.split('.').pop().slice(0, 4).toUpperCase() : '';
}

function fileTypeBadge(file) {
  return h('span', { class: 'thumb thumb-generic', 'aria-hidden': 'true' }, extensionOf(file) || '?');
}

function thumbnail(file) {
  if (!file.content_type?.startsWith('image/')) return fileTypeBadge(file);
  const image = h('img', { class: 'thumb', src: file.url, alt: '', loading: 'lazy', decoding: 'async' });
  image.addEventListener('error', () => image.replaceWith(fileTypeBadge(file)), { once: true });
  return image;
}

/** "Image", "PDF", "Fichier ZIP", "Fichier": what the file is, not what clicking it does. */
function typeLabel(file, kind) {
  if (kind) return t(`files.kind.${kind}`);
  const extension = extensionOf(file);
  return extension ? t('files.kind.other', { extension }) : t('files.kind.unknown');
}

/**
 * A link that has expired (a tab left open, a computer that slept) is renewed before it is
 * followed: the API is asked for the file again. Resolves false when that failed (and said so).
 */
async function freshen(file, row, list) {
  if (linkIsFresh(file)) return true;
  try {
    Object.assign(file, await request('GET', `/api/files/${encodeURIComponent(file.id)}`));
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) list.showError(describeError(error));
    return false;
  }
  row.querySelector('a.file-name').href = file.url;
  return true;
}

async function openFile(event, file, row, list) {
  const kind = previewKind(file);
  const link = event.currentTarget; // null once the event is over
  // A modified click (new tab, save as) is the browser's; a plain one previews or downloads.
  if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
  if (!kind && linkIsFresh(file)) return; // a download the browser does itself
  event.preventDefault();
  if (!(await freshen(file, row, list))) return;
  if (kind) previewDialog({ file, kind, returnFocus: link });
  else link.click();
}

async function deleteFile(file, button, list) {
  const confirmed = await confirmDialog({
    title: t('files.confirmTitle'), body: t('files.confirmBody', { name: file.name }),
    confirmLabel: t('files.confirmDelete'), cancelLabel: t('files.cancel'), returnFocus: button,
  });
  if (!confirmed) return;
  try {
    await request('DELETE', `/api/files/${encodeURIComponent(file.id)}`);
    list.say(t('files.deleted', { name: file.name }));
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) {
      list.showError(describeError(error));
      return;
    }
  }
  await list.load(); // the last file of the last page gone: the list goes to the new last page
  list.focusHeading();
}

/** The row of `file`; `list` gives load(), say(text), showError(text) and focusHeading(). */
export function fileRow(file, list) {
  const row = h('li', { class: 'file-card', 'data-file-id': file.id });
  const kind = previewKind(file);
  row.append(
    thumbnail(file),
    h('div', { class: 'file-info' },
      h('a', {
        class: 'file-name', href: file.url, download: kind ? null : file.name,
        'aria-haspopup': kind ? 'dialog' : null, 'aria-describedby': `${file.id}-meta`,
        onclick: (event) => openFile(event, file, row, list),
      }, file.name),
      h('p', { class: 'file-meta', id: `${file.id}-meta` },
        h('span', {}, typeLabel(file, kind)), ' · ',
        h('span', {}, formatBytes(file.size)), ' · ',
        h('time', { datetime: file.created_at }, formatDateTime(file.created_at)))),
    h('button', {
      type: 'button', class: 'btn btn-danger-quiet btn-small file-action',
      'aria-label': t('files.deleteLabel', { name: file.name }),
      onclick: (event) => deleteFile(file, event.currentTarget, list),
    }, t('files.delete')));
  return row;
}
