// Images and PDFs shown in the page, in a modal <dialog>; every other type downloads.
//
// What the policies allow: an <img> of /storage/files/… is an image of the site's own origin
// (img-src 'self'); the file's own sandbox policy does not apply to an image. A PDF needs a frame:
// the site's policy allows frames of its origin (frame-src falls back to default-src 'self'; <object>
// and <embed> are refused by object-src 'none'), and the edge answers PDFs with
// `frame-ancestors 'self'` (every other file keeps 'none'), still sandboxed: the browser's own PDF
// viewer shows it, and nothing of the file runs as a page of this site.
import { h, uid } from '../dom.js';
import { t } from '../i18n.js';

// The types storage serves inline (storage/app/names.py INLINE_EXTENSIONS); SVG downloads.
const IMAGE_TYPES = new Set([
  'image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/avif', 'image/bmp', 'image/vnd.microsoft.icon',
]);

/** 'image', 'pdf', or null for a file that downloads. */
export function previewKind(file) {
  if (IMAGE_TYPES.has(file.content_type)) return 'image';
  if (file.content_type === 'application/pdf') return 'pdf';
  return null;
}

/** Show `file` (whose link is fresh) in a modal; focus returns to `returnFocus` when it closes. */
export function previewDialog({ file, kind, returnFocus }) {
  const titleId = uid('preview-title');
  const close = h('button', { type: 'button', class: 'btn btn-quiet', autofocus: true,
    onclick: () => dialog.close() }, t('preview.close'));
  const body = h('div', { class: 'preview-body' });
  if (kind === 'image') {
    const image = h('img', { class: 'preview-image', src: file.url, alt: file.name, decoding: 'async' });
    image.addEventListener('error', () => image.replaceWith(
      h('p', { class: 'preview-failed' }, t('preview.failed'))), { once: true });
    body.append(image);
  } else {
    body.append(h('iframe', {
      class: 'preview-frame', src: file.url, title: t('preview.pdfTitle', { name: file.name }),
    }));
  }
  const dialog = h('dialog', { class: 'dialog dialog-preview', 'aria-labelledby': titleId },
    h('h2', { id: titleId, class: 'preview-title' }, file.name),
    body,
    h('div', { class: 'dialog-actions' },
      // Phones without a PDF viewer in pages (Chrome on Android) open or keep the file instead.
      h('a', { class: 'btn btn-quiet', href: file.url, target: '_blank', rel: 'noopener' }, t('preview.open')),
      h('a', { class: 'btn btn-primary', href: file.url, download: file.name }, t('preview.download')),
      close));
  // A click on the backdrop (outside the box) closes it, as Escape does.
  dialog.addEventListener('click', (event) => {
    const box = dialog.getBoundingClientRect();
    const inside = event.clientX >= box.left && event.clientX <= box.right
      && event.clientY >= box.top && event.clientY <= box.bottom;
    if (event.target === dialog && !inside) dialog.close();
  });
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (returnFocus?.isConnected) returnFocus.focus();
  }, { once: true });
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}
