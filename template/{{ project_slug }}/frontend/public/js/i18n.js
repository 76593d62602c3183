// Interface strings: one dictionary per language in /i18n/<lang>.js, chosen by <html lang>
// (set from the `ui_language` answer when the project is generated).
const SUPPORTED = ['fr', 'en'];

export const lang = SUPPORTED.includes(document.documentElement.lang)
  ? document.documentElement.lang
  : 'en';

const messages = (await import(`../i18n/${lang}.js`)).default;

/** The string for `key` with `{name}` placeholders replaced from `params`. */
export function t(key, params = {}) {
  const text = messages[key];
  if (text === undefined) {
    console.warn(`Missing translation: ${key}`);
    return key;
  }
  return text.replace(/\{(\w+)\}/g, (match, name) => (name in params ? String(params[name]) : match));
}
