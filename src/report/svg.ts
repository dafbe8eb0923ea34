/**
 * Inline SVG charts for the HTML report, drawn by our own code: no library, no script, no external fetch.
 * Every text that reaches the markup goes through `esc` (addresses and names come from hostile captures).
 * Colours come from the page's CSS classes (`.bar`, `.axis`, …), so dark mode and print need no second copy.
 */

import { bucketLabel, MAX_DATE_SEC, num } from './format.js';

/** Escapes text for HTML/SVG text nodes and double- or single-quoted attribute values. */
export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;',
  );
}

/** Coordinates with at most 2 decimals: smaller files, identical rendering. */
const f = (x: number) => String(Math.round(x * 100) / 100);

/** `HH:MM:SS` UTC of an epoch second (`--:--:--` beyond what a Date can hold: a corrupt capture time). */
function clock(sec: number): string {
  if (!(Math.abs(sec) <= MAX_DATE_SEC)) return '--:--:--';
  return new Date(sec * 1000).toISOString().slice(11, 19);
}

export interface TimelineInput {
  startSec: number;
  bucketSec: number;
  counts: readonly number[];
}

/**
 * RSTs per bucket as vertical bars. The SVG stretches to the page's width at a fixed height
 * (`preserveAspectRatio="none"`), so it holds no text, which would stretch with it: the axis labels are HTML
 * around it, readable at the same size on a phone and a laptop. Each bar has a `<title>` (a tooltip on a
 * laptop, read by screen readers). Empty buckets draw nothing; a bar is at most 3% of the width wide so a
 * capture of a few seconds does not look like a wall.
 */
export function timelineSvg(t: TimelineInput, title: string): string {
  const W = 1000;
  const H = 200;
  const n = Math.max(1, t.counts.length);
  let max = 0;
  for (const v of t.counts) if (v > max) max = v;
  const step = W / n;
  const barW = Math.min(30, Math.max(0.6, step > 3 ? step * 0.85 : step));
  const parts: string[] = [];
  parts.push(
    `<svg class="chart timeline" viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" role="img" aria-label="${esc(title)}" xmlns="http://www.w3.org/2000/svg">`,
    `<title>${esc(title)}</title>`,
  );
  for (const frac of [0, 0.5, 1])
    parts.push(
      `<line class="grid" x1="0" x2="${W}" y1="${f(H - frac * (H - 1))}" y2="${f(H - frac * (H - 1))}" vector-effect="non-scaling-stroke"/>`,
    );
  t.counts.forEach((v, i) => {
    if (v <= 0 || max <= 0) return;
    const h = Math.max(1.5, (v / max) * (H - 1));
    const at = t.startSec + i * t.bucketSec;
    const tip = `${clock(at)} UTC${t.bucketSec > 1 ? ` (+${bucketLabel(t.bucketSec)})` : ''}: ${num(v)} RST${v === 1 ? '' : 's'}`;
    parts.push(
      `<rect class="bar" x="${f(i * step + (step - barW) / 2)}" y="${f(H - h)}" width="${f(barW)}" height="${f(h)}"><title>${esc(tip)}</title></rect>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}

/** The HTML labels under the timeline: start, middle and end times (UTC). */
export function timelineAxis(t: TimelineInput): string {
  const end = t.startSec + t.counts.length * t.bucketSec;
  const mid = t.startSec + Math.floor(t.counts.length / 2) * t.bucketSec;
  return `<div class="axis"><span>${clock(t.startSec)}</span>${t.counts.length >= 4 ? `<span>${clock(mid)}</span>` : ''}<span>${clock(end)} UTC</span></div>`;
}

export interface BarItem {
  label: string;
  value: number;
}

/**
 * Horizontal bars, one row per item: the label on its own line above the bar (long IPv6 addresses fit on a
 * phone), the count after the bar's end.
 */
export function barsSvg(items: readonly BarItem[], title: string): string {
  const W = 400;
  const rowH = 36;
  const valueW = 70;
  const H = Math.max(1, items.length) * rowH + 4;
  let max = 0;
  for (const it of items) if (it.value > max) max = it.value;
  const parts: string[] = [
    `<svg class="chart bars" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}" xmlns="http://www.w3.org/2000/svg">`,
    `<title>${esc(title)}</title>`,
  ];
  items.forEach((it, i) => {
    const y = i * rowH;
    const w = max > 0 ? Math.max(2, (it.value / max) * (W - valueW)) : 2;
    parts.push(
      `<text class="label" x="0" y="${y + 14}">${esc(shorten(it.label, MAX_LABEL))}</text>`,
      `<rect class="bar" x="0" y="${y + 20}" width="${f(w)}" height="12" rx="2"><title>${esc(`${it.label}: ${num(it.value)}`)}</title></rect>`,
      `<text class="value" x="${f(w + 6)}" y="${y + 31}">${num(it.value)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}

/** Characters of a bar label that fit the chart's width at its font size; the whole label is in the tooltip. */
const MAX_LABEL = 56;

function shorten(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}
