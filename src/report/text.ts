/**
 * `rstwatch analyze` terminal report: summary, direction, a sparkline timeline, causes with examples, findings,
 * next steps (from src/model/explain.ts), top talkers, and the first connections with their evidence.
 *
 * Colour is decided by the caller (only when stdout is a terminal and NO_COLOR is unset, https://no-color.org);
 * without colour the output is plain text a script or an e-mail can carry.
 */

import type { AnalysisReport, Counted } from '../analyze/analyze.js';
import { bucketLabel, codeSpans, humanDuration, num, utcSpan, wrap } from './format.js';
import { topicAdvice, topicsOf } from './topics.js';

export interface TextOptions {
  color: boolean;
  /** How many connections to show with their evidence (default 10). */
  connections?: number;
  /** Terminal width in columns (default 100; at least 60 is used). */
  width?: number;
  /** Next steps shown per topic (default 2). */
  stepsPerTopic?: number;
}

/** Eight heights of unicode block elements (U+2581–U+2588), lowest first. */
const SPARK = '▁▂▃▄▅▆▇█';

/**
 * One character per column, scaled to the largest column; values are folded (summed) into at most `width`
 * columns. Zero is a space and any non-zero value shows at least the lowest block, so a single reset in a
 * long capture stays visible.
 */
export function sparkline(values: readonly number[], width = 80): string {
  if (values.length === 0) return '';
  const cols = foldColumns(values, width).sums;
  let max = 0;
  for (const v of cols) if (v > max) max = v;
  return cols
    .map((v) => (v <= 0 || max <= 0 ? ' ' : SPARK[Math.min(7, Math.floor((v / max) * 7.999))]!))
    .join('');
}

/** Sums `values` into at most `width` columns of `per` values each. */
export function foldColumns(values: readonly number[], width: number): { sums: number[]; per: number } {
  const per = Math.max(1, Math.ceil(values.length / Math.max(1, width)));
  const sums: number[] = [];
  for (let i = 0; i < values.length; i += per) {
    let sum = 0;
    for (let j = i; j < i + per && j < values.length; j++) sum += values[j] ?? 0;
    sums.push(sum);
  }
  return { sums, per };
}

interface Styles {
  bold: (s: string) => string;
  dim: (s: string) => string;
  red: (s: string) => string;
  yellow: (s: string) => string;
  code: (s: string) => string;
}

function styles(color: boolean): Styles {
  const sgr = (open: string) => (s: string) => (color ? `\x1b[${open}m${s}\x1b[0m` : s);
  return { bold: sgr('1'), dim: sgr('2'), red: sgr('31'), yellow: sgr('33'), code: sgr('36') };
}

/** Backtick spans in colour (cyan) or, without colour, just their text. */
function spans(text: string, st: Styles): string {
  return codeSpans(text)
    .map((part, i) => (i % 2 === 1 ? st.code(part) : part))
    .join('');
}

function counted(items: readonly Counted[]): string {
  return items.map((i) => `${i.key} ${num(i.count)}`).join(', ');
}

