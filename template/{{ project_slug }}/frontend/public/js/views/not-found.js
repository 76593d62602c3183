// An unknown #/route, or a page this account may not see.
import { h } from '../dom.js';
import { t } from '../i18n.js';

export function notFoundView(context) {
  return h('section', { class: 'card' },
    h('h1', { tabindex: '-1' }, t('error.notFoundPage')),
    // From the site's root: this page may show at a mistyped address (/pas/une/page).
    h('p', {}, h('a', { href: context.user ? '/#/files' : '/#/signin' }, t('error.backToFiles'))));
}
