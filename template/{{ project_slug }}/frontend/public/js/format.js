// Sizes and dates in the interface language (French writes "1,5 Mo", English "1.5 MB").
import { lang } from './i18n.js';

const UNITS = ['byte', 'kilobyte', 'megabyte', 'gigabyte', 'terabyte'];
const dateFormat = new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short' });
const dayFormat = new Intl.DateTimeFormat(lang, { dateStyle: 'long' });

/** 1536 → "1.5 kB" / "1,5 ko" (powers of 1000, as file managers and disks count). */
export function formatBytes(bytes) {
  let value = Number(bytes) || 0;
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return new Intl.NumberFormat(lang, {
    style: 'unit',
    unit: UNITS[unit],
    unitDisplay: 'short',
    maximumFractionDigits: unit === 0 ? 0 : 1,
  }).format(value);
}

export function formatDateTime(iso) {
  return dateFormat.format(new Date(iso));
}

export function formatDay(iso) {
  return dayFormat.format(new Date(iso));
}
