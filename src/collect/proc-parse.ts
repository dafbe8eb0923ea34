/**
 * Pure parser for the header/value line pairs of /proc/net/snmp and /proc/net/netstat:
 *
 *   Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens …
 *   Tcp: 1 200 120000 -1 10 …
 *
 * Values are matched to names by position *within the pair*, and callers look them up by name, never by
 * position in the file: kernels add fields (InCsumErrors came in 3.10, TCPAO* in 6.7) and the order of
 * groups differs between versions. This is the same idea as Netdata's ARL (proc_net_netstat.c), written
 * for our needs: a malformed pair is reported with its line and column and the other groups still parse.
 */

import type { Problem } from '../internal/errors.js';

export interface ProcNetParse {
  /** group prefix (`Tcp`, `TcpExt`, `IpExt`, …) → field name → value */
  groups: Map<string, Map<string, number>>;
  problems: Problem[];
}

function problem(code: string, message: string, file: string, line: number, column?: number): Problem {
  const p: Problem = { code, message, severity: 'error', file, line };
  if (column !== undefined) p.column = column;
  return p;
}

/** Split on runs of spaces/tabs, remembering the 1-based column of every token. */
function tokens(line: string): { text: string; column: number }[] {
  const out: { text: string; column: number }[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    while (i < n && (line.charCodeAt(i) === 32 || line.charCodeAt(i) === 9)) i++;
    if (i >= n) break;
    const start = i;
    while (i < n && line.charCodeAt(i) !== 32 && line.charCodeAt(i) !== 9) i++;
    out.push({ text: line.slice(start, i), column: start + 1 });
  }
  return out;
}

/** Kernel counters are unsigned decimals; MaxConn is the one signed field (-1 = dynamic). */
const NUMBER = /^-?\d+$/;

/**
 * Parse the text of a /proc/net/{snmp,netstat,snmp6-like} file. `wanted`, when given, limits the groups
 * kept (others are skipped without validation, so a garbled group we do not use costs nothing).
 */
export function parseProcNet(text: string, file: string, wanted?: ReadonlySet<string>): ProcNetParse {
  const groups = new Map<string, Map<string, number>>();
  const problems: Problem[] = [];
  const lines = text.split('\n');
  // A trailing newline yields one empty last element; other empty lines are tolerated anywhere.
  let i = 0;
  while (i < lines.length) {
    const header = lines[i] ?? '';
    const headerLine = i + 1;
    i++;
    if (header.trim() === '') continue;
    const colon = header.indexOf(':');
    if (colon <= 0) {
      problems.push(
        problem(
          'E_PROC_GARBLED',
          `expected "Group: names…", got ${JSON.stringify(header.slice(0, 60))}`,
          file,
          headerLine,
          1,
        ),
      );
      continue;
    }
    const prefix = header.slice(0, colon);
    const valueLine = lines[i];
    const valueLineNo = i + 1;
    if (valueLine === undefined || !valueLine.startsWith(`${prefix}:`)) {
      problems.push(
        problem(
          'E_PROC_GARBLED',
          `header line for ${prefix} has no value line after it`,
          file,
          headerLine,
          1,
        ),
      );
      continue;
    }
    i++;
    if (wanted && !wanted.has(prefix)) continue;
    const names = tokens(header.slice(colon + 1));
    const values = tokens(valueLine.slice(colon + 1));
    const offset = colon + 1;
    // A value line that is short, or that ends the text without its newline (the kernel always writes
    // one), was cut: its last field may be cut mid-number too ("12345" read as "12"). Kept, that smaller
    // counter would be a reset, and the real value after it a spike of thousands per second; so the last
    // field of a cut line is not used (issue 8, docs/reliability.md).
    const cut = values.length < names.length || (i === lines.length && !text.endsWith('\n'));
    let n = Math.min(names.length, values.length);
    if (cut && values.length > 0) n = Math.min(n, values.length - 1);
    if (names.length !== values.length || cut) {
      problems.push(
        problem(
          'E_PROC_GARBLED',
          `${prefix}: ${names.length} names but ${values.length} values${cut ? ' on a cut line' : ''}; keeping the first ${n} pairs`,
          file,
          valueLineNo,
          1,
        ),
      );
    }
    let group = groups.get(prefix);
    if (!group) {
      group = new Map();
      groups.set(prefix, group);
    }
    for (let k = 0; k < n; k++) {
      const name = names[k]!;
      const value = values[k]!;
      if (!NUMBER.test(value.text)) {
        problems.push(
          problem(
            'E_PROC_VALUE',
            `${prefix}: ${name.text} is ${JSON.stringify(value.text.slice(0, 30))}, not a number`,
            file,
            valueLineNo,
            value.column + offset,
          ),
        );
        continue;
      }
      group.set(name.text, Number(value.text));
    }
  }
  return { groups, problems };
}

/** One group's header line as last seen, and its field names. */
interface Layout {
  header: Buffer;
  names: string[];
  /** This read's values, committed to the caller's object only once the whole file read well. */
  values: Float64Array;
}

const NL = 10;
const SPACE = 32;
const TAB = 9;
const COLON = 58;
const MINUS = 45;
const ZERO = 48;

