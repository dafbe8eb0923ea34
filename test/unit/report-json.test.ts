/**
 * `rstwatch analyze --json` against its published schema (docs/analyze.schema.json), validated with Ajv (a
 * complete JSON Schema 2020-12 implementation, so the file is checked the way a consumer's tooling would
 * read it), on real captures (every corpus file with resets), a crafted one with 1,238 resets, IPv6 and
 * several causes, and a truncated one. The schema is strict (no unknown field anywhere), and
 * docs/analyze.md must describe every field it names.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { type AnalysisReport, analyzeCapture } from '../../src/analyze/analyze.js';
import { CAUSE_TOPIC, CAUSES } from '../../src/analyze/causes.js';
import { CONN_STATES } from '../../src/analyze/types.js';
import { findTopic } from '../../src/model/explain.js';
import {
  analysisJson,
  renderJson,
  SCHEMA_VERSION,
  STRINGIFY_CONNECTIONS,
  WRITE_PIECE,
  writeJson,
} from '../../src/report/json.js';
import { ROOT } from '../helpers/paths.js';
import { analyzeBytes, corpusFilesWithResets, richPackets, toPcap } from './report-captures.js';

const schema = JSON.parse(readFileSync(`${ROOT}docs/analyze.schema.json`, 'utf8')) as Record<string, unknown>;
const doc = readFileSync(`${ROOT}docs/analyze.md`, 'utf8');
const ajv = new Ajv2020({ allErrors: true, strict: true });
const validate = ajv.compile(schema);

function check(value: unknown): string {
  return validate(value) ? '' : ajv.errorsText(validate.errors, { separator: '\n' });
}

/** The JSON exactly as the CLI prints it, parsed back. */
const printed = (r: AnalysisReport): unknown => JSON.parse(renderJson(r, '9.9.9'));

let rich: AnalysisReport;
beforeAll(async () => {
  rich = await analyzeBytes(toPcap(richPackets()));
});

describe('docs/analyze.schema.json', () => {
  it('validates the output for every corpus capture with resets', async () => {
    const files = corpusFilesWithResets();
    expect(files.length).toBeGreaterThanOrEqual(13);
    for (const f of files) {
      const r = await analyzeCapture(f);
      expect(r.summary.rsts, f).toBeGreaterThan(0);
      expect(check(printed(r)), f).toBe('');
    }
  });

  it('validates a crafted capture with IPv6, several causes and 1,238 reset connections', () => {
    const j = printed(rich) as ReturnType<typeof analysisJson>;
    expect(check(j)).toBe('');
    expect(j.schemaVersion).toBe(SCHEMA_VERSION);
    expect(j.connections).toHaveLength(1000); // the default cap…
    expect(j.connectionsOmitted).toBe(238); // …and how many it left out
    expect(new Set(j.causes.map((c) => c.cause))).toEqual(new Set(['refused', 'abort']));
    expect(j.connections.some((c) => c.ipVersion === 4)).toBe(true);
  });

  it('validates a report listing every connection, and a truncated capture marked partial', async () => {
    const all = await analyzeBytes(toPcap(richPackets()), 'x', Number.MAX_SAFE_INTEGER);
    const j = printed(all) as ReturnType<typeof analysisJson>;
    expect(check(j)).toBe('');
    expect(j.connections).toHaveLength(1238);
    expect(j.connectionsOmitted).toBe(0);
    const v6 = j.connections.find((c) => c.ipVersion === 6)!;
    expect(v6).toMatchObject({
      connState: 'REJ',
      history: 'Sr',
      cause: 'refused',
      resp: '[2001:db8::9]:8080',
    });
    expect(v6.evidence.length).toBeGreaterThan(0);

    const bytes = toPcap(richPackets().slice(0, 100));
    const cut = printed(await analyzeBytes(bytes.subarray(0, bytes.length - 3))) as ReturnType<
      typeof analysisJson
    >;
    expect(check(cut)).toBe('');
    expect(cut.capture.partial).toBe(true);
    expect(cut.capture.problems[0]).toMatchObject({ code: 'E_CAPTURE_TRUNCATED', severity: 'error' });
    expect(cut.summary.packets).toBe(99);
  });

  it('rejects what it must (the validator can fail): unknown fields, bad enums, missing fields', () => {
    const good = printed(rich) as Record<string, unknown> & ReturnType<typeof analysisJson>;
    const clone = () => structuredClone(good) as typeof good;
    const extra = clone();
    (extra.summary as unknown as Record<string, unknown>).surprise = 1;
    expect(check(extra)).toMatch(/must NOT have additional properties/);
    const state = clone();
    (state.connections[0] as unknown as Record<string, unknown>).connState = 'ESTABLISHED';
    expect(check(state)).toMatch(/connState/);
    const missing = clone() as unknown as Record<string, unknown>;
    delete missing.timeline;
    expect(check(missing)).toMatch(/timeline/);
    const version = clone() as unknown as Record<string, unknown>;
    version.schemaVersion = 2;
    expect(check(version)).toMatch(/schemaVersion/);
  });

  it('lists exactly the causes, conn_states and topics the code produces', () => {
    const defs = schema.$defs as Record<string, { enum?: unknown[] }>;
    expect(defs.cause!.enum).toEqual([...CAUSES]);
    const conn = defs.connection as unknown as { properties: { connState: { enum: unknown[] } } };
    expect(conn.properties.connState.enum).toEqual([...CONN_STATES]);
    // Every topic a cause points to is a real `rstwatch explain` topic.
    for (const c of CAUSES) expect(findTopic(CAUSE_TOPIC[c])?.id, c).toBe(CAUSE_TOPIC[c]);
  });
});

