/**
 * Parse tracefs `format` files: an event's id, its fields (offset, size, signedness, array length) and the
 * symbol tables of its print format; and `events/header_page`, which gives the ring-buffer page layout.
 *
 * The kernel writes these files from the TRACE_EVENT definitions (kernel/trace/trace_events.c,
 * `f_show`/`print_event_format`), one `field:TYPE NAME;\toffset:N;\tsize:N;\tsigned:N;` line per field.
 * Reading offsets from here, never assuming them, is what lets one decoder serve the 4.15–6.9 layout and the
 * ≥ 6.10 one (include/trace/events/tcp.h changed `tcp_send_reset` to sockaddr fields and a reason).
 */

import { RstwatchError } from '../internal/errors.js';

export interface FieldDef {
  name: string;
  type: string;
  offset: number;
  size: number;
  signed: boolean;
  /** Element count for `NAME[N]` arrays. */
  arrayLength?: number;
}

export interface EventFormat {
  name: string;
  id: number;
  fields: Map<string, FieldDef>;
  /** `__print_symbolic(REC->x, { value, "NAME" }, …)` tables of the print format, by field name. */
  symbols: Map<string, Map<number, string>>;
}

export interface PageHeader {
  timestampOffset: number;
  commitOffset: number;
  /** 8 on 64-bit kernels (local_t), 4 on 32-bit. */
  commitSize: number;
  dataOffset: number;
  /** Bytes of event data a page can hold. */
  dataSize: number;
}

/** Far above the 4 KiB pages (and the larger sub-buffers of buffer_subbuf_size_kb) kernels use. */
const MAX_PAGE_BYTES = 16 * 1024 * 1024;

const FIELD_LINE = /^\s*field:(.+?);\s*offset:(\d+);\s*size:(\d+);\s*signed:(\d+);\s*$/;

function fail(file: string, line: number, column: number, message: string): never {
  throw new RstwatchError('E_TRACE_FORMAT', message, { file, line, column });
}

/** `const void * skbaddr` → {type, name}; `__u8 saddr[28]` → arrayLength 28. */
function splitDecl(decl: string): { type: string; name: string; arrayLength?: number } | undefined {
  const m = /^(.*?)([A-Za-z_][A-Za-z0-9_]*)\s*(?:\[(\d*)\])?\s*$/.exec(decl.trim());
  if (!m || m[1]!.trim() === '') return undefined;
  const out: { type: string; name: string; arrayLength?: number } = { type: m[1]!.trim(), name: m[2]! };
  if (m[3] !== undefined && m[3] !== '') out.arrayLength = Number(m[3]);
  return out;
}

