// Sizes and dates in the interface language (French writes "1,5 Mo", English "1.5 MB").
import { lang } from './i18n.js';

const UNITS = ['byte', 'kilobyte', 'megabyte', 'gigabyte', 'terabyte'];
const dateFormat = new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short' });
const dayFormat = new Intl.DateTimeFormat(lang, { dateStyle: 'long' });
const shortDayFormat = new Intl.DateTimeFormat(lang, { dateStyle: 'medium' });

/**
 * `bytes` written with as many decimals as it takes to differ from `other` as written: a file of
 * 50,000,001 bytes against a 50 MB limit is "50,000001 Mo", never "50 Mo" beside "50 Mo".
 */
export function formatBytesBeside(bytes, other) {
  for (let digits = 1; digits < 9; digits += 1) {
    const written = formatBytes(bytes, digits);
    if (written !== formatBytes(other, digits)) return written;
  }
  return formatBytes(bytes);
}

/** 1536 → "1.5 kB" / "1,5 ko" (powers of 1000, as file managers and disks count). */
export function formatBytes(bytes, digits = 1) {
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
    maximumFractionDigits: unit === 0 ? 0 : digits,
  }).format(value);
}

/**
 * Space used, the quota and what is left, written in one unit so that they add up as read:
 * 1,024,000,000 bytes of quota is "1 024 Mo" (not "1 Go") beside "150,1 Mo" used and "873,9 Mo"
 * left. The unit is the largest in which the quota is exact to a tenth (quotas are whole MB);
 * what is left is the quota minus the used figure as written, never a separately rounded number.
 */
export function formatSpace(usedBytes, quotaBytes) {
  const unit = exactUnit(quotaBytes);
  const tenth = 1000 ** unit / 10;
  const quotaTenths = Math.round(quotaBytes / tenth);
  const usedTenths = Math.round(usedBytes / tenth);
  const write = (tenths) => new Intl.NumberFormat(lang, {
    style: 'unit', unit: UNITS[unit], unitDisplay: 'short', maximumFractionDigits: unit === 0 ? 0 : 1,
  }).format(tenths / 10);
  return { used: write(usedTenths), quota: write(quotaTenths), left: write(Math.max(0, quotaTenths - usedTenths)) };
}

/** The quota alone, as formatSpace writes it. */
export function formatQuota(quotaBytes) {
  return formatSpace(0, quotaBytes).quota;
}

function exactUnit(bytes) {
  for (let unit = UNITS.length - 1; unit > 0; unit -= 1) {
    const tenths = bytes / (1000 ** unit / 10);
    if (bytes >= 1000 ** unit && Number.isInteger(tenths)) return unit;
  }
  return 0;
}

export function formatDateTime(iso) {
  return dateFormat.format(new Date(iso));
}

export function formatDay(iso) {
  return dayFormat.format(new Date(iso));
}

/** "6 déc. 2026" / "6 Dec 2026", for tables. */
export function formatShortDay(iso) {
  return shortDayFormat.format(new Date(iso));
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

const relativeFormat = new Intl.RelativeTimeFormat(lang, { numeric: 'auto' });
const RELATIVE_UNITS = [['day', 86400], ['hour', 3600], ['minute', 60]];

/** An ISO time as "il y a 2 minutes" / "2 minutes ago", "hier" / "yesterday". */
export function formatAgo(iso) {
  const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  const [unit, size] = RELATIVE_UNITS.find(([, length]) => seconds >= length) ?? ['second', 1];
  return relativeFormat.format(-Math.floor(seconds / size), unit);
}
