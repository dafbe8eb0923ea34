/**
 * Pure editing of sysctl configuration text (`/etc/sysctl.conf`, `/etc/sysctl.d/*.conf`, FreeBSD's
 * `/etc/sysctl.conf`). No I/O here: callers read the file, edit the text, and write it back.
 *
 * The syntax is the common ground of sysctl.d(5) (systemd-sysctl), procps `sysctl -p` and FreeBSD's
 * `sysctl -f`: one `name = value` per line, blanks around `=` optional, lines starting with `#` or `;`
 * are comments, a leading `-` (systemd) means "ignore a failure to set it". Names may be written with `/`
 * instead of `.` (sysctl.d(5)). When a name is set twice, the last line wins, because every tool applies
 * the lines in order.
 *
 * Edits touch one line and nothing else: the value is replaced where it stands (keeping the spacing, the
 * `-` prefix and the line ending), or a line is appended. A file that already says what we want comes back
 * byte-identical.
 */

/** One line of a file: its text without the line ending, and the ending it had ('' for a last line without). */
export interface ConfLine {
  text: string;
  eol: '' | '\n' | '\r\n';
}

/** An assignment of the sysctl we look for, in a file. */
export interface ConfEntry {
  /** 1-based line number. */
  line: number;
  /** The name as written (`net.ipv4.tcp_syncookies`, `net/ipv4/tcp_syncookies`). */
  key: string;
  /** The value as written, blanks around it removed. */
  value: string;
  /** The line starts with `-`: systemd-sysctl ignores a failure to set it. */
  ignoreFailure: boolean;
}

export function splitLines(text: string): ConfLine[] {
  const out: ConfLine[] = [];
  let start = 0;
  while (start < text.length) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) {
      out.push({ text: text.slice(start), eol: '' });
      break;
    }
    const crlf = nl > start && text[nl - 1] === '\r';
    out.push({ text: text.slice(start, crlf ? nl - 1 : nl), eol: crlf ? '\r\n' : '\n' });
    start = nl + 1;
  }
  return out;
}

export function joinLines(lines: readonly ConfLine[]): string {
  return lines.map((l) => l.text + l.eol).join('');
}

/** The line ending most lines of the text use ('\n' for an empty text or a tie). */
export function dominantEol(text: string): '\n' | '\r\n' {
  const lf = (text.match(/\n/g) ?? []).length;
  const crlf = (text.match(/\r\n/g) ?? []).length;
  return crlf > lf - crlf ? '\r\n' : '\n';
}

/**
 * The canonical (dotted) form of a sysctl name. sysctl.d(5): if the first separator is a slash, the
 * remaining slashes become dots and dots become slashes (a dot inside a component, as in an interface name
 * `eth0.100`, is written as a slash in the dotted form), so `net/ipv4/conf/eth0.100/rp_filter` is
 * `net.ipv4.conf.eth0/100.rp_filter`.
 */
export function normalizeSysctlName(name: string): string {
  const n = name.trim();
  const slash = n.indexOf('/');
  const dot = n.indexOf('.');
  if (slash < 0 || (dot >= 0 && dot < slash)) return n;
  return n.replace(/[./]/g, (c) => (c === '/' ? '.' : '/'));
}

/** An assignment line: `[-]name = value`. Comments, blank lines and lines without `=` give undefined. */
export function parseConfLine(text: string): Omit<ConfEntry, 'line'> | undefined {
  let t = text.trim();
  if (t === '' || t.startsWith('#') || t.startsWith(';')) return undefined;
  let ignoreFailure = false;
  if (t.startsWith('-')) {
    ignoreFailure = true;
    t = t.slice(1).trimStart();
  }
  const eq = t.indexOf('=');
  if (eq <= 0) return undefined;
  const key = t.slice(0, eq).trim();
  if (key === '' || /\s/.test(key)) return undefined;
  return { key, value: t.slice(eq + 1).trim(), ignoreFailure };
}

/** Every assignment of `name` in the text, in file order (the last one is what the tools apply). */
export function findSysctl(text: string, name: string): ConfEntry[] {
  const want = normalizeSysctlName(name);
  const out: ConfEntry[] = [];
  splitLines(text).forEach((l, i) => {
    const e = parseConfLine(l.text);
    if (e && normalizeSysctlName(e.key) === want) out.push({ line: i + 1, ...e });
  });
  return out;
}

