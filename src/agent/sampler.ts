/**
 * The sampler: one timer, ticks aligned to wall-clock multiples of the interval (Netdata collects on
 * second boundaries too, so slots line up with its charts), each tick reads every collector and feeds
 * the store. Intervals are measured on the monotonic clock; when wall and monotonic time disagree, the
 * wall clock jumped or the machine slept, and the store records a gap instead of inventing data.
 */

import type { Collector, CollectResult } from '../collect/types.js';
import type { Clock } from '../internal/clock.js';
import { formatProblem, type Problem } from '../internal/errors.js';
import type { Logger } from '../internal/log.js';
import type { Store } from '../store/store.js';

export interface SamplerStats {
  samples: number;
  /** Ticks that fired more than `lateMs` after their boundary. */
  late: number;
  /** Boundaries with no sample (the previous tick was still running, or the process was stopped). */
  missed: number;
  clockJumps: number;
  lastSampleWallMs: number;
  lastDurationUs: number;
  maxDurationUs: number;
  maxLatenessMs: number;
  /** Problems seen, by code, counted per occurrence. */
  errors: Map<string, number>;
}

/**
 * What one tick fed the store, exactly: enough to replay the store and the alert engine offline (the
 * agent's debug counters file, bench/soak.mjs) and to measure how late the tick was.
 */
export interface SampleInfo {
  /** The second boundary this tick belongs to (epoch ms). */
  boundaryMs: number;
  /** Monotonic time of the tick (ms). */
  monoMs: number;
  /** True when the clocks disagreed and every series restarted (a jump or a suspend). */
  gap: boolean;
  /** The wall clock went backwards to this second; slots after it were dropped (store.clockWentBack). */
  clockBackToSec?: number;
  /** Each collector's counters, in collector order, as ingested. */
  results: readonly { netns: string; counters: Readonly<Record<string, number>> }[];
  /** The value ingested into netdata.uptime. */
  uptimeSeconds: number;
}

export interface SamplerOptions {
  clock: Clock;
  collectors: Collector[];
  store: Store;
  log: Logger;
  intervalSeconds: number;
  /** Seconds between store flushes. */
  flushEverySeconds: number;
  /** Called after each tick (the alert engine), with what the tick fed the store. */
  onTick?: (wallMs: number, sample: SampleInfo) => void;
  /** How far wall and monotonic time may disagree per tick before it is a jump (ms). */
  jumpToleranceMs?: number;
  lateMs?: number;
  /** A collector read that takes longer is abandoned for this tick (default: the interval, at least 2 s). */
  collectTimeoutMs?: number;
}

/** How far before its boundary a timer may fire and still be waited out (timer slack, not a clock step). */
const EARLY_TOLERANCE_MS = 50;

export class Sampler {
  readonly stats: SamplerStats = {
    samples: 0,
    late: 0,
    missed: 0,
    clockJumps: 0,
    lastSampleWallMs: Number.NaN,
    lastDurationUs: 0,
    maxDurationUs: 0,
    maxLatenessMs: 0,
    errors: new Map(),
  };
  private readonly o: Required<Omit<SamplerOptions, 'onTick'>> & Pick<SamplerOptions, 'onTick'>;
  private readonly intervalMs: number;
  private cancel: (() => void) | undefined;
  private running = false;
  private busy = false;
  private prevWall = Number.NaN;
  private prevMono = Number.NaN;
  private startMono = Number.NaN;
  private lastFlushMono = Number.NaN;
  /** Problem keys active at the last tick, so a persisting problem is logged once and its end is logged. */
  private active = new Map<string, Problem>();

  constructor(opts: SamplerOptions) {
    this.o = {
      jumpToleranceMs: 500,
      lateMs: 100,
      collectTimeoutMs: Math.max(2000, opts.intervalSeconds * 1000),
      ...opts,
    };
    this.intervalMs = opts.intervalSeconds * 1000;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.startMono = this.o.clock.monoMs();
    this.lastFlushMono = this.startMono;
    this.schedule();
  }

