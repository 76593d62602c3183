// One upload = one XMLHttpRequest: fetch() cannot report upload progress, XHR can (and can abort).
import { ApiError, currentToken, refreshSession } from './api.js';

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function sendOnce(file, token, onProgress, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new DOMException('Upload cancelled', 'AbortError'));
      return;
    }
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/upload');
    xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', (event) => {
      // The body is the file wrapped in multipart headers: count in the file's own bytes, so the
      // row says "200 kB of 200 kB" like the list afterwards, not the body's "200.2 kB".
      const loaded = event.lengthComputable && event.total > 0
        ? Math.round((event.loaded / event.total) * file.size)
        : Math.min(event.loaded, file.size);
      onProgress(loaded, file.size);
    });
    xhr.addEventListener('load', () => {
      const body = parseJson(xhr.responseText);
      if (xhr.status === 201 || xhr.status === 200) resolve(body);
      else reject(new ApiError(xhr.status, body?.detail ?? null));
    });
    xhr.addEventListener('error', () => reject(new ApiError(0)));
    xhr.addEventListener('abort', () => reject(new DOMException('Upload cancelled', 'AbortError')));
    signal.addEventListener('abort', () => xhr.abort(), { once: true });
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
}

/**
 * Upload `file` to POST /api/upload (multipart field `file`). `onProgress(loaded, total)` follows
 * the bytes sent; aborting `signal` cancels (the promise rejects with an AbortError). Resolves with
 * the FilePublic the backend returns; rejects with ApiError (status 413, 507, 503, …) otherwise.
 */
export async function uploadFile(file, { onProgress, signal }) {
  let response;
  try {
    response = await sendOnce(file, await currentToken(), onProgress, signal);
  } catch (error) {
    // The token can expire while a large file travels: refresh once and send it again.
    if (!(error instanceof ApiError && error.status === 401)) throw error;
    if (!(await refreshSession())) throw error;
    onProgress(0, file.size);
    response = await sendOnce(file, await currentToken(), onProgress, signal);
  }
  return response;
}