/** The assignment that takes effect when the file is applied: the last one. */
export function effectiveSysctl(text: string, name: string): ConfEntry | undefined {
  return findSysctl(text, name).at(-1);
}

export interface SetOptions {
  /** `spaced` writes `name = value` (Linux habit), `compact` writes `name=value` (FreeBSD's sysctl.conf). */
  style?: 'spaced' | 'compact';
  /** Comment lines (without `# `) written above an appended line. */
  comment?: readonly string[];
}

export interface SetResult {
  text: string;
  changed: boolean;
  /** `unchanged`: the effective line already says it; `replaced`: its value was changed; `added`: appended. */
  action: 'unchanged' | 'replaced' | 'added';
  /** 1-based line of the effective assignment after the edit. */
  line: number;
  /** The value the file had before (the effective one), if it set the name at all. */
  previous?: string;
  /** Earlier assignments of the same name: they have no effect, and are left as they are. */
  shadowed: number[];
}

/** Replace the value of an assignment line, keeping everything around it. */
function replaceValue(text: string, value: string): string {
  const eq = text.indexOf('=');
  const after = text.slice(eq + 1);
  const lead = after.length - after.trimStart().length;
  const trail = after.length - after.trimEnd().length;
  const core = after.slice(lead, after.length - trail);
  // `name =` with nothing after it: put the value after the blank, or after one space we add.
  const pad = core === '' && lead === 0 && /\s$/.test(text.slice(0, eq)) ? ' ' : '';
  return `${text.slice(0, eq + 1)}${after.slice(0, lead)}${pad}${value}${after.slice(after.length - trail)}`;
}

/**
 * Make the text set `name` to `value`: change the value of the effective (last) assignment in place, or
 * append an assignment when there is none (commented-out lines do not count and are left alone). When the
 * effective line already has the value, the very same text comes back.
 */
export function setSysctl(text: string, name: string, value: string, opts: SetOptions = {}): SetResult {
  const entries = findSysctl(text, name);
  const last = entries.at(-1);
  const shadowed = entries.slice(0, -1).map((e) => e.line);
  if (last) {
    if (last.value === value)
      return { text, changed: false, action: 'unchanged', line: last.line, previous: last.value, shadowed };
    const lines = splitLines(text);
    const l = lines[last.line - 1]!;
    lines[last.line - 1] = { text: replaceValue(l.text, value), eol: l.eol };
    return {
      text: joinLines(lines),
      changed: true,
      action: 'replaced',
      line: last.line,
      previous: last.value,
      shadowed,
    };
  }
  const eol = dominantEol(text);
  const sep = opts.style === 'compact' ? '=' : ' = ';
  const add = [...(opts.comment ?? []).map((c) => `# ${c}`), `${normalizeSysctlName(name)}${sep}${value}`];
  // A last line without a line ending gets one, so that ours starts on a line of its own.
  const head = text === '' || text.endsWith('\n') ? text : text + eol;
  const before = splitLines(head).length;
  return {
    text: head + add.map((a) => a + eol).join(''),
    changed: true,
    action: 'added',
    line: before + add.length,
    shadowed,
  };
}

/** Whether a value as written in a file is a plain decimal integer (what the kernel's parser takes). */
export function confInteger(value: string): number | undefined {
  return /^-?\d{1,9}$/.test(value) ? Number(value) : undefined;
}

// ---------------------------------------------------------------------------------------------------
// Unified diff

type Op = { kind: ' ' | '-' | '+'; text: string; oldNo: number; newNo: number };

/**
 * Marks a last line without a line ending. A newline, because no line from splitLines() can hold one (a
 * NUL could: a file whose line ends in a NUL byte was shown as missing its newline;
 * test/fixtures/fuzz/sysctl-conf/nul-in-last-line.bin).
 */
const NO_EOL = '\n';

/** Lines for the diff: a last line without an ending is marked so that it differs from the same line with one. */
function diffLines(text: string | undefined): string[] {
  if (text === undefined || text === '') return [];
  return splitLines(text).map((l) => l.text + (l.eol === '\r\n' ? '\r' : '') + (l.eol === '' ? NO_EOL : ''));
}

