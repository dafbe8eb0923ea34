/**
 * `rstwatch analyze` terminal report: summary, causes, findings with next steps, top talkers, a sparkline
 * timeline, and the first connections with their evidence. Colour only when writing to a terminal.
 */

import type { AnalysisReport } from '../analyze/analyze.js';

export interface TextOptions {
  color: boolean;
  /** How many connections to show with their evidence (default 10). */
  connections?: number;
}

const SPARK = '▁▂▃▄▅▆▇█';

/** One character per value, scaled to the maximum (0 → space). */
export function sparkline(values: readonly number[], width = 80): string {
  if (values.length === 0) return '';
  // Fold into at most `width` columns (sums).
  const per = Math.ceil(values.length / width);
  const cols: number[] = [];
  for (let i = 0; i < values.length; i += per) {
    let sum = 0;
    for (let j = i; j < i + per && j < values.length; j++) sum += values[j] ?? 0;
    cols.push(sum);
  }
  const max = Math.max(...cols);
  return cols
    .map((v) => (v <= 0 || max <= 0 ? ' ' : SPARK[Math.min(7, Math.floor((v / max) * 7.999))]!))
    .join('');
}

const n = (x: number) => x.toLocaleString('en-US');

function iso(sec: number | null): string {
  return sec === null ? '-' : new Date(sec * 1000).toISOString();
}

export function renderText(r: AnalysisReport, opts: TextOptions): string {
  const c = opts.color;
  const bold = (s: string) => (c ? `\x1b[1m${s}\x1b[0m` : s);
  const dim = (s: string) => (c ? `\x1b[2m${s}\x1b[0m` : s);
  const red = (s: string) => (c ? `\x1b[31m${s}\x1b[0m` : s);
  const yellow = (s: string) => (c ? `\x1b[33m${s}\x1b[0m` : s);
  const conf = (s: string) => (s === 'certain' ? red(s) : s === 'likely' ? yellow(s) : dim(s));
  const out: string[] = [];
  const s = r.summary;

  out.push(bold(`rstwatch analyze: ${r.source}`));
  const cap = r.capture;
  out.push(
    `  ${cap.format} (${cap.variant}), ${n(s.packets)} packets, ${n(s.tcpSegments)} TCP segments, ${iso(s.firstTime)} → ${iso(s.lastTime)} (${s.durationSec.toFixed(3)} s)`,
  );
  if (cap.partial)
    out.push(red('  PARTIAL: the capture could not be read to the end; what was read is reported'));
  for (const p of cap.problems) out.push(`  ${p.severity}: ${p.code} at byte ${p.offset}: ${p.message}`);
  if (cap.drops !== null && cap.drops > 0) out.push(yellow(`  the capture dropped ${n(cap.drops)} packets`));
  const skips = Object.entries(s.decodeSkips);
  if (skips.length > 0) out.push(dim(`  not TCP: ${skips.map(([k, v]) => `${k} ${n(v)}`).join(', ')}`));
  if (s.flowsEvicted > 0)
    out.push(
      yellow(
        `  ${n(s.flowsEvicted)} flows evicted (table full; raise --max-flows): some causes may be missed`,
      ),
    );
  out.push('');

  out.push(
    bold(`Resets: ${n(s.rsts)}`) +
      `  (IPv4 ${n(s.rstIpv4)}, IPv6 ${n(s.rstIpv6)}; RST+ACK ${n(s.rstAck)}, bare RST ${n(s.rstBare)}` +
      (s.rstInbound + s.rstOutbound > 0
        ? `; inbound ${n(s.rstInbound)}, outbound ${n(s.rstOutbound)}, unknown ${n(s.rstDirectionUnknown)}`
        : '') +
      `) in ${n(s.connectionsWithResets)} of ${n(s.connections)} connections`,
  );
  if (s.rsts === 0) {
    out.push('  no TCP reset in this capture');
    return `${out.join('\n')}\n`;
  }
  if (r.timeline.counts.length > 1) {
    const max = Math.max(...r.timeline.counts);
    out.push(
      `  ${sparkline(r.timeline.counts)}  ${dim(`peak ${n(max)} per ${r.timeline.bucketSec === 1 ? 's' : `${r.timeline.bucketSec} s`}`)}`,
    );
  }
  out.push('');

  out.push(bold('Causes'));
  const w = Math.max(...r.causes.map((x) => x.title.length));
  for (const x of r.causes) {
    const confs = (['certain', 'likely', 'possible'] as const)
      .filter((k) => x.byConfidence[k] > 0)
      .map((k) => `${n(x.byConfidence[k])} ${conf(k)}`)
      .join(', ');
    out.push(
      `  ${n(x.count).padStart(8)}  ${x.title.padEnd(w)}  ${x.cause === 'unexplained' ? '' : `${confs}  `}${dim(`rstwatch explain ${x.topic}`)}`,
    );
  }
  out.push('');

  out.push(bold('Findings'));
  for (const f of r.findings) out.push(`  • [${conf(f.confidence)}] ${f.text.replace(/`/g, '')}`);
  out.push('');

  const list = (title: string, items: { key: string; count: number }[]) => {
    if (items.length === 0) return;
    out.push(`  ${title}: ${items.map((i) => `${i.key} ${n(i.count)}`).join(', ')}`);
  };
  out.push(bold('Top'));
  list('RST senders', r.top.senders);
  list('RST receivers', r.top.receivers);
  list('service ports', r.top.ports);
  out.push('');

  const shown = r.connections.slice(0, opts.connections ?? 10);
  out.push(
    bold(
      `Connections with resets (${shown.length} of ${n(s.connectionsWithResets)} shown; --json lists more)`,
    ),
  );
  for (const k of shown) {
    out.push(`  ${k.orig} → ${k.resp}  ${k.connState} ${k.history}  ${k.cause} (${conf(k.confidence)})`);
    for (const e of k.evidence) out.push(dim(`      ${e}`));
  }
  return `${out.join('\n')}\n`;
}
