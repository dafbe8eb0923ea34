/**
 * The clock seam. Everything that needs time gets a Clock, so that sampling, interpolation, gaps and
 * alert timing are testable in simulated time without sleeping.
 *
 * Two clocks, on purpose: the wall clock names the slots (users and Netdata think in epoch seconds) and
 * the monotonic clock measures intervals. When the two disagree by more than a tolerance, the wall clock
 * jumped (NTP step, manual change) or the machine was suspended (CLOCK_MONOTONIC stops during suspend on
 * Linux, the wall clock does not): the sampler then records a gap instead of inventing data.
 */

export interface Clock {
  /** Wall-clock time in milliseconds since the epoch. */
  wallMs(): number;
  /** Monotonic time in milliseconds, arbitrary origin. */
  monoMs(): number;
  /** Run fn after ms milliseconds (of this clock); returns a cancel function. */
  setTimer(ms: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  wallMs: () => Date.now(),
  // process.hrtime, not performance.now(): the same CLOCK_MONOTONIC, without loading node:perf_hooks and
  // its eight modules on first use (~2 ms of every `rstwatch analyze`, whose reader reads this clock)
  monoMs: () => Number(process.hrtime.bigint()) / 1e6,
  setTimer(ms, fn) {
    const t = setTimeout(fn, Math.max(0, ms));
    return () => clearTimeout(t);
  },
};

/** A clock driven by the test: `advance()` moves both clocks and fires due timers in order. */
export class FakeClock implements Clock {
  private wall: number;
  private mono: number;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 1;

  constructor(startWallMs = Date.UTC(2026, 0, 1), startMonoMs = 1_000_000) {
    this.wall = startWallMs;
    this.mono = startMonoMs;
  }

  wallMs(): number {
    return this.wall;
  }
  monoMs(): number {
    return this.mono;
  }
  setTimer(ms: number, fn: () => void): () => void {
    const id = this.nextId++;
    this.timers.push({ at: this.mono + Math.max(0, ms), fn, id });
    return () => {
      this.timers = this.timers.filter((t) => t.id !== id);
    };
  }

  /** Advance both clocks by ms, firing every timer that falls due, in time order. */
  advance(ms: number): void {
    const end = this.mono + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.wall += next.at - this.mono;
      this.mono = next.at;
      next.fn();
    }
    this.wall += end - this.mono;
    this.mono = end;
  }

  /** Step only the wall clock (an NTP step or a manual change). */
  jumpWall(ms: number): void {
    this.wall += ms;
  }

  /** A suspend: the wall clock moves, the monotonic clock does not, and no timer fires meanwhile. */
  suspend(ms: number): void {
    this.wall += ms;
  }

  pendingTimers(): number {
    return this.timers.length;
  }
}
