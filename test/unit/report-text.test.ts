/**
 * The terminal report: colour only when asked, the sparkline, the direction summary, findings with thousands
 * separators, next steps taken verbatim from src/model/explain.ts (and nowhere else in src/report).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AnalysisReport } from '../../src/analyze/analyze.js';
import { TOPICS } from '../../src/model/explain.js';
import { codeSpans, humanDuration, num, utcSpan, wrap } from '../../src/report/format.js';
import { foldColumns, renderText, sparkline } from '../../src/report/text.js';
import { topicAdvice } from '../../src/report/topics.js';
import { ROOT } from '../helpers/paths.js';
import { analyzeBytes, corpusFilesWithResets, richPackets, toPcap } from './report-captures.js';

const ANSI = /\x1b\[[0-9;]*m/;
const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

let rich: AnalysisReport;
beforeAll(async () => {
  rich = await analyzeBytes(toPcap(richPackets()));
});

describe('sparkline', () => {
  it('scales to the largest column with the eight block heights; zero is a space', () => {
    expect(sparkline([0, 1, 2, 3, 4, 5, 6, 7, 8])).toBe(' ▁▂▃▄▅▆▇█');
    expect(sparkline([])).toBe('');
    expect(sparkline([0, 0])).toBe('  ');
  });

  it('keeps a single reset visible next to a big peak', () => {
    expect(sparkline([1000, 0, 1])).toBe('█ ▁');
  });

  it('folds long series into the width by summing', () => {
    const values = Array.from({ length: 600 }, (_, i) => (i < 300 ? 1 : 3));
    const line = sparkline(values, 60);
    expect([...line]).toHaveLength(60);
    expect(line.slice(0, 30)).toBe('▃'.repeat(30)); // 10 of 30: floor(1/3 × 8) = 2 → the third height
    expect(line.slice(30)).toBe('█'.repeat(30));
    expect(foldColumns(values, 60)).toMatchObject({ per: 10 });
    expect(foldColumns([1, 2, 3], 2).sums).toEqual([3, 3]);
  });
});

describe('format helpers', () => {
  it('formats numbers with thousands separators whatever the locale', () => {
    expect(num(68793)).toBe('68,793');
    expect(num(1234567)).toBe('1,234,567');
  });

  it('never breaks a backtick span when wrapping', () => {
    const text =
      'run `sysctl -w net.ipv4.tcp_rfc1337=1` and then `ss -tan state time-wait` to check the sockets';
    const lines = wrap(text, 30, '  ');
    for (const l of lines) expect(codeSpans(l).length % 2).toBe(1); // every line has whole spans
    expect(lines.join(' ').replace(/\s+/g, ' ')).toBe(text);
    expect(lines.length).toBeGreaterThan(2);
  });

  it('writes spans and durations for a person', () => {
    expect(utcSpan(1714564800, 1714564840.5)).toBe('2024-05-01 12:00:00.000 → 12:00:40.500 UTC');
    expect(utcSpan(1714564800, 1714651200)).toBe('2024-05-01 12:00:00.000 UTC → 2024-05-02 12:00:00.000 UTC');
    expect(humanDuration(0.0002)).toBe('200 µs');
    expect(humanDuration(7.364)).toBe('7.36 s');
    expect(humanDuration(200)).toBe('3 min 20 s');
  });
});

describe('renderText', () => {
  it('has no colour escapes without colour, and uses them with colour', () => {
    const plain = renderText(rich, { color: false });
    const coloured = renderText(rich, { color: true });
    expect(plain).not.toMatch(ANSI);
    expect(coloured).toMatch(ANSI);
    // Same words either way (code spans lose their backticks in both).
    expect(strip(coloured)).toBe(plain);
  });

  it('states the summary, direction and who sent RSTs to whom', () => {
    const t = renderText(rich, { color: false });
    expect(t).toContain('2,479 packets');
    expect(t).toContain('Resets: 1,238 in 1,238 of 1,238 connections');
    expect(t).toContain('IPv4 1,235 · IPv6 3');
    expect(t).toContain('sent by the originator (client) 0 · by the responder (server) 1,238');
    expect(t).toMatch(/who to whom: 10\.0\.0\.9 → 10\.0\.0\.5 1,234, 2001:db8::9 → 2001:db8::5 3/);
    // A classic pcap says nothing about in/outbound: that line only appears when SLL/pcapng tell.
    expect(t).not.toContain('on the capturing host');
    const withDir = renderText(
      { ...rich, summary: { ...rich.summary, rstOutbound: 5, rstInbound: 2, rstDirectionUnknown: 1231 } },
      { color: false },
    );
    expect(withDir).toContain('on the capturing host: outgoing 5 · incoming 2 · unknown 1,231');
  });

  it('draws the timeline as a sparkline with its span and peak', () => {
    const t = renderText(rich, { color: false, width: 100 });
    const i = t.split('\n').findIndex((l) => l.startsWith('Timeline'));
    const line = t.split('\n')[i + 1]!;
    expect(line.trim()).toMatch(/^[▁▂▃▄▅▆▇█ ]+$/);
    expect([...line.trim()].length).toBe(rich.timeline.counts.length); // 40 s: one column per second
    expect(t).toContain('2024-05-01 12:00:00.000 → 12:00:40.000 UTC; peak');
  });

  it('phrases findings like the issue, with thousands separators and a pointer to rstwatch explain', () => {
    const t = renderText(rich, { color: false, width: 200 });
    expect(t).toContain(
      "10.0.0.5 tried port 9001 on 10.0.0.9 1,234 times where nothing listens: start the service or fix the client's configuration (rstwatch explain refused)",
    );
    const coloured = renderText(rich, { color: true, width: 200 });
    expect(coloured).toContain('\x1b[36m10.0.0.5\x1b[0m tried port 9001'); // the address as code
  });

  it('lists causes with counts, confidences and example flows', () => {
    const t = renderText(rich, { color: false });
    expect(t).toMatch(/1,237 {2}connection refused \(closed port\) {2}1,237 certain/);
    expect(t).toContain('e.g. 10.0.0.5:20000 → 10.0.0.9:9001; 10.0.0.5:20001 → 10.0.0.9:9001');
    expect(t).toMatch(/ 1 {2}application abort {2}1 likely/);
  });

  it('takes next steps and topic titles verbatim from src/model/explain.ts', () => {
    const t = renderText(rich, { color: false, width: 10_000, stepsPerTopic: 99 });
    for (const id of ['refused', 'abort']) {
      const advice = topicAdvice(id);
      expect(t).toContain(`${advice.title} — rstwatch explain ${id}`);
      for (const step of advice.steps) expect(t).toContain(`- ${step.replace(/`/g, '')}`);
    }
    // Steps that say "capture, then run rstwatch analyze" are what the reader just did: left out.
    expect(t).not.toMatch(/- .*then `?rstwatch analyze/);
  });

  it('keeps no copy of explain.ts prose in src/report', () => {
    const dir = `${ROOT}src/report`;
    const sources = readdirSync(dir)
      .map((f) => readFileSync(`${dir}/${f}`, 'utf8'))
      .join('\n');
    for (const topic of TOPICS) {
      expect(sources).not.toContain(topic.summary.slice(0, 60));
      for (const step of topic.whatToDo) expect(sources).not.toContain(step.slice(0, 60));
    }
  });

  it('marks a partial capture and lists its problems with code and byte offset', async () => {
    const bytes = toPcap(richPackets().slice(0, 40));
    const cut = await analyzeBytes(bytes.subarray(0, bytes.length - 7));
    const t = renderText(cut, { color: false });
    expect(t).toContain('PARTIAL: the capture could not be read to the end');
    expect(t).toMatch(/error: E_CAPTURE_TRUNCATED: record 40 is cut short .*\(at byte offset \d+\)/);
    expect(t).toContain('39 packets');
  });

  it('says so when there is no reset, and never throws on a real capture', async () => {
    const none = await analyzeBytes(toPcap(richPackets().filter((p) => !p.flags.includes('R'))));
    expect(renderText(none, { color: false })).toContain('no TCP reset in this capture');
    for (const f of corpusFilesWithResets()) {
      const { analyzeCapture } = await import('../../src/analyze/analyze.js');
      const r = await analyzeCapture(f);
      const t = renderText(r, { color: false });
      expect(t, f).toContain(`Resets: ${num(r.summary.rsts)}`);
      expect(r.summary.rsts, f).toBeGreaterThan(0);
    }
  });
});
