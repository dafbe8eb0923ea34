/** Number, time and text helpers shared by the text and HTML reports. */

/** Thousands separators, always in the same locale so reports do not change with the machine's LANG. */
export function num(x: number): string {
  return x.toLocaleString('en-US');
}

/** A Date holds ±8.64e15 ms (ECMA-262 §21.4.1.1); a capture stamped beyond that is corrupt, shown as no time. */
export const MAX_DATE_SEC = 8.64e12;

/** `2024-05-01 12:00:03.250 UTC` (milliseconds), or `-` for no time. */
export function utcTime(sec: number | null): string {
  if (sec === null || !Number.isFinite(sec) || Math.abs(sec) > MAX_DATE_SEC) return '-';
  const iso = new Date(sec * 1000).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)} UTC`;
}

/** `2024-05-01 12:00:00.000 → 12:00:40.000 UTC`: the date once when both ends fall on the same day. */
export function utcSpan(fromSec: number | null, toSec: number | null): string {
  const a = utcTime(fromSec);
  const b = utcTime(toSec);
  if (a !== '-' && a.slice(0, 10) === b.slice(0, 10)) return `${a.slice(0, -4)} → ${b.slice(11)}`;
  return `${a} → ${b}`;
}

/** A duration a person reads at a glance: `250 µs`, `12.5 ms`, `7.4 s`, `3 min 20 s`, `2 h 05 min`. */
export function humanDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '-';
  if (sec < 0.001) return `${Math.round(sec * 1e6)} µs`;
  if (sec < 1) return `${(sec * 1000).toFixed(sec < 0.01 ? 2 : 1)} ms`;
  if (sec < 60) return `${sec.toFixed(sec < 10 ? 2 : 1)} s`;
  if (sec < 3600) return `${Math.floor(sec / 60)} min ${String(Math.floor(sec % 60)).padStart(2, '0')} s`;
  return `${Math.floor(sec / 3600)} h ${String(Math.floor((sec % 3600) / 60)).padStart(2, '0')} min`;
}

/** `1.5 MiB` */
export function humanBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

/** The width of one timeline bucket: `1 s`, `5 s`, `2 min`. */
export function bucketLabel(bucketSec: number): string {
  return bucketSec % 60 === 0 && bucketSec >= 60 ? `${bucketSec / 60} min` : `${bucketSec} s`;
}

/**
 * Splits `text` into the plain parts and the `code` parts between backticks (explain.ts: "Text between
 * backticks is literal ... and is never broken across lines"). Odd indexes are code.
 */
export function codeSpans(text: string): string[] {
  return text.split('`');
}

/**
 * Word-wraps to `width` columns (counting code points), never inside a backtick span; lines after the first
 * start with `indent`. A word longer than the width stays whole on its own line.
 */
export function wrap(text: string, width: number, indent = ''): string[] {
  // Tokens: whole code spans (with their backticks) or runs of non-space characters.
  const tokens = text.match(/(?:[^\s`]+|`[^`]*`?)+/g) ?? [];
  const lines: string[] = [];
  let line = '';
  // Visible width: colour escapes take no column.
  const len = (s: string) => [...s.replace(/\x1b\[[0-9;]*m/g, '')].length;
  for (const tok of tokens) {
    const prefix = lines.length === 0 ? '' : indent;
    if (line === '') line = tok;
    else if (len(prefix) + len(line) + 1 + len(tok) <= width) line += ` ${tok}`;
    else {
      lines.push(prefix + line);
      line = tok;
    }
  }
  if (line !== '') lines.push((lines.length === 0 ? '' : indent) + line);
  return lines;
}
