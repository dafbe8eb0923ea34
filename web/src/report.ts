/**
 * A capture's analysis report (the `rstwatch analyze --json` schema, docs/analyze.md) rendered in the page:
 * the summary, the findings in plain language, the causes with what each means (src/model/explain.ts),
 * who sent and received the resets, and when.
 */

import { topicBlock } from './alerts.js';
import { codeText, h, svg } from './dom.js';
import { loadExplain } from './explain-lazy.js';
import { dateTime, duration, num } from './format.js';

interface Counted {
  key: string;
  count: number;
}

/** The part of the report the page reads (schemaVersion 1). */
export interface ReportJson {
  schemaVersion: number;
  capture: {
    partial: boolean;
    problems: { code: string; message: string; severity: string }[];
    drops: number | null;
  };
  summary: {
    packets: number;
    firstTime: number | null;
    durationSec: number;
    connectionsWithResets: number;
    rsts: number;
    rstInbound: number;
    rstOutbound: number;
  };
  causes: {
    cause: string;
    title: string;
    topic: string;
    count: number;
    byConfidence: Record<string, number>;
    examples: string[];
  }[];
  top: { senders: Counted[]; receivers: Counted[]; ports: Counted[]; pairs: Counted[] };
  timeline: { startSec: number; bucketSec: number; counts: number[] };
  findings: { cause: string; topic: string; confidence: string; count: number; text: string }[];
}

function counted(title: string, id: string, rows: readonly Counted[]): HTMLElement {
  const max = Math.max(1, ...rows.map((r) => r.count));
  return h(
    'div',
    { class: 'toplist', id },
    h('h4', {}, title),
    rows.length === 0
      ? h('p', { class: 'muted' }, 'none')
      : h(
          'ol',
          {},
          rows.slice(0, 10).map((r) => {
            const bar = h('span', { class: 'bar', 'aria-hidden': 'true' });
            bar.style.width = `${(r.count / max) * 100}%`;
            return h(
              'li',
              {},
              bar,
              h('span', { class: 'k' }, r.key),
              h('span', { class: 'n' }, num(r.count)),
            );
          }),
        ),
  );
}

function timeline(t: ReportJson['timeline']): HTMLElement | null {
  if (t.counts.length === 0) return null;
  const max = Math.max(1, ...t.counts);
  const W = 600;
  const H = 60;
  const bw = W / t.counts.length;
  const root = svg('svg', {
    class: 'spark',
    viewBox: `0 0 ${W} ${H}`,
    preserveAspectRatio: 'none',
    'aria-hidden': 'true',
  });
  t.counts.forEach((c, i) => {
    if (c === 0) return;
    const hgt = Math.max(1, (c / max) * (H - 2));
    root.append(svg('rect', { x: i * bw, y: H - hgt, width: Math.max(1, bw - 1), height: hgt }));
  });
  const peak = t.counts.indexOf(Math.max(...t.counts));
  return h(
    'figure',
    { class: 'report-timeline' },
    root,
    h(
      'figcaption',
      { class: 'muted' },
      `Resets per ${t.bucketSec} s from ${dateTime(t.startSec)}; most (${num(t.counts[peak] ?? 0)}) at ${dateTime(t.startSec + peak * t.bucketSec)}.`,
    ),
  );
}

export function renderReport(r: ReportJson, captureId: string): HTMLElement {
  const s = r.summary;
  const dir =
    s.rstInbound + s.rstOutbound > 0
      ? ` (${num(s.rstInbound)} received, ${num(s.rstOutbound)} sent by this host)`
      : '';
  const causes = h(
    'table',
    { class: 'causes' },
    h('caption', { class: 'visually-hidden' }, 'Resets by cause'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'Cause'),
        h('th', { scope: 'col' }, 'Resets'),
        h('th', { scope: 'col' }, 'Examples'),
      ),
    ),
    h(
      'tbody',
      {},
      r.causes.map((c) => {
        // What the cause means, from explain.ts (its own chunk, loaded on first use).
        const explain = h('details', { class: 'explain', hidden: true }, h('summary', {}, 'What this means'));
        void loadExplain().then(
          (findTopic) => {
            const topic = findTopic(c.topic);
            if (!topic) return;
            explain.append(topicBlock(topic));
            explain.hidden = false;
          },
          () => undefined,
        );
        const conf = Object.entries(c.byConfidence)
          .filter(([, n]) => n > 0)
          .map(([k, n]) => `${n} ${k}`)
          .join(', ');
        return h(
          'tr',
          { 'data-cause': c.cause },
          h('td', {}, h('strong', {}, c.title), explain),
          h('td', { class: 'num' }, num(c.count), conf ? h('div', { class: 'muted' }, conf) : null),
          h('td', {}, c.examples.join(', ')),
        );
      }),
    ),
  );
  const problems = r.capture.problems.filter((p) => p.severity === 'error');
  return h(
    'article',
    { class: 'report-body', 'data-rsts': s.rsts, 'data-capture': captureId },
    h('h3', {}, `Report of capture ${captureId}`),
    h(
      'p',
      { class: 'report-summary' },
      `${num(s.rsts)} resets${dir} in ${num(s.connectionsWithResets)} connections over ${duration(s.durationSec)}; ` +
        `${num(s.packets)} packets captured` +
        (s.firstTime !== null ? ` from ${dateTime(s.firstTime)}.` : '.') +
        (r.capture.drops ? ` The capture lost ${num(r.capture.drops)} packets.` : ''),
    ),
    problems.length > 0
      ? h(
          'p',
          { class: 'error' },
          `The capture is damaged: ${problems.map((p) => `${p.code} ${p.message}`).join('; ')}`,
        )
      : null,
    s.rsts === 0 ? h('p', {}, 'No reset was seen during the capture.') : null,
    r.findings.length > 0
      ? h(
          'ol',
          { class: 'findings' },
          r.findings.map((f) =>
            h(
              'li',
              { 'data-cause': f.cause },
              codeText(f.text),
              h('span', { class: 'muted' }, ` (${f.confidence})`),
            ),
          ),
        )
      : null,
    r.causes.length > 0 ? h('div', { class: 'table-wrap' }, causes) : null,
    timeline(r.timeline),
    h(
      'div',
      { class: 'grid lists' },
      counted('Sent by', `report-senders-${captureId}`, r.top.senders),
      counted('Received by', `report-receivers-${captureId}`, r.top.receivers),
      counted('Service ports', `report-ports-${captureId}`, r.top.ports),
    ),
  );
}