export function renderText(r: AnalysisReport, opts: TextOptions): string {
  const st = styles(opts.color);
  const width = Math.max(60, opts.width ?? 100);
  const conf = (s: string) => (s === 'certain' ? st.red(s) : s === 'likely' ? st.yellow(s) : st.dim(s));
  const out: string[] = [];
  const para = (text: string, indent: string, rest = indent) => {
    for (const l of wrap(text, width, rest).map((l, i) => (i === 0 ? indent + l : l))) out.push(spans(l, st));
  };
  const s = r.summary;
  const cap = r.capture;

  out.push(st.bold(`rstwatch analyze: ${r.source}`));
  out.push(
    `  ${cap.format} (${cap.variant}) · ${num(s.packets)} packets · ${num(s.tcpSegments)} TCP segments · ${num(s.connections)} connections`,
  );
  if (s.firstTime !== null)
    out.push(`  ${utcSpan(s.firstTime, s.lastTime)} (${humanDuration(s.durationSec)})`);
  if (cap.partial)
    out.push(st.red('  PARTIAL: the capture could not be read to the end; this report covers what was read'));
  for (const p of cap.problems) out.push(`  ${p.severity}: ${p.code}: ${p.message}`);
  if (cap.drops !== null && cap.drops > 0)
    out.push(st.yellow(`  the capture itself dropped ${num(cap.drops)} packets: resets may be missing`));
  const skips = Object.entries(s.decodeSkips);
  if (skips.length > 0) out.push(st.dim(`  not TCP: ${skips.map(([k, v]) => `${k} ${num(v)}`).join(', ')}`));
  if (s.flowsEvicted > 0)
    out.push(
      st.yellow(
        `  ${num(s.flowsEvicted)} flows evicted (table full; raise --max-flows): some causes may be missed`,
      ),
    );
  out.push('');

  out.push(
    `${st.bold(`Resets: ${num(s.rsts)}`)} in ${num(s.connectionsWithResets)} of ${num(s.connections)} connections`,
  );
  if (s.rsts === 0) {
    out.push('  no TCP reset in this capture');
    return `${out.join('\n')}\n`;
  }
  out.push(
    `  IPv4 ${num(s.rstIpv4)} · IPv6 ${num(s.rstIpv6)} · RST+ACK ${num(s.rstAck)} · bare RST ${num(s.rstBare)}`,
  );
  out.push(
    `  sent by the originator (client) ${num(s.rstFromOrig)} · by the responder (server) ${num(s.rstFromResp)}`,
  );
  // Only SLL/SLL2 packet types and pcapng epb_flags say which way a packet went on the capturing host.
  if (s.rstInbound + s.rstOutbound > 0)
    out.push(
      `  on the capturing host: outgoing ${num(s.rstOutbound)} · incoming ${num(s.rstInbound)} · unknown ${num(s.rstDirectionUnknown)}`,
    );
  if (r.top.pairs.length > 0) para(`who to whom: ${counted(r.top.pairs)}`, '  ', '    ');
  out.push('');

  const tl = r.timeline;
  if (tl.counts.length > 0) {
    const { sums, per } = foldColumns(tl.counts, width - 4);
    const colSec = tl.bucketSec * per;
    let peak = 0;
    for (const v of sums) if (v > peak) peak = v;
    const end = tl.startSec + tl.counts.length * tl.bucketSec;
    out.push(`${st.bold('Timeline')} ${st.dim(`(RSTs per ${bucketLabel(colSec)}, one column each)`)}`);
    out.push(`  ${sparkline(tl.counts, width - 4)}`);
    out.push(st.dim(`  ${utcSpan(tl.startSec, end)}; peak ${num(peak)} per ${bucketLabel(colSec)}`));
    out.push('');
  }

  out.push(st.bold('Causes'));
  for (const x of r.causes) {
    const confs = (['certain', 'likely', 'possible'] as const)
      .filter((k) => x.byConfidence[k] > 0)
      .map((k) => `${num(x.byConfidence[k])} ${conf(k)}`)
      .join(', ');
    out.push(`  ${num(x.count).padStart(9)}  ${st.bold(x.title)}  ${confs}`);
    if (x.examples.length > 0) out.push(st.dim(`             e.g. ${x.examples.join('; ')}`));
  }
  out.push('');

  out.push(st.bold('Findings'));
  for (const f of r.findings) para(`• [${conf(f.confidence)}] ${f.text}`, '  ', '    ');
  out.push('');

  out.push(st.bold('Next steps'));
  for (const id of topicsOf(r.causes)) {
    const a = topicAdvice(id);
    out.push(`  ${a.title} ${st.dim(`— ${a.command}`)}`);
    for (const step of a.steps.slice(0, opts.stepsPerTopic ?? 2)) para(`- ${step}`, '    ', '      ');
  }
  out.push('');

  out.push(st.bold('Top'));
  if (r.top.senders.length > 0) para(`RST senders: ${counted(r.top.senders)}`, '  ', '    ');
  if (r.top.receivers.length > 0) para(`RST receivers: ${counted(r.top.receivers)}`, '  ', '    ');
  if (r.top.ports.length > 0) para(`service ports: ${counted(r.top.ports)}`, '  ', '    ');
  out.push('');

  const shown = r.connections.slice(0, opts.connections ?? 10);
  const more = shown.length < s.connectionsWithResets ? '; --json or --html list more' : '';
  out.push(
    st.bold(`Connections with resets (${num(shown.length)} of ${num(s.connectionsWithResets)} shown${more})`),
  );
  for (const k of shown) {
    out.push(`  ${k.orig} → ${k.resp}  ${k.connState} ${k.history}  ${k.cause} (${conf(k.confidence)})`);
    for (const e of k.evidence) out.push(st.dim(`      ${e}`));
  }
  return `${out.join('\n')}\n`;
}
