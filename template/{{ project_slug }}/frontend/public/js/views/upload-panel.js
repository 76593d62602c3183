// The upload half of "My files": a drop zone around a file picker, then one row per upload with
// its progress and a Cancel button. A file the limits refuse is never sent (file-usage.js).
import { ApiError, describeError } from '../api.js';
import { h, uid } from '../dom.js';
import { formatBytes, formatPercent } from '../format.js';
import { t } from '../i18n.js';
import { logo } from '../logo.js';
import { uploadFile } from '../uploader.js';

// Finished uploads stay visible this long, so the user sees "Uploaded" before the row goes.
const DONE_ROW_MS = 4000;

let activeUploads = 0;
window.addEventListener('beforeunload', (event) => {
  if (activeUploads > 0) event.preventDefault(); // the browser asks "Leave the page?"
});

/**
 * The server's own sentence when it gave one (the backend's and the edge's speak the site's
 * language and name what failed: the limit, the quota, the storage, the whole service), so an
 * upload with the backend stopped never blames the storage; else a sentence for the status.
 */
function uploadErrorMessage(error) {
  if (error instanceof ApiError && typeof error.detail === 'string' && error.status !== 401) return error.detail;
  return describeError(error, { 413: t('upload.tooLargeNoMax'), 507: t('upload.quota') });
}

function dropZone(picker, maxHint, onFiles) {
  const zone = h('label', { class: 'drop-zone', for: picker.id },
    h('span', { class: 'drop-icon', 'aria-hidden': 'true' }, logo(24)),
    h('span', { class: 'drop-title' }, t('files.dropTitle')),
    // "or" in an element of its own: touch screens hide it (display: none, so screen readers skip
    // it too) where "choose files" is the only action.
    h('span', {},
      h('span', { class: 'drop-or' }, `${t('files.dropOr')} `),
      h('span', { class: 'link-like' }, t('files.pick'))),
    h('span', { class: 'hint' }, t('files.dropHint')),
    maxHint);
  for (const name of ['dragenter', 'dragover']) {
    zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add('is-dragging');
    });
  }
  zone.addEventListener('dragleave', () => zone.classList.remove('is-dragging'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('is-dragging');
    onFiles(event.dataTransfer.files);
  });
  return zone;
}

/** One upload's row: name, progress in bytes and percent, Cancel, then the outcome and Close. */
function uploadRow(file, picker) {
  const controller = new AbortController();
  const progress = h('progress', { max: file.size || 1, value: 0 });
  const progressText = h('span', { class: 'upload-progress-text' }, t('upload.waiting'));
  const message = h('p', { class: 'upload-message', 'aria-live': 'polite' });
  const cancel = h('button', {
    type: 'button', class: 'btn btn-quiet btn-small',
    'aria-label': t('upload.cancelLabel', { name: file.name }), onclick: () => controller.abort(),
  }, t('upload.cancel'));
  const element = h('li', { class: 'upload-row' },
    h('div', { class: 'upload-head' }, h('span', { class: 'upload-name' }, file.name), progressText, cancel),
    progress, message);

  const dismiss = () => {
    const next = element.nextElementSibling ?? element.previousElementSibling;
    element.remove();
    (next?.querySelector('button') ?? picker).focus();
  };
  return {
    element,
    signal: controller.signal,
    progress(loaded, size) {
      progress.max = size || 1;
      progress.value = loaded;
      progressText.textContent = t('upload.progress', {
        loaded: formatBytes(loaded), total: formatBytes(size), percent: formatPercent(size ? loaded / size : 1),
      });
    },
    done() {
      progress.value = progress.max;
      element.classList.add('is-done');
      progressText.textContent = t('upload.done');
      cancel.remove();
      setTimeout(() => element.remove(), DONE_ROW_MS);
    },
    finish(kind, text) {
      element.classList.add(`is-${kind}`);
      progressText.textContent = '';
      message.textContent = text;
      const close = h('button', { type: 'button', class: 'btn btn-quiet btn-small', onclick: dismiss }, t('upload.dismiss'));
      const hadFocus = document.activeElement === cancel;
      cancel.replaceWith(close);
      if (hadFocus) close.focus();
    },
  };
}

/** The upload section; `onUploaded()` runs after each file the server stored. */
export function uploadPanel({ usage, status, onUploaded }) {
  const list = h('ul', { class: 'upload-list', 'aria-label': t('files.uploadsHeading') });
  const picker = h('input', {
    id: uid('picker'), type: 'file', multiple: true, class: 'visually-hidden file-picker',
    onchange: () => {
      startAll(picker.files);
      picker.value = ''; // picking the same file again must fire `change` again
    },
  });

  function startAll(files) {
    for (const file of Array.from(files ?? [])) start(file);
  }

  async function start(file) {
    const row = uploadRow(file, picker);
    list.append(row.element);
    const refused = usage.refusal(file);
    if (refused) {
      row.finish('error', refused);
      return;
    }
    const release = usage.reserve(file);
    let stored = false;
    activeUploads += 1;
    try {
      await uploadFile(file, { signal: row.signal, onProgress: row.progress });
      stored = true;
      row.done();
      status.textContent = `${file.name}: ${t('upload.done')}`;
      onUploaded();
    } catch (error) {
      if (error?.name === 'AbortError') row.finish('cancelled', t('upload.cancelled'));
      else row.finish('error', uploadErrorMessage(error));
    } finally {
      activeUploads -= 1;
      release(stored);
    }
  }

  return h('section', { class: 'upload-panel', 'aria-label': t('files.uploadsHeading') },
    picker, dropZone(picker, usage.maxHint, startAll), list);
}