/** Longest common subsequence edit script, after trimming the common head and tail (edits are small). */
function editScript(a: string[], b: string[]): Op[] {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (
    tail < a.length - head &&
    tail < b.length - head &&
    a[a.length - 1 - tail] === b[b.length - 1 - tail]
  )
    tail++;
  const am = a.slice(head, a.length - tail);
  const bm = b.slice(head, b.length - tail);
  const ops: Op[] = [];
  for (let i = 0; i < head; i++) ops.push({ kind: ' ', text: a[i]!, oldNo: i + 1, newNo: i + 1 });
  const n = am.length;
  const m = bm.length;
  const mid: Op[] = [];
  if (n * m > 4_000_000) {
    // Too big to align line by line: show the middle as removed then added.
    for (const [i, t] of am.entries()) mid.push({ kind: '-', text: t, oldNo: head + i + 1, newNo: 0 });
    for (const [j, t] of bm.entries()) mid.push({ kind: '+', text: t, oldNo: 0, newNo: head + j + 1 });
  } else {
    const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let i = n - 1; i >= 0; i--)
      for (let j = m - 1; j >= 0; j--)
        lcs[i]![j] = am[i] === bm[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && am[i] === bm[j]) {
        mid.push({ kind: ' ', text: am[i]!, oldNo: head + i + 1, newNo: head + j + 1 });
        i++;
        j++;
      } else if (i < n && (j >= m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
        // Removals before additions, as diff -u shows them.
        mid.push({ kind: '-', text: am[i]!, oldNo: head + i + 1, newNo: 0 });
        i++;
      } else {
        mid.push({ kind: '+', text: bm[j]!, oldNo: 0, newNo: head + j + 1 });
        j++;
      }
    }
  }
  ops.push(...mid);
  for (let k = 0; k < tail; k++) {
    const ai = a.length - tail + k;
    const bi = b.length - tail + k;
    ops.push({ kind: ' ', text: a[ai]!, oldNo: ai + 1, newNo: bi + 1 });
  }
  return ops;
}

function range(start: number, count: number): string {
  // diff -u: an empty range is shown at the line before it; a one-line range without its count.
  if (count === 0) return `${start - 1},0`;
  return count === 1 ? `${start}` : `${start},${count}`;
}

/**
 * A unified diff (`diff -u` format, `patch` can apply it) between two texts; '' when they are equal.
 * `undefined` stands for a file that does not exist (shown as /dev/null, like `diff -N`).
 */
export function unifiedDiff(
  before: string | undefined,
  after: string | undefined,
  labels: { before: string; after: string },
  context = 3,
): string {
  if ((before ?? '') === (after ?? '') && (before === undefined) === (after === undefined)) return '';
  const ops = editScript(diffLines(before), diffLines(after));
  const changed = ops.map((o, i) => (o.kind === ' ' ? -1 : i)).filter((i) => i >= 0);
  let out = `--- ${before === undefined ? '/dev/null' : labels.before}\n+++ ${after === undefined ? '/dev/null' : labels.after}\n`;
  let k = 0;
  while (k < changed.length) {
    const from = Math.max(0, changed[k]! - context);
    let to = Math.min(ops.length - 1, changed[k]! + context);
    while (k + 1 < changed.length && changed[k + 1]! - context <= to + 1) {
      k++;
      to = Math.min(ops.length - 1, changed[k]! + context);
    }
    k++;
    const hunk = ops.slice(from, to + 1);
    const oldLines = hunk.filter((o) => o.kind !== '+');
    const newLines = hunk.filter((o) => o.kind !== '-');
    // Where a side's range starts: its first line in the hunk, or (when it has none) after the line before.
    const startOf = (side: 'oldNo' | 'newNo', own: Op[]): number => {
      if (own.length > 0) return own[0]![side];
      const prev = ops
        .slice(0, from)
        .reverse()
        .find((o) => o[side] > 0);
      return (prev?.[side] ?? 0) + 1;
    };
    out += `@@ -${range(startOf('oldNo', oldLines), oldLines.length)} +${range(startOf('newNo', newLines), newLines.length)} @@\n`;
    for (const o of hunk) {
      const noEol = o.text.endsWith(NO_EOL);
      out += `${o.kind}${noEol ? o.text.slice(0, -1) : o.text}\n`;
      if (noEol) out += '\\ No newline at end of file\n';
    }
  }
  return out;
}
