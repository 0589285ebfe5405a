// Indonesian formatting of what the events carry: rupiah (numbers or Laravel's decimal strings),
// dates, times, names.

const RUPIAH = new Intl.NumberFormat('id-ID', { style: 'currency', currency: 'IDR', maximumFractionDigits: 0 });
const NUMBER = new Intl.NumberFormat('id-ID');
const DATE_TIME = new Intl.DateTimeFormat('id-ID', { dateStyle: 'medium', timeStyle: 'short' });
const DATE_LONG = new Intl.DateTimeFormat('id-ID', { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
const TIME = new Intl.DateTimeFormat('id-ID', { hour: '2-digit', minute: '2-digit' });
const TIME_S = new Intl.DateTimeFormat('id-ID', { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const RELATIVE = new Intl.RelativeTimeFormat('id-ID', { numeric: 'auto' });

/** A rupiah amount as a number, or null: 150000, "150000.00" (Laravel decimal casts). */
export function amount(value) {
  if (value === null || value === undefined || value === '') return null;
  const n = typeof value === 'number' ? value : Number(String(value));
  return Number.isFinite(n) ? n : null;
}

export function rupiah(value) {
  const n = amount(value);
  return n === null ? '—' : RUPIAH.format(n);
}

export function number(value) {
  const n = amount(value);
  return n === null ? '—' : NUMBER.format(n);
}

/** Dates: ISO strings, Laravel's "2024-01-01 12:00:00", Unix ms or s. Returns a Date or null. */
export function toDate(value) {
  if (value === null || value === undefined || value === '') return null;
  let d;
  if (typeof value === 'number') d = new Date(value < 1e12 ? value * 1000 : value);
  else d = new Date(/^\d{4}-\d\d-\d\d \d/.test(value) ? value.replace(' ', 'T') : value);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function dateTime(value) {
  const d = toDate(value);
  return d ? DATE_TIME.format(d) : '—';
}

export function dateLong(value = new Date()) {
  const d = toDate(value) || new Date();
  return DATE_LONG.format(d);
}

export function time(value, seconds = false) {
  const d = toDate(value);
  return d ? (seconds ? TIME_S : TIME).format(d) : '—';
}

/** "2 menit yang lalu", "baru saja". */
export function relative(value, now = Date.now()) {
  const d = toDate(value);
  if (!d) return '';
  const s = Math.round((d.getTime() - now) / 1000);
  if (Math.abs(s) < 45) return 'baru saja';
  const m = Math.round(s / 60);
  if (Math.abs(m) < 60) return RELATIVE.format(m, 'minute');
  const hr = Math.round(m / 60);
  if (Math.abs(hr) < 24) return RELATIVE.format(hr, 'hour');
  return RELATIVE.format(Math.round(hr / 24), 'day');
}

/** A display name from a string or an object ({name}, {nama}, {nama_jabatan}...). */
export function nameOf(value, fallback = '—') {
  if (value === null || value === undefined) return fallback;
  if (typeof value === 'string' || typeof value === 'number') return String(value) || fallback;
  if (typeof value === 'object') {
    for (const key of ['name', 'nama', 'title', 'judul', 'label']) {
      if (typeof value[key] === 'string' && value[key]) return value[key];
    }
  }
  return fallback;
}

export function initials(name) {
  const words = String(name || '?').trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? words[0][0] + words[words.length - 1][0] : (words[0] || '?').slice(0, 2);
  return letters.toUpperCase();
}

/** A stable hue for an avatar, from a user id or name. */
export function hueOf(key) {
  let hash = 2166136261;
  for (const ch of String(key)) hash = Math.imul(hash ^ ch.codePointAt(0), 16777619); // FNV-1a
  return ((hash >>> 0) % 24) * 15; // 24 well-separated hues
}