/** Symbol tables: `__print_symbolic(REC->reason, { 0, "NOT_SPECIFIED" }, …)`; numeric values only. */
function parseSymbols(printFmt: string): Map<string, Map<number, string>> {
  const out = new Map<string, Map<number, string>>();
  const head = /__print_symbolic\(\s*REC->([A-Za-z_][A-Za-z0-9_]*)\s*,/g;
  for (let m = head.exec(printFmt); m !== null; m = head.exec(printFmt)) {
    // The table runs to the parenthesis that closes this __print_symbolic.
    let depth = 1;
    let i = head.lastIndex;
    let inString = false;
    for (; i < printFmt.length && depth > 0; i++) {
      const c = printFmt[i];
      if (c === '"' && printFmt[i - 1] !== '\\') inString = !inString;
      else if (!inString && c === '(') depth++;
      else if (!inString && c === ')') depth--;
    }
    const table = printFmt.slice(head.lastIndex, i - 1);
    const map = out.get(m[1]!) ?? new Map<number, string>();
    for (const e of table.matchAll(/\{\s*(-?\d+)\s*,\s*"([^"]*)"\s*\}/g)) map.set(Number(e[1]), e[2]!);
    if (map.size > 0) out.set(m[1]!, map);
  }
  return out;
}

/** Parse one event's `format` file. Throws E_TRACE_FORMAT with the line and column of the problem. */
export function parseEventFormat(text: string, file = 'format'): EventFormat {
  let name: string | undefined;
  let id: number | undefined;
  const fields = new Map<string, FieldDef>();
  let printFmt = '';
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const lineNo = i + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed === 'format:') continue;
    if (trimmed.startsWith('name:')) {
      name = trimmed.slice(5).trim();
      continue;
    }
    if (trimmed.startsWith('ID:')) {
      const v = trimmed.slice(3).trim();
      if (!/^\d+$/.test(v)) fail(file, lineNo, raw.indexOf('ID:') + 4, `event id is not a number: ${v}`);
      id = Number(v);
      continue;
    }
    if (trimmed.startsWith('print fmt:')) {
      printFmt = lines
        .slice(i)
        .join('\n')
        .slice(raw.indexOf('print fmt:') + 10);
      break;
    }
    if (trimmed.startsWith('field:')) {
      const m = FIELD_LINE.exec(raw);
      if (!m)
        fail(
          file,
          lineNo,
          raw.indexOf('field:') + 1,
          'expected "field:TYPE NAME; offset:N; size:N; signed:N;"',
        );
      const decl = splitDecl(m[1]!);
      if (!decl) fail(file, lineNo, raw.indexOf('field:') + 7, `cannot read the field declaration "${m[1]}"`);
      const def: FieldDef = {
        name: decl.name,
        type: decl.type,
        offset: Number(m[2]),
        size: Number(m[3]),
        signed: m[4] === '1',
      };
      if (decl.arrayLength !== undefined) def.arrayLength = decl.arrayLength;
      fields.set(def.name, def);
      continue;
    }
    fail(file, lineNo, raw.length - raw.trimStart().length + 1, `unexpected line "${trimmed.slice(0, 40)}"`);
  }
  if (name === undefined) fail(file, 1, 1, 'no "name:" line');
  if (id === undefined) fail(file, 1, 1, 'no "ID:" line');
  if (!fields.has('common_type')) fail(file, 1, 1, 'no common_type field');
  return { name, id, fields, symbols: parseSymbols(printFmt) };
}

/**
 * `events/header_page`: the page header (`timestamp`, `commit`) and where data starts. The `overwrite`
 * pseudo-field shares the commit word and is ignored (kernel/trace/ring_buffer.c `ring_buffer_print_page_header`).
 */
export function parseHeaderPage(text: string, file = 'header_page'): PageHeader {
  const byName = new Map<string, { offset: number; size: number }>();
  text.split('\n').forEach((raw) => {
    const m = /^\s*field:\s*(.+?)\s+([A-Za-z_]+);\s*offset:(\d+);\s*size:(\d+);/.exec(raw);
    if (m) byName.set(m[2]!, { offset: Number(m[3]), size: Number(m[4]) });
  });
  const ts = byName.get('timestamp');
  const commit = byName.get('commit');
  const data = byName.get('data');
  if (!ts || !commit || !data) fail(file, 1, 1, 'header_page lacks timestamp, commit or data');
  if (commit.size !== 4 && commit.size !== 8)
    fail(file, 1, 1, `commit size ${commit.size} is neither 4 nor 8`);
  // ringbuf.ts reads the 8-byte timestamp and the commit word before the data, and the agent allocates one
  // page of dataOffset + dataSize bytes: a layout that does not fit is refused here, not met as a RangeError
  // in the page walker or an absurd allocation (test/fixtures/fuzz/tracefs-format/).
  if (ts.offset + 8 > data.offset || commit.offset + commit.size > data.offset)
    fail(file, 1, 1, 'the timestamp and commit fields must come before data');
  if (data.size < 1 || data.offset + data.size > MAX_PAGE_BYTES)
    fail(
      file,
      1,
      1,
      `data of ${data.size} bytes at offset ${data.offset} does not fit a trace page (at most ${MAX_PAGE_BYTES} bytes)`,
    );
  return {
    timestampOffset: ts.offset,
    commitOffset: commit.offset,
    commitSize: commit.size,
    dataOffset: data.offset,
    dataSize: data.size,
  };
}