  /** Stop ticking and write what is pending. */
  async stop(): Promise<void> {
    this.running = false;
    this.cancel?.();
    this.cancel = undefined;
    // Let a tick in progress finish before the final flush.
    while (this.busy) await new Promise((r) => setTimeout(r, 5));
    this.flush();
  }

  uptimeSeconds(): number {
    return Number.isNaN(this.startMono) ? 0 : (this.o.clock.monoMs() - this.startMono) / 1000;
  }

  private schedule(): void {
    if (!this.running) return;
    const wall = this.o.clock.wallMs();
    const next = (Math.floor(wall / this.intervalMs) + 1) * this.intervalMs;
    this.cancel = this.o.clock.setTimer(next - wall, () => {
      void this.tick(next);
    });
  }

  private async tick(boundaryMs: number): Promise<void> {
    if (!this.running) return;
    const { clock, store, collectors } = this.o;
    let wall = clock.wallMs();
    if (wall < boundaryMs && boundaryMs - wall <= EARLY_TOLERANCE_MS) {
      // A timer may fire a hair early against the wall clock; a sample must belong to its slot.
      this.cancel = clock.setTimer(boundaryMs - wall, () => void this.tick(boundaryMs));
      return;
    }
    // Further before the boundary than a timer's slack: the wall clock was stepped back. Sample now; the
    // jump check below sees it, and the next boundary is taken from the new wall time.
    this.schedule();
    if (this.busy) {
      this.stats.missed++;
      return;
    }
    this.busy = true;
    try {
      const mono = clock.monoMs();
      wall = clock.wallMs();
      const lateness = wall - boundaryMs;
      if (lateness > this.o.lateMs) this.stats.late++;
      if (lateness > this.stats.maxLatenessMs) this.stats.maxLatenessMs = lateness;
      let gap = false;
      let clockBackToSec: number | undefined;
      if (!Number.isNaN(this.prevWall)) {
        const dWall = wall - this.prevWall;
        const dMono = mono - this.prevMono;
        if (dWall < -this.o.jumpToleranceMs) {
          this.stats.clockJumps++;
          this.o.log.warn(
            'wall clock went backwards; dropping the slots it had named and restarting series',
            {
              byMs: Math.round(dWall - dMono),
            },
          );
          clockBackToSec = Math.floor(wall / 1000);
          store.clockWentBack(clockBackToSec);
          gap = true;
        } else if (Math.abs(dWall - dMono) > this.o.jumpToleranceMs) {
          this.stats.clockJumps++;
          this.o.log.warn('wall clock jumped or the machine was suspended; recording a gap', {
            wallMs: Math.round(dWall),
            monotonicMs: Math.round(dMono),
          });
          gap = true;
        } else if (dWall > this.intervalMs * 1.5) {
          this.stats.missed += Math.round(dWall / this.intervalMs) - 1;
        }
      }
      this.prevWall = wall;
      this.prevMono = mono;
      const tUs = wall * 1000;
      const t0 = performance.now();
      // Synchronous collectors are read in place; only the others go through a promise with a timeout.
      const results = collectors.every((c) => c.collectSync !== undefined)
        ? collectors.map((c) => this.collectInPlace(c))
        : await Promise.all(
            collectors.map((c) => (c.collectSync ? this.collectInPlace(c) : this.collectBounded(c))),
          );
      const seen = new Set<string>();
      for (const r of results) {
        store.ingest(r.netns, r.counters, tUs, gap);
        for (const p of r.problems) this.noteProblem(r.netns, p, seen);
      }
      const uptime = store.chart('netdata.uptime');
      const uptimeSeconds = Math.floor(this.uptimeSeconds());
      if (uptime) store.ingestChart(uptime, { uptime: uptimeSeconds }, tUs);
      for (const [k, p] of this.active) {
        if (!seen.has(k)) {
          this.o.log.info('recovered', { code: p.code, file: p.file });
          this.active.delete(k);
        }
      }
      const us = (performance.now() - t0) * 1000;
      this.stats.samples++;
      this.stats.lastSampleWallMs = wall;
      this.stats.lastDurationUs = us;
      if (us > this.stats.maxDurationUs) this.stats.maxDurationUs = us;
      if (mono - this.lastFlushMono >= this.o.flushEverySeconds * 1000) {
        this.lastFlushMono = mono;
        this.flush();
      }
      const sample: SampleInfo = {
        boundaryMs,
        monoMs: mono,
        gap,
        results: results.map((r) => ({ netns: r.netns, counters: r.counters })),
        uptimeSeconds,
      };
      if (clockBackToSec !== undefined) sample.clockBackToSec = clockBackToSec;
      this.o.onTick?.(wall, sample);
    } catch (err) {
      // Nothing in a tick should throw; if something does, keep sampling and say it once.
      this.stats.errors.set('E_INTERNAL', (this.stats.errors.get('E_INTERNAL') ?? 0) + 1);
      this.o.log.once(
        `tick-${String(err)}`,
        'error',
        `sampling failed: ${(err as Error)?.stack ?? String(err)}`,
      );
    } finally {
      this.busy = false;
    }
  }

