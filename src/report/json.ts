/**
 * `rstwatch analyze --json`: a versioned, documented schema (docs/analyze.md, "JSON output";
 * docs/analyze.schema.json is the machine-readable JSON Schema, checked against real outputs by
 * test/unit/report-json.test.ts).
 *
 * schemaVersion 1. Additive changes (new fields) keep the version; renaming, removing or changing the meaning
 * of a field bumps it. Key order is fixed here, so the output is stable for goldens and diffs.
 *
 * The connections list can be long (`--max-connections all` on a capture with 100,000 refused connects), so
 * `writeJson` hands the text out in pieces of about 64 KiB (whole connections) instead of building one
 * string of hundreds of megabytes; the bytes are exactly `JSON.stringify(analysisJson(r), null, 2)`.
 */

import type { AnalysisReport } from '../analyze/analyze.js';

export const SCHEMA_VERSION = 1;

export interface AnalysisJson {
  schemaVersion: 1;
  tool: { name: 'rstwatch'; version: string };
  source: string;
  capture: AnalysisReport['capture'];
  summary: AnalysisReport['summary'];
  causes: AnalysisReport['causes'];
  top: AnalysisReport['top'];
  timeline: AnalysisReport['timeline'];
  findings: AnalysisReport['findings'];
  connections: AnalysisReport['connections'];
  connectionsOmitted: number;
}

export function analysisJson(r: AnalysisReport, version: string): AnalysisJson {
  return {
    schemaVersion: SCHEMA_VERSION,
    tool: { name: 'rstwatch', version },
    source: r.source,
    capture: {
      format: r.capture.format,
      variant: r.capture.variant,
      partial: r.capture.partial,
      bytes: r.capture.bytes,
      problems: r.capture.problems.map((p) => ({
        code: p.code,
        message: p.message,
        severity: p.severity,
        offset: p.offset,
      })),
      interfaces: r.capture.interfaces,
      drops: r.capture.drops,
    },
    summary: { ...r.summary },
    causes: r.causes,
    top: { senders: r.top.senders, receivers: r.top.receivers, ports: r.top.ports, pairs: r.top.pairs },
    timeline: r.timeline,
    findings: r.findings,
    connections: r.connections,
    connectionsOmitted: r.connectionsOmitted,
  };
}

/** JSON.stringify(value, null, 2) as it appears nested `depth` levels deep (continuation lines indented). */
function nested(value: unknown, depth: number): string {
  return JSON.stringify(value, null, 2).replace(/\n/g, `\n${'  '.repeat(depth)}`);
}

/** Connections stringified at once by writeJson. */
export const STRINGIFY_CONNECTIONS = 64;

/** What JSON.stringify({ connections: [...] }, null, 2) puts around the connections' lines. */
const CONNECTIONS_OPEN = '{\n  "connections": [\n';
const CONNECTIONS_CLOSE = '\n  ]\n}';

/** Characters handed out at once by writeJson (but for its last piece). */
export const WRITE_PIECE = 1 << 16;

/** Writes the report as pretty-printed JSON in pieces (of connections), ending with a newline. */
export function writeJson(r: AnalysisReport, version: string, out: (s: string) => void): void {
  // Pieces of at least WRITE_PIECE characters: a write per connection was a system call per connection
  // (1,000 of them for the default list, ~10 ms at the end of every analysis).
  let pending = '';
  const write = (s: string) => {
    pending += s;
    if (pending.length >= WRITE_PIECE) {
      out(pending);
      pending = '';
    }
  };
  const j = analysisJson(r, version);
  const entries = Object.entries(j);
  let head = '{\n';
  entries.forEach(([key, value], i) => {
    const comma = i < entries.length - 1 ? ',' : '';
    if (key !== 'connections' || r.connections.length === 0) {
      head += `  ${JSON.stringify(key)}: ${nested(value, 1)}${comma}\n`;
      return;
    }
    write(`${head}  "connections": [\n`);
    head = '';
    const list = r.connections;
    for (let c = 0; c < list.length; c += STRINGIFY_CONNECTIONS) {
      // One JSON.stringify per slice of the list, not per connection (half the time of writing the default
      // 1,000), and of the slice as it sits in the document — under a "connections" key of an object — so
      // that it comes out indented as there: `{\n  "connections": [\n    {…},\n    {…}\n  ]\n}`, whose
      // middle is exactly the connections' lines. (Indenting a bare array's text with a regular expression
      // afterwards was ~13 ms of the ~50 ms the default report took to write at the end of a run.)
      const text = JSON.stringify({ connections: list.slice(c, c + STRINGIFY_CONNECTIONS) }, null, 2);
      const more = c + STRINGIFY_CONNECTIONS < list.length;
      write(
        `${text.slice(CONNECTIONS_OPEN.length, text.length - CONNECTIONS_CLOSE.length)}${more ? ',' : ''}\n`,
      );
    }
    head = `  ]${comma}\n`;
  });
  out(`${pending}${head}}\n`);
}

export function renderJson(r: AnalysisReport, version: string): string {
  const parts: string[] = [];
  writeJson(r, version, (s) => parts.push(s));
  return parts.join('');
}
