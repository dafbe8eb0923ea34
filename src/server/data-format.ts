/**
 * `/api/v1/data` output formats, shaped as Netdata 1.37 prints them (checked against Debian's netdata on
 * this host): rows newest first unless `flip`; csv/tsv/html/markdown times as local `YYYY-MM-DD HH:MM:SS`
 * unless `seconds` or `ms`; json times in epoch seconds (ms with `ms`); the reduced formats (array, ssv,
 * ssvcomma) give one number per row, the dimensions combined by sum (or min/max/average/min2max).
 * Empty points are `null` everywhere (0 with `null2zero`). csv, tsv and markdown end lines with CRLF (RFC 4180),
 * as Netdata does. Differences from Netdata are in docs/api.md.
 */

import type { DataOptions } from './data-options.js';
import type { DataResult } from './data-query.js';
import { ApiError, toJson } from './http.js';

export const FORMATS = [
  'json',
  'jsonp',
  'csv',
  'tsv',
  'tsv-excel',
  'ssv',
  'ssvcomma',
  'html',
  'markdown',
  'datatable',
  'datasource',
  'array',
  'csvjsonarray',
] as const;
export type DataFormat = (typeof FORMATS)[number];

export function parseFormat(text: string | undefined): DataFormat {
  const f = (text ?? 'json').toLowerCase();
  if ((FORMATS as readonly string[]).includes(f)) return f as DataFormat;
  throw new ApiError(
    400,
    'E_API_PARAM',
    `format: unknown format ${JSON.stringify(text)} (known: ${FORMATS.join(', ')})`,
  );
}

export const CONTENT_TYPES: Record<DataFormat, string> = {
  json: 'application/json; charset=utf-8',
  jsonp: 'application/x-javascript; charset=utf-8',
  csv: 'text/plain; charset=utf-8',
  tsv: 'text/plain; charset=utf-8',
  'tsv-excel': 'text/plain; charset=utf-8',
  ssv: 'text/plain; charset=utf-8',
  ssvcomma: 'text/plain; charset=utf-8',
  html: 'text/html; charset=utf-8',
  markdown: 'text/plain; charset=utf-8',
  datatable: 'application/json; charset=utf-8',
  datasource: 'application/x-javascript; charset=utf-8',
  array: 'application/json; charset=utf-8',
  csvjsonarray: 'application/json; charset=utf-8',
};

/** Round to 7 decimals, as Netdata prints values (`%0.7f`, trailing zeros dropped); cheaper than toFixed. */
function round7(x: number): number {
  if (Number.isInteger(x) || Math.abs(x) >= 1e8) return x;
  return Math.round(x * 1e7) / 1e7;
}

/** Netdata prints values with up to 7 decimals, trailing zeros dropped. */
export function fmtNumber(x: number): string {
  if (!Number.isFinite(x)) return 'null';
  return String(round7(x));
}

function value(x: number, o: DataOptions): number | null {
  if (Number.isFinite(x)) return round7(x);
  return o.null2zero ? 0 : null;
}

function text(x: number, o: DataOptions): string {
  const v = value(x, o);
  return v === null ? 'null' : fmtNumber(v);
}

const pad = (n: number) => String(n).padStart(2, '0');

