// Interface strings: one dictionary per language in /i18n/<lang>.js, chosen by <html lang>
// (set from the `ui_language` answer when the project is generated).
const SUPPORTED = ['fr', 'en'];

export const lang = SUPPORTED.includes(document.documentElement.lang)
  ? document.documentElement.lang
  : 'en';

const messages = (await import(`../i18n/${lang}.js`)).default;

// Numbers written the language's way: "1 234" in French (a narrow no-break space), "1,234" in English.
const numberFormat = new Intl.NumberFormat(lang);

/** The string for `key` with `{name}` placeholders replaced from `params` (numbers formatted). */
export function t(key, params = {}) {
  const text = messages[key];
  if (text === undefined) {
    console.warn(`Missing translation: ${key}`);
    return key;
  }
  return text.replace(/\{(\w+)\}/g, (match, name) => {
    if (!(name in params)) return match;
    const value = params[name];
    return typeof value === 'number' ? numberFormat.format(value) : String(value);
  });
}

const pluralRules = new Intl.PluralRules(lang);

/** t() with a count: `${key}One` where the language says singular (French: 0 and 1), else `key`. */
export function tn(key, count, params = {}) {
  return t(pluralRules.select(count) === 'one' ? `${key}One` : key, { count, ...params });
}
