/**
 * Logging: one line per event, `time level msg key=value …` (logfmt), to stderr.
 *
 * Journald and `docker logs` both keep stderr; logfmt is greppable and parseable. `once()` exists because
 * a condition that persists (no tracefs, unreadable namespace) must be said once, not every second.
 */

export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Fields = Record<string, string | number | boolean | undefined>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** Log at most once per key for the life of the process. */
  once(key: string, level: Level, msg: string, fields?: Fields): void;
}

function quote(v: string): string {
  return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
}

export function formatLine(level: Level, msg: string, fields: Fields | undefined, now: Date): string {
  let line = `${now.toISOString()} ${level} ${quote(msg)}`;
  if (fields) {
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined) continue;
      line += ` ${k}=${typeof v === 'string' ? quote(v) : String(v)}`;
    }
  }
  return line;
}

export function createLogger(
  opts: { level?: Level; write?: (line: string) => void; now?: () => Date } = {},
): Logger {
  const min = ORDER[opts.level ?? 'info'];
  const write = opts.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const now = opts.now ?? (() => new Date());
  const seen = new Set<string>();
  const emit = (level: Level, msg: string, fields?: Fields) => {
    if (ORDER[level] < min) return;
    write(formatLine(level, msg, fields, now()));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    once(key, level, m, f) {
      if (seen.has(key)) return;
      seen.add(key);
      emit(level, m, f);
    },
  };
}

/** A logger that keeps lines in memory: for tests. */
export function memoryLogger(level: Level = 'debug'): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = createLogger({ level, write: (l) => lines.push(l), now: () => new Date(0) });
  return Object.assign(log, { lines });
}
