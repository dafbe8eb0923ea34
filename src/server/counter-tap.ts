/**
 * The latest raw kernel counters of every namespace, as the sampler last read them, plus a few older
 * snapshots. /metrics exposes every Tcp/TcpExt counter (node_exporter's netstat collector does the same) and
 * the doctor endpoint compares two snapshots a minute apart, without reading /proc a second time: the tap
 * wraps each collector and remembers what it returned.
 */

import type { Collector, CollectResult } from '../collect/types.js';

export interface CounterSnapshot {
  /** Wall-clock milliseconds of the read. */
  wallMs: number;
  counters: Readonly<Record<string, number>>;
  settings?: Readonly<Record<string, number | string>>;
}

interface NetnsHistory {
  latest: CounterSnapshot | undefined;
  /** Older snapshots, oldest first, at least `snapshotEveryMs` apart, at most `keepSnapshots`. */
  older: CounterSnapshot[];
}

export class CounterTap {
  private readonly byNetns = new Map<string, NetnsHistory>();
  private readonly snapshotEveryMs: number;
  private readonly keepSnapshots: number;
  private readonly now: () => number;

  /** Defaults keep about two minutes back at 10-s spacing: enough for a one-minute doctor interval. */
  constructor(opts: { snapshotEveryMs?: number; keepSnapshots?: number; now?: () => number } = {}) {
    this.snapshotEveryMs = opts.snapshotEveryMs ?? 10_000;
    this.keepSnapshots = opts.keepSnapshots ?? 13;
    this.now = opts.now ?? Date.now;
  }

  /** A collector that behaves exactly like `c` and records every successful read. */
  wrap(c: Collector): Collector {
    const w: Collector = {
      netns: c.netns,
      source: c.source,
      describe: () => c.describe(),
      close: () => c.close(),
      collect: async () => {
        const r = await c.collect();
        this.record(r);
        return r;
      },
    };
    if (c.collectSync) {
      const sync = c.collectSync.bind(c);
      w.collectSync = () => {
        const r = sync();
        this.record(r);
        return r;
      };
    }
    return w;
  }

  /** Remember one read (empty reads — nothing could be read — are not snapshots). */
  record(r: CollectResult, wallMs = this.now()): void {
    // A read that found nothing always says why (a problem); with none, the counters are there and the
    // emptiness test (a walk of ~150 keys of a dictionary-mode object) is skipped.
    if (r.problems.length > 0 && isEmpty(r.counters)) return;
    let h = this.byNetns.get(r.netns);
    if (!h) {
      h = { latest: undefined, older: [] };
      this.byNetns.set(r.netns, h);
    }
    const snap: CounterSnapshot = { wallMs, counters: r.counters };
    if (r.settings) snap.settings = r.settings;
    const last = h.older[h.older.length - 1];
    if (!last || wallMs - last.wallMs >= this.snapshotEveryMs) {
      h.older.push(snap);
      if (h.older.length > this.keepSnapshots) h.older.shift();
    }
    h.latest = snap;
  }

  netnsList(): string[] {
    return [...this.byNetns.keys()];
  }

  latest(netns: string): CounterSnapshot | undefined {
    return this.byNetns.get(netns)?.latest;
  }

  /** The newest snapshot at least `ageMs` older than the latest, or the oldest held. */
  before(netns: string, ageMs: number): CounterSnapshot | undefined {
    const h = this.byNetns.get(netns);
    if (!h?.latest) return undefined;
    const limit = h.latest.wallMs - ageMs;
    let pick: CounterSnapshot | undefined;
    for (const s of h.older) {
      if (s.wallMs <= limit) pick = s;
      else break;
    }
    return pick ?? h.older[0];
  }
}

/** No own key (without building the array of ~150 keys that Object.keys would, every second). */
function isEmpty(o: Readonly<Record<string, number>>): boolean {
  for (const _ in o) return false;
  return true;
}