  /** A synchronous collector's read; never throws (what it throws is that collector's failure). */
  private collectInPlace(c: Collector): CollectResult {
    try {
      return c.collectSync!();
    } catch (err) {
      return {
        source: c.source,
        netns: c.netns,
        counters: {},
        problems: [
          {
            code: 'E_COLLECT_FAILED',
            message: `reading ${c.describe()} failed: ${(err as Error)?.message ?? String(err)}`,
            severity: 'error',
          },
        ],
      };
    }
  }

  /**
   * One collector's read, bounded in time and never rejecting: a hung or failing collector costs its own
   * series a gap, not the other namespaces' data or the next ticks.
   */
  private collectBounded(c: Collector): Promise<CollectResult> {
    const failed = (code: string, message: string): CollectResult => ({
      source: c.source,
      netns: c.netns,
      counters: {},
      problems: [{ code, message, severity: 'error' }],
    });
    return new Promise<CollectResult>((resolve) => {
      let done = false;
      const cancel = this.o.clock.setTimer(this.o.collectTimeoutMs, () => {
        if (done) return;
        done = true;
        resolve(
          failed(
            'E_COLLECT_TIMEOUT',
            `reading ${c.describe()} took longer than ${this.o.collectTimeoutMs} ms`,
          ),
        );
      });
      // Through a then(), so a collector that throws synchronously is a rejection like any other.
      Promise.resolve()
        .then(() => c.collect())
        .then(
          (r) => {
            if (done) return;
            done = true;
            cancel();
            resolve(r);
          },
          (err: unknown) => {
            if (done) return;
            done = true;
            cancel();
            resolve(
              failed(
                'E_COLLECT_FAILED',
                `reading ${c.describe()} failed: ${(err as Error)?.message ?? String(err)}`,
              ),
            );
          },
        );
    });
  }

  private noteProblem(netns: string, p: Problem, seen: Set<string>): void {
    this.stats.errors.set(p.code, (this.stats.errors.get(p.code) ?? 0) + 1);
    const key = `${netns}|${p.code}|${p.file ?? ''}`;
    seen.add(key);
    if (this.active.has(key)) return;
    this.active.set(key, p);
    const fields = { netns, code: p.code };
    if (p.severity === 'warning') this.o.log.warn(formatProblem(p), fields);
    else this.o.log.error(formatProblem(p), fields);
  }

  private flush(): void {
    this.o.store.flush(Math.floor(this.o.clock.wallMs() / 1000));
  }
}
