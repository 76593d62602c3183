// What the user may still store (GET /api/files/usage): the line under the list's heading, the
// largest file in the drop zone, and the check that refuses a file before a byte of it is sent
// (the server refuses it too, but only after the browser has sent it).
import { request } from '../api.js';
import { h } from '../dom.js';
import { formatBytes, formatBytesBeside, formatSpace } from '../format.js';
import { t } from '../i18n.js';

export function usageSummary() {
  const line = h('p', { class: 'usage', 'data-testid': 'usage' });
  const maxHint = h('span', { class: 'hint drop-max' });
  let usage = null;
  let reserved = 0; // bytes of uploads on their way, which the server does not count yet

  async function load() {
    try {
      usage = await request('GET', '/api/files/usage');
    } catch {
      line.textContent = ''; // the list says what went wrong
      return;
    }
    show();
  }

  function show() {
    maxHint.textContent = t('files.maxSize', { max: formatBytes(usage.max_upload_bytes) });
    line.textContent = t('files.usage', formatSpace(usage.used_bytes, usage.quota_bytes));
  }

  /** Why `file` cannot be sent, as a sentence; null when it may go (or the limits are unknown). */
  function refusal(file) {
    if (!usage) return null; // the server decides
    const max = usage.max_upload_bytes;
    if (file.size > max) {
      return t('upload.tooLarge', { size: formatBytesBeside(file.size, max), max: formatBytes(max) });
    }
    const leftBytes = usage.quota_bytes - usage.used_bytes - reserved;
    if (file.size <= leftBytes) return null;
    const { left } = formatSpace(usage.used_bytes + reserved, usage.quota_bytes);
    return t('upload.overQuota', { size: formatBytesBeside(file.size, Math.max(0, leftBytes)), left });
  }

  /**
   * Count `file` as used while it travels. The returned function ends that: `stored` true counts it
   * as used from then on (until the next load() says what the server counts), so a second file
   * picked at once is checked against what the first one took.
   */
  function reserve(file) {
    reserved += file.size;
    return (stored) => {
      reserved -= file.size;
      if (stored && usage) {
        usage.used_bytes += file.size;
        show();
      }
    };
  }

  return { line, maxHint, load, refusal, reserve };
}
