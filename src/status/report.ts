/**
 * `rstwatch status` as data: two collections of the same namespace → counters, per-second rates and the
 * grouped, explained view. Pure, so golden files can pin it down.
 */

import type { CollectResult, SourceKind } from '../collect/types.js';
import type { Problem } from '../internal/errors.js';
import type { Os } from '../model/charts.js';
import { counterGroups } from '../model/counters.js';

export interface StatusItem {
  counter: string;
  value: number | null;
  /** Per second over the interval; null when unknown (first read failed, or the counter went backwards). */
  rate: number | null;
  meaning: string;
}

export interface NamespaceStatus {
  source: SourceKind;
  netns: string;
  intervalSeconds: number;
  /** Raw values by kernel name. */
  counters: Record<string, number>;
  /** Per-second rates by the same names. */
  rates: Record<string, number | null>;
  groups: { id: string; title: string; items: StatusItem[] }[];
  /** Settings read alongside (FreeBSD: net.inet.tcp.syncookies, …). */
  settings?: Record<string, number | string>;
  problems: Problem[];
}

export function buildNamespaceStatus(
  os: Os,
  first: CollectResult,
  second: CollectResult,
  intervalSeconds: number,
): NamespaceStatus {
  const rates: Record<string, number | null> = {};
  for (const [k, v] of Object.entries(second.counters)) {
    const before = first.counters[k];
    // --interval 0 reads once: totals only, no rate (docs/status.md).
    if (before === undefined || intervalSeconds <= 0) rates[k] = null;
    else if (v < before)
      rates[k] = null; // went backwards: a reset, never a negative rate
    else rates[k] = (v - before) / intervalSeconds;
  }
  const groups = counterGroups(os).map((g) => ({
    id: g.id,
    title: g.title,
    items: g.counters.map((c) => ({
      counter: c.counter,
      value: second.counters[c.counter] ?? null,
      rate: rates[c.counter] ?? null,
      meaning: c.meaning,
    })),
  }));
  // Problems of both reads, without repeating the same one.
  const seen = new Set<string>();
  const problems: Problem[] = [];
  for (const p of [...first.problems, ...second.problems]) {
    const k = `${p.code}|${p.file}|${p.line}|${p.message}`;
    if (seen.has(k)) continue;
    seen.add(k);
    problems.push(p);
  }
  const out: NamespaceStatus = {
    source: second.source,
    netns: second.netns,
    intervalSeconds,
    counters: second.counters,
    rates,
    groups,
    problems,
  };
  if (second.settings) out.settings = second.settings;
  return out;
}

export interface StatusJson extends NamespaceStatus {
  version: string;
  time: string;
  namespaces: NamespaceStatus[];
}

/** The top level is the first namespace (the host), so `.counters.AttemptFails` works; all are listed too. */
export function statusJson(version: string, time: Date, all: NamespaceStatus[]): StatusJson {
  const first = all[0]!;
  return { version, time: time.toISOString(), ...first, namespaces: all };
}

function fmtRate(r: number | null): string {
  if (r === null) return '—';
  if (r === 0) return '0';
  return r >= 100 ? r.toFixed(0) : r.toFixed(1);
}

export function renderText(all: NamespaceStatus[], time: Date): string {
  let out = '';
  for (const ns of all) {
    out += `rstwatch status — namespace ${ns.netns} (${ns.source}), ${ns.intervalSeconds > 0 ? `rates over ${ns.intervalSeconds.toFixed(2)} s` : 'totals only'}, ${time.toISOString()}\n`;
    for (const p of ns.problems) {
      const where = p.file ? `${p.file}${p.line ? `:${p.line}` : ''}${p.column ? `:${p.column}` : ''}: ` : '';
      out += `  ! ${where}${p.severity} ${p.code}: ${p.message}\n`;
    }
    for (const g of ns.groups) {
      out += `\n  ${g.title}\n`;
      out += `    ${'counter'.padEnd(26)} ${'per s'.padStart(8)} ${'total'.padStart(14)}  meaning\n`;
      for (const it of g.items) {
        const total = it.value === null ? 'n/a' : String(it.value);
        out += `    ${it.counter.padEnd(26)} ${fmtRate(it.rate).padStart(8)} ${total.padStart(14)}  ${it.meaning}\n`;
      }
    }
    out += '\n';
  }
  return out;
}
