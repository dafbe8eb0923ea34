/**
 * The whole analyze pipeline on small captures: reader → decoder → flow table → connection states → causes
 * → report, then the text and JSON renderings (and HTML when byte 0 has bits 1 and 2; with bit 3, the
 * TypeScript tracker's report compared with the native engine's). Byte 0 bit 0 selects tiny limits (flows, listed and held
 * connections, talkers, timeline buckets), so that eviction, early classification and bounded tallies run
 * on inputs a fuzzer can make.
 */
import { type AnalysisReport, analyzeCapture } from '../../../src/analyze/analyze.js';
import { nativeEngine } from '../../../src/analyze/native.js';
import { renderHtml } from '../../../src/report/html.js';
import { renderJson } from '../../../src/report/json.js';
import { renderText } from '../../../src/report/text.js';
import { check, type FuzzTarget } from '../engine/target.js';
import {
  CAPTURE_DICT,
  captureUnits,
  corpusFiles,
  craftedCaptures,
  scenarioFiles,
  seedFiles,
} from './capture-util.js';

const TINY = { maxFlows: 8, top: 2, maxConnections: 3, maxHeldConnections: 2, maxTalkers: 3, maxBuckets: 4 };
/**
 * The default limits but a smaller flow table: the table is allocated whole (100,000 flows cost ~10 ms per
 * run, more than everything else), and a capture of 8 KiB never holds more than a few hundred flows.
 */
const SMALL = { maxFlows: 1024 };

/** The capture as one chunk of an async iterable: what readCapture reads from stdin, minus the stream machinery. */
async function* once(b: Uint8Array): AsyncGenerator<Uint8Array> {
  yield b;
}

function checkReport(r: AnalysisReport): void {
  const s = r.summary;
  const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
  check(s.rsts === s.rstIpv4 + s.rstIpv6, `rsts ${s.rsts} ≠ IPv4 ${s.rstIpv4} + IPv6 ${s.rstIpv6}`);
  check(s.rsts === s.rstAck + s.rstBare, `rsts ${s.rsts} ≠ RST+ACK ${s.rstAck} + bare ${s.rstBare}`);
  check(
    s.rsts === s.rstInbound + s.rstOutbound + s.rstDirectionUnknown,
    `rsts ${s.rsts} ≠ in ${s.rstInbound} + out ${s.rstOutbound} + unknown ${s.rstDirectionUnknown}`,
  );
  check(
    s.packets === s.tcpSegments + sum(Object.values(s.decodeSkips)),
    `packets ${s.packets} ≠ TCP ${s.tcpSegments} + skipped ${JSON.stringify(s.decodeSkips)}`,
  );
  check(
    s.rstFromOrig + s.rstFromResp === s.rsts,
    `RSTs by side ${s.rstFromOrig}+${s.rstFromResp} ≠ ${s.rsts}`,
  );
  check(s.rstFromOrig >= 0 && s.rstFromResp >= 0, `negative RSTs by side ${s.rstFromOrig} ${s.rstFromResp}`);
  check(
    sum(r.causes.map((c) => c.count)) === s.rsts,
    `causes add up to ${sum(r.causes.map((c) => c.count))}, not ${s.rsts}`,
  );
  check(sum(r.timeline.counts) === s.rsts, `timeline adds up to ${sum(r.timeline.counts)}, not ${s.rsts}`);
  check(
    s.connectionsWithResets <= s.connections && r.connectionsOmitted >= 0,
    `connections ${s.connections}, with resets ${s.connectionsWithResets}, omitted ${r.connectionsOmitted}`,
  );
  check(
    r.connections.length + r.connectionsOmitted === s.connectionsWithResets,
    `listed ${r.connections.length} + omitted ${r.connectionsOmitted} ≠ with resets ${s.connectionsWithResets}`,
  );
  check(Number.isFinite(s.durationSec) && s.durationSec >= 0, `duration ${s.durationSec}`);
  for (const c of r.connections) {
    check(c.resets.length > 0, `connection ${c.id} listed without resets`);
    check(
      Number.isFinite(c.durationSec) && c.durationSec >= 0,
      `connection ${c.id} duration ${c.durationSec}`,
    );
  }
}

export const analyzeTarget: FuzzTarget = {
  name: 'analyze',
  about: 'analyzeCapture (src/analyze/analyze.ts) + text/JSON reports on small captures: totals add up',
  maxLen: 8 * 1024,
  text: false,
  dict: CAPTURE_DICT,
  units: (d) => captureUnits(d, 1),
  seeds: () =>
    [...craftedCaptures(), ...seedFiles([...scenarioFiles(), ...corpusFiles('any')], 8 * 1024)].flatMap((f) =>
      [0, 1, 6, 9].map((mode) => {
        const s = new Uint8Array(f.length + 1);
        s[0] = mode;
        s.set(f, 1);
        return s;
      }),
    ),
  async run(data) {
    if (data.length === 0) return;
    const payload = data.subarray(1);
    const opts = data[0]! & 1 ? { ...TINY } : { ...SMALL };
    const r = await analyzeCapture(once(payload) as unknown as NodeJS.ReadableStream, opts);
    checkReport(r);
    // Byte 0 bit 3: the TypeScript tracker too — the native engine (when built, the default) must give the
    // very same report (docs/analyze.md, "Engines").
    if (data[0]! & 8 && nativeEngine() !== undefined) {
      const js = await analyzeCapture(once(payload) as unknown as NodeJS.ReadableStream, {
        ...opts,
        engine: 'js',
      });
      check(
        JSON.stringify(js) === JSON.stringify(r),
        'the native engine and the TypeScript tracker disagree',
      );
    }
    const json = renderJson(r, '0.0.0-fuzz');
    const back = JSON.parse(json) as { summary?: { rsts?: number } };
    check(back.summary?.rsts === r.summary.rsts, 'JSON report does not carry the summary');
    const text = renderText(r, { color: false, width: 80 });
    check(text.length > 0, 'empty text report');
    // The HTML report (with its SVG timeline) costs more: one run in four.
    if (data[0]! & 2 && data[0]! & 4) {
      const html = renderHtml(r, { version: '0.0.0-fuzz', maxRows: 5 });
      check(
        html.startsWith('<!DOCTYPE html>') || html.startsWith('<!doctype html>'),
        'HTML report without a doctype',
      );
    }
  },
};
