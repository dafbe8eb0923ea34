/**
 * A progress bar on stderr while `rstwatch analyze` reads a large file: bytes read of the total, rate and ETA.
 *
 * Rules (issue 4): only when stderr is a terminal and the input's size is known (a file, or stdin redirected
 * from a file), never when piped or with `--quiet`; at most 10 redraws a second (the reader reports once per
 * 1 MiB chunk, which can be thousands of times a second); the line is erased at the end so the report starts
 * on a clean screen. A file smaller than `minBytes` is read before anyone could look at a bar: no bar at all.
 *
 * Everything that touches the outside world is injected (terminal or not, width, clock, writer), so the unit
 * test drives it with a simulated clock.
 */

import { humanBytes } from './format.js';

export interface ProgressOptions {
  /** Size of the input in bytes (compressed size for a .gz: the reader reports compressed bytes). */
  totalBytes: number;
  /** Where the bar goes (stderr). */
  write: (s: string) => void;
  /** Whether that stream is a terminal. */
  isTty: boolean;
  /** Terminal width in columns (default 80). */
  columns?: number;
  /** Milliseconds clock (default performance.now). */
  nowMs?: () => number;
  /** Smallest time between two redraws (default 100 ms: at most 10 a second). */
  minIntervalMs?: number;
  /** Inputs smaller than this get no bar (default 8 MiB). */
  minBytes?: number;
}

export interface Progress {
  /** Called with the number of bytes read so far. */
  update(bytesRead: number): void;
  /** Erases the bar (if one was drawn). Safe to call more than once. */
  done(): void;
  /** How many times the bar was drawn (for tests and the throttle's proof). */
  readonly draws: number;
}

const NOOP: Progress = { update() {}, done() {}, draws: 0 };

/** Erase the whole line and return to its start (ECMA-48 EL, "erase in line", mode 2). */
const CLEAR_LINE = '\r\x1b[2K';

export function createProgress(o: ProgressOptions): Progress {
  if (!o.isTty || !(o.totalBytes > 0) || o.totalBytes < (o.minBytes ?? 8 * 1024 * 1024)) return NOOP;
  const now = o.nowMs ?? (() => performance.now());
  const minInterval = o.minIntervalMs ?? 100;
  // A pseudo-terminal without a size reports 0 columns: take the classic 80.
  const columns = o.columns !== undefined && o.columns > 0 ? o.columns : 80;
  const start = now();
  let last = Number.NEGATIVE_INFINITY;
  let drawn = false;
  let finished = false;
  let draws = 0;

  const line = (bytes: number, t: number): string => {
    const frac = Math.min(1, bytes / o.totalBytes);
    const elapsedSec = Math.max(1e-3, (t - start) / 1000);
    const rate = bytes / elapsedSec;
    const etaSec = rate > 0 ? (o.totalBytes - bytes) / rate : Number.POSITIVE_INFINITY;
    const pct = `${Math.floor(frac * 100)}%`.padStart(4);
    const tail = ` ${pct}  ${humanBytes(bytes)} / ${humanBytes(o.totalBytes)}  ${humanBytes(Math.round(rate))}/s  ETA ${eta(etaSec)}`;
    // Keep one column free: writing the last column makes some terminals wrap. On a narrow terminal the
    // bar goes first, the numbers stay.
    const barWidth = Math.min(50, columns - 1 - tail.length - 2);
    if (barWidth < 10) return tail.trimStart().slice(0, Math.max(1, columns - 1));
    const full = Math.round(frac * barWidth);
    return `[${'#'.repeat(full)}${'.'.repeat(barWidth - full)}]${tail}`;
  };

  return {
    update(bytes: number) {
      if (finished) return;
      const t = now();
      if (t - last < minInterval) return;
      last = t;
      o.write(`${CLEAR_LINE}${line(bytes, t)}`);
      drawn = true;
      draws++;
    },
    done() {
      if (finished) return;
      finished = true;
      if (drawn) o.write(CLEAR_LINE);
    },
    get draws() {
      return draws;
    },
  };
}

function eta(sec: number): string {
  if (!Number.isFinite(sec)) return '--:--';
  const s = Math.max(0, Math.ceil(sec));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0
    ? `${h}:${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}`
    : `${m}:${String(r).padStart(2, '0')}`;
}
