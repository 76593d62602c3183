// The files page's state lives in its URL (#/files?page=3&sort=size&order=desc&q=facture), so a
// reload, Back and Forward, and a link sent to someone show the same page of the same list.
const SORTS = ['name', 'date', 'size'];
// The API's defaults (GET /api/files): names A to Z, the newest first, the largest first.
export const DEFAULT_ORDER = { name: 'asc', date: 'desc', size: 'desc' };
const MAX_SEARCH_LENGTH = 255; // the API refuses more (a 422)

/** What a typed or pasted search may hold: no control characters (the API refuses them). */
export function cleanSearch(text) {
  return Array.from(String(text ?? ''))
    .filter((char) => char >= ' ' && char !== '\u007f')
    .join('')
    .trim()
    .slice(0, MAX_SEARCH_LENGTH);
}

/** URLSearchParams → {page, sort, order, q}; a missing or malformed value becomes its default. */
export function readQuery(params) {
  const sort = SORTS.includes(params.get('sort')) ? params.get('sort') : 'date';
  const order = ['asc', 'desc'].includes(params.get('order')) ? params.get('order') : DEFAULT_ORDER[sort];
  const page = /^[1-9]\d{0,5}$/.test(params.get('page') ?? '') ? Number(params.get('page')) : 1;
  return { page, sort, order, q: cleanSearch(params.get('q')) };
}

/** {page, sort, order, q} → '#/files?…', naming only what differs from the defaults. */
export function filesHash({ page, sort, order, q }) {
  const params = new URLSearchParams();
  if (page > 1) params.set('page', String(page));
  if (sort !== 'date' || order !== DEFAULT_ORDER[sort]) {
    params.set('sort', sort);
    params.set('order', order);
  }
  if (q) params.set('q', q);
  const query = params.toString();
  return query ? `#/files?${query}` : '#/files';
}

/** The API call for one page of that list. */
export function filesRequest({ page, sort, order, q }, pageSize) {
  const params = new URLSearchParams({
    offset: String((page - 1) * pageSize), limit: String(pageSize), sort, order,
  });
  if (q) params.set('q', q);
  return `/api/files?${params}`;
}
