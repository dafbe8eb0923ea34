/** Numbers and times as the dashboard prints them. */

/** A rate or count: integers as they are, small values with two decimals, others with one. */
export function num(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  return v.toFixed(a < 10 ? 2 : 1);
}

/** Axis labels: short (1.2k). */
export function axisNum(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toFixed(a >= 1e7 ? 0 : 1)}M`;
  if (a >= 1e3) return `${(v / 1e3).toFixed(a >= 1e4 ? 0 : 1)}k`;
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(a < 1 ? 2 : 1);
}

/** Local wall-clock time of an epoch second, HH:MM:SS. */
export function clock(sec: number): string {
  return new Date(sec * 1000).toLocaleTimeString('en-GB', { hour12: false });
}

/** Local date and time of an epoch second. */
export function dateTime(sec: number): string {
  const d = new Date(sec * 1000);
  return `${d.toLocaleDateString('en-CA')} ${d.toLocaleTimeString('en-GB', { hour12: false })}`;
}

/** "3 s", "4 min", "2 h 5 min", "3 d". */
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '–';
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86400) {
    const hours = Math.floor(seconds / 3600);
    const min = Math.round((seconds % 3600) / 60);
    return min > 0 ? `${hours} h ${min} min` : `${hours} h`;
  }
  return `${Math.round(seconds / 86400)} d`;
}

export function bytes(n: number): string {
  if (!Number.isFinite(n)) return '–';
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