/** Local time `YYYY-MM-DD HH:MM:SS`, as Netdata's csv/tsv/html print it. */
export function localTime(sec: number): string {
  const d = new Date(sec * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function timeText(sec: number, o: DataOptions): string {
  if (o.ms) return String(sec * 1000);
  if (o.seconds) return String(sec);
  return localTime(sec);
}

/** Row indexes in output order: newest first unless `flip`. */
function order(r: DataResult, o: DataOptions): number[] {
  const idx = r.times.map((_t, i) => i);
  return o.flip ? idx : idx.reverse();
}

/** One number per row: the dimensions combined (Netdata's rrdr2value per row). */
function reduceRow(r: DataResult, row: number, o: DataOptions): number {
  let n = 0;
  let sum = 0;
  let mn = Number.NaN;
  let mx = Number.NaN;
  for (const c of r.columns) {
    const x = c.values[row]!;
    if (!Number.isFinite(x)) continue;
    n++;
    sum += x;
    if (!(x >= mn)) mn = x;
    if (!(x <= mx)) mx = x;
  }
  if (n === 0) return Number.NaN;
  switch (o.reduce) {
    case 'min':
      return mn;
    case 'max':
      return mx;
    case 'average':
      return sum / n;
    case 'min2max':
      return mx - mn;
    default:
      return sum;
  }
}

function jsonResult(r: DataResult, o: DataOptions): Record<string, unknown> {
  const labels = ['time', ...r.columns.map((c) => c.name)];
  const data = order(r, o).map((i) => {
    const t = o.ms ? r.times[i]! * 1000 : r.times[i]!;
    if (o.objectrows) {
      const row: Record<string, number | null> = { time: t };
      for (const c of r.columns) row[c.name] = value(c.values[i]!, o);
      return row;
    }
    return [t, ...r.columns.map((c) => value(c.values[i]!, o))];
  });
  return { labels, data };
}

/** `{"labels":[…],"data":[[t,v…],…]}` as text, the same bytes JSON.stringify(jsonResult) would give. */
function jsonText(r: DataResult, o: DataOptions): string {
  const labels = JSON.stringify(['time', ...r.columns.map((c) => c.name)]);
  const cols = r.columns;
  const parts: string[] = [];
  for (const i of order(r, o)) {
    let row = `[${o.ms ? r.times[i]! * 1000 : r.times[i]!}`;
    for (const c of cols) {
      const v = value(c.values[i]!, o);
      row += v === null ? ',null' : `,${v}`;
    }
    parts.push(`${row}]`);
  }
  return `{"labels":${labels},"data":[${parts.join(',')}]}`;
}

/** Google Visualization DataTable, as Netdata's `datatable` (annotation columns included). */
function datatable(r: DataResult, o: DataOptions): Record<string, unknown> {
  const cols: Record<string, unknown>[] = [
    { id: '', label: 'time', pattern: '', type: 'datetime' },
    { id: '', label: '', pattern: '', type: 'string', p: { role: 'annotation' } },
    { id: '', label: '', pattern: '', type: 'string', p: { role: 'annotationText' } },
    ...r.columns.map((c) => ({ id: '', label: c.name, pattern: '', type: 'number' })),
  ];
  const rows = order(r, o).map((i) => {
    const d = new Date(r.times[i]! * 1000);
    const when = `Date(${d.getFullYear()},${d.getMonth()},${d.getDate()},${d.getHours()},${d.getMinutes()},${d.getSeconds()})`;
    return {
      c: [{ v: when }, { v: null }, { v: null }, ...r.columns.map((c) => ({ v: value(c.values[i]!, o) }))],
    };
  });
  return { cols, rows };
}

function delimited(r: DataResult, o: DataOptions, sep: string): string {
  const lines = [['time', ...r.columns.map((c) => c.name)].join(sep)];
  for (const i of order(r, o)) {
    lines.push([timeText(r.times[i]!, o), ...r.columns.map((c) => text(c.values[i]!, o))].join(sep));
  }
  return `${lines.join('\r\n')}\r\n`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** A JSONP callback name: identifiers and dots only, so nothing but a function call can be injected. */
export function safeCallback(name: string | undefined, def = 'callback'): string {
  if (name === undefined || name === '') return def;
  if (!/^[A-Za-z_$][A-Za-z0-9_$.]{0,127}$/.test(name)) {
    throw new ApiError(400, 'E_API_PARAM', 'callback: only letters, digits, _ $ and . are allowed');
  }
  return name;
}

/** The formatted body: a string, or (json-like formats) a value to serialise, so jsonwrap can nest it. */
export function formatResult(
  r: DataResult,
  format: DataFormat,
  o: DataOptions,
  extra: { callback?: string; tqx?: string; asValue?: boolean } = {},
): { json?: unknown; text?: string } {
  switch (format) {
    case 'json':
      // The common case, written directly: no arrays per row to build and stringify.
      return o.objectrows || extra.asValue ? { json: jsonResult(r, o) } : { text: jsonText(r, o) };
    case 'jsonp':
      return { text: `${safeCallback(extra.callback)}(${toJson(jsonResult(r, o))});` };
    case 'datatable':
      return { json: datatable(r, o) };
    case 'datasource': {
      const reqId = /(?:^|;)reqId:(\d{1,9})/.exec(extra.tqx ?? '')?.[1] ?? '0';
      const cb = safeCallback(extra.callback, 'google.visualization.Query.setResponse');
      return {
        text: `${cb}({version:'0.6',reqId:'${reqId}',status:'ok',sig:'${r.lastEntry}',table:${toJson(datatable(r, o))}});`,
      };
    }
    case 'csv':
      return { text: delimited(r, o, ',') };
    case 'tsv':
    case 'tsv-excel':
      return { text: delimited(r, o, '\t') };
    case 'ssv':
      return {
        text: order(r, o)
          .map((i) => text(reduceRow(r, i, o), o))
          .join(' '),
      };
    case 'ssvcomma':
      return {
        text: order(r, o)
          .map((i) => text(reduceRow(r, i, o), o))
          .join(','),
      };
    case 'array':
      return { json: order(r, o).map((i) => value(reduceRow(r, i, o), o)) };
    case 'csvjsonarray':
      // Netdata prints the time unquoted here (invalid JSON); ours is a quoted string.
      return {
        json: [
          ['time', ...r.columns.map((c) => c.name)],
          ...order(r, o).map((i) => [
            timeText(r.times[i]!, o),
            ...r.columns.map((c) => value(c.values[i]!, o)),
          ]),
        ],
      };
    case 'markdown': {
      const lines = [
        ['time', ...r.columns.map((c) => c.name)].join('|'),
        [':---:', ...r.columns.map(() => ':---:')].join('|'),
        ...order(r, o).map((i) =>
          [timeText(r.times[i]!, o), ...r.columns.map((c) => text(c.values[i]!, o))].join('|'),
        ),
      ];
      return { text: `${lines.join('\r\n')}\r\n` };
    }
    case 'html': {
      const cell = (s: string) => `<td>${escapeHtml(s)}</td>`;
      const rows = [
        `<tr>${['time', ...r.columns.map((c) => c.name)].map(cell).join('')}</tr>`,
        ...order(r, o).map(
          (i) =>
            `<tr>${[timeText(r.times[i]!, o), ...r.columns.map((c) => text(c.values[i]!, o))].map(cell).join('')}</tr>`,
        ),
      ];
      return {
        text: `<html>\n<center>\n<table border="0" cellpadding="5" cellspacing="5">\n${rows.join('\n')}\n</table>\n</center>\n</html>\n`,
      };
    }
  }
}

/** min and max over every value shown (jsonwrap). */
export function minMax(r: DataResult): { min: number; max: number } {
  let mn = Number.NaN;
  let mx = Number.NaN;
  for (const c of r.columns) {
    for (const x of c.values) {
      if (!Number.isFinite(x)) continue;
      if (!(x >= mn)) mn = x;
      if (!(x <= mx)) mx = x;
    }
  }
  return { min: Number.isNaN(mn) ? 0 : mn, max: Number.isNaN(mx) ? 0 : mx };
}
