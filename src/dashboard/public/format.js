// How the page writes numbers, times and durations.

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat('en-US', { maximumFractionDigits: 3 });

/** 12,345 */
export function count(n) {
  return integer.format(n);
}

/** A sample value: at most three decimals. */
export function value(n) {
  return decimal.format(n);
}

function pad(n, width = 2) {
  return String(n).padStart(width, '0');
}

/** `14:03:07` for today, `2025-01-31 14:03:07` otherwise (local time). */
export function clockTime(ms, now = Date.now()) {
  const d = new Date(ms);
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const today = new Date(now);
  const sameDay =
    d.getFullYear() === today.getFullYear() &&
    d.getMonth() === today.getMonth() &&
    d.getDate() === today.getDate();
  return sameDay ? time : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}

/** `850 ms`, `42 s`, `3 min 05 s`, `2 h 07 min`, `3 d 4 h`. */
export function duration(ms) {
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${pad(s % 60)} s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${pad(m % 60)} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** `12 s ago` */
export function ago(ms, now = Date.now()) {
  return `${duration(now - ms)} ago`;
}
