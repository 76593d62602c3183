// An unknown #/route, or a page this account may not see.
import { h } from '../dom.js';
import { t } from '../i18n.js';

export function notFoundView(context) {
  return h('section', { class: 'card' },
    h('h1', { tabindex: '-1' }, t('error.notFoundPage')),
    h('p', {}, h('a', { href: context.user ? '#/files' : '#/signin' }, t('error.backToFiles'))));
}