/**
 * The sampler's fast path for the same files (issue 2: the agent's CPU). The kernel prints the same header
 * line every time, so once a group's header has been seen, a read whose header line is byte-identical only
 * scans the value line: digits to numbers straight from the bytes, no line strings, no token objects, no
 * regular expression. Anything unusual — a header that changed, a character that is not a digit, a count
 * that differs, a text without its final newline, a number past 2^53 — answers `false`, and the caller
 * parses the text with `parseProcNet`, which says what is wrong and where. So the two agree on every input
 * (test/unit/proc-parse.test.ts checks it on random and mutated files).
 */
export class ProcNetFastParser {
  private readonly layouts = new Map<string, Layout>();
  private readonly prefixes: { name: string; bytes: Buffer }[];
  private readonly read: Layout[] = [];

  constructor(wanted: Iterable<string>) {
    this.prefixes = [...wanted].map((name) => ({ name, bytes: Buffer.from(`${name}:`, 'latin1') }));
  }

  /**
   * Parse `buf[0, len)` into `into` (name → value). True when every wanted group was found and read on the
   * fast path; false when the caller must use `parseProcNet` (then `into` is untouched: a value line cut
   * mid-number must never reach it).
   */
  parse(buf: Buffer, len: number, into: Record<string, number>): boolean {
    if (len === 0 || buf[len - 1] !== NL) return false;
    this.read.length = 0;
    let found = 0;
    let pos = 0;
    while (pos < len) {
      const headerEnd = buf.indexOf(NL, pos);
      // The last byte is a newline, so every line has its end.
      if (headerEnd === pos) {
        pos++;
        continue;
      }
      const valueStart = headerEnd + 1;
      if (valueStart >= len) return false; // a header with no value line: the slow path says so
      const valueEnd = buf.indexOf(NL, valueStart);
      const prefix = this.prefixAt(buf, pos, headerEnd);
      if (prefix !== undefined) {
        // The value line must start with the same "Group:" (and be long enough to: found by the fuzzer).
        const n = prefix.bytes.length;
        if (valueEnd - valueStart < n || buf.compare(prefix.bytes, 0, n, valueStart, valueStart + n) !== 0)
          return false;
        const layout = this.layout(prefix.name, buf, pos, headerEnd);
        if (!this.values(buf, valueStart + prefix.bytes.length, valueEnd, layout)) return false;
        this.read.push(layout);
        found++;
      } else {
        // A group we do not keep: only its shape is checked ("Group: …" then "Group: …"), as parseProcNet does.
        const colon = buf.indexOf(COLON, pos);
        if (colon <= pos || colon > headerEnd) return false;
        const n = colon + 1 - pos;
        if (valueEnd - valueStart < n || buf.compare(buf, pos, colon + 1, valueStart, valueStart + n) !== 0)
          return false;
      }
      pos = valueEnd + 1;
    }
    if (found !== this.prefixes.length) return false;
    for (const layout of this.read) {
      const { names, values } = layout;
      for (let k = 0; k < names.length; k++) into[names[k]!] = values[k]!;
    }
    return true;
  }

  /** The wanted group whose "Name:" starts the line, if any. */
  private prefixAt(buf: Buffer, start: number, end: number): { name: string; bytes: Buffer } | undefined {
    for (const p of this.prefixes) {
      const n = p.bytes.length;
      if (end - start >= n && buf.compare(p.bytes, 0, n, start, start + n) === 0) return p;
    }
    return undefined;
  }

  /** The names of this header line: the cached ones while the line is byte-identical. */
  private layout(name: string, buf: Buffer, start: number, end: number): Layout {
    const known = this.layouts.get(name);
    if (
      known &&
      known.header.length === end - start &&
      buf.compare(known.header, 0, end - start, start, end) === 0
    )
      return known;
    const header = Buffer.from(buf.subarray(start, end));
    const text = header.toString('latin1');
    const names = text
      .slice(text.indexOf(':') + 1)
      .split(/[ \t]+/)
      .filter((s) => s !== '');
    const layout = { header, names, values: new Float64Array(names.length) };
    this.layouts.set(name, layout);
    return layout;
  }

  /** Decimal fields separated by spaces or tabs, one per name, exactly; false on anything else. */
  private values(buf: Buffer, start: number, end: number, layout: Layout): boolean {
    const { names, values } = layout;
    let k = 0;
    let i = start;
    while (i < end) {
      let c = buf[i]!;
      if (c === SPACE || c === TAB) {
        i++;
        continue;
      }
      const tokenStart = i;
      let negative = false;
      if (c === MINUS) {
        negative = true;
        i++;
      }
      let v = 0;
      let digits = 0;
      while (i < end) {
        c = buf[i]!;
        if (c === SPACE || c === TAB) break;
        const d = c - ZERO;
        if (d < 0 || d > 9) return false;
        v = v * 10 + d;
        digits++;
        i++;
      }
      if (digits === 0 || k >= names.length) return false;
      // Past 15 digits the running sum may round differently from Number(): let Number() read the text.
      if (digits > 15) v = Math.abs(Number(buf.toString('latin1', tokenStart, i)));
      values[k] = negative ? -v : v;
      k++;
    }
    return k === names.length;
  }
}
