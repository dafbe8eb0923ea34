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
