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

// Percentages and durations in the language's typography: French "40 %" (a no-break space, so the
// sign never starts a line), English "40%". Intl does it, so no string carries the space.
// (Plain numbers in messages: t() formats them, i18n.js.)
const percentFormat = new Intl.NumberFormat(lang, { style: 'percent', maximumFractionDigits: 0 });

/** 0.4 → "40 %" / "40%"; rounded down, so a file part-sent never shows 100 %. */
export function formatPercent(fraction) {
  return percentFormat.format(Math.floor(fraction * 100) / 100);
}

/** 30 → "30 secondes" / "30 seconds"; 61 → "2 minutes" (rounded up: never a wait too short). */
export function formatDuration(seconds) {
  const [unit, size] = seconds < 60 ? ['second', 1] : seconds < 3600 ? ['minute', 60] : ['hour', 3600];
  return new Intl.NumberFormat(lang, { style: 'unit', unit, unitDisplay: 'long' })
    .format(Math.ceil(seconds / size));
}