describe('writeJson', () => {
  it('writes exactly JSON.stringify(…, null, 2), in pieces of about WRITE_PIECE characters', () => {
    const pieces: string[] = [];
    writeJson(rich, '1.0.0', (s) => pieces.push(s));
    const whole = `${JSON.stringify(analysisJson(rich, '1.0.0'), null, 2)}\n`;
    expect(pieces.join('')).toBe(whole);
    // Streamed (never the whole text at once), but not a write per connection either.
    expect(whole.length).toBeGreaterThan(3 * WRITE_PIECE);
    expect(pieces.length).toBeGreaterThan(2);
    expect(pieces.length).toBeLessThan(rich.connections.length / 4);
    const longest = Math.max(...rich.connections.map((c) => JSON.stringify(c, null, 2).length)) * 2;
    const slice = STRINGIFY_CONNECTIONS * longest;
    for (const p of pieces.slice(0, -1)) {
      expect(p.length).toBeGreaterThanOrEqual(WRITE_PIECE);
      expect(p.length).toBeLessThan(WRITE_PIECE + slice);
    }
    // Lists that end exactly at, just before and just after a slice of STRINGIFY_CONNECTIONS.
    expect(rich.connections.length).toBeGreaterThan(2 * STRINGIFY_CONNECTIONS + 1);
    for (const n of [
      1,
      2,
      STRINGIFY_CONNECTIONS - 1,
      STRINGIFY_CONNECTIONS,
      STRINGIFY_CONNECTIONS + 1,
      2 * STRINGIFY_CONNECTIONS + 1,
    ]) {
      const some = { ...rich, connections: rich.connections.slice(0, n) };
      expect(renderJson(some, '1')).toBe(`${JSON.stringify(analysisJson(some, '1'), null, 2)}\n`);
    }
    const empty = { ...rich, connections: [], connectionsOmitted: 0 };
    expect(renderJson(empty, '1')).toBe(`${JSON.stringify(analysisJson(empty, '1'), null, 2)}\n`);
  });
});

describe('docs/analyze.md', () => {
  /** Every property name anywhere in the schema. */
  function propertyNames(node: unknown, out = new Set<string>()): Set<string> {
    if (Array.isArray(node)) for (const n of node) propertyNames(n, out);
    else if (node !== null && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        if (k === 'properties') for (const name of Object.keys(v as object)) out.add(name);
        propertyNames(v, out);
      }
    }
    return out;
  }

  it('documents every field of the schema, the schema version and the exit codes', () => {
    const names = propertyNames(schema);
    expect(names.size).toBeGreaterThan(60);
    const missing = [...names].filter((n) => !doc.includes(`\`${n}\``));
    expect(missing).toEqual([]);
    expect(doc).toContain('schemaVersion');
    expect(doc).toContain('analyze.schema.json');
    for (const code of ['E_ANALYZE_OUTPUT', 'E_CAPTURE_TRUNCATED', 'PARTIAL']) expect(doc).toContain(code);
  });
});
