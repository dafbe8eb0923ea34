/**
 * Counters to per-second rates, with Netdata's incremental semantics (rrdset-collection.c,
 * `rrdset_done_interpolate`, as described in shared/design/netdata-health-semantics.md §5):
 *
 * - Collections happen at arbitrary instants; stored points live on slot boundaries T = k·updateEvery.
 * - The counter is interpolated linearly between two collections onto each boundary, and the point at T is
 *   (C(T) − C(T − updateEvery)) / updateEvery: a per-second rate for the slot (T − ue, T]. The remainder
 *   that falls after the last boundary is carried into the next slot, so the stored points add up to the
 *   counter's change (nothing is lost or invented at boundaries).
 * - The first collection stores an empty point (a gap): there is no previous value to difference.
 * - A counter that goes backwards (reboot, namespace re-created, 32-bit wrap) is a reset: a gap, and the
 *   new value becomes the baseline. Never a negative rate.
 * - If more than `gapAfterLostIterations` collections were missed (Netdata's `gap when lost iterations
 *   above`, default 1), or the clocks disagree (a wall-clock jump or a suspend), the slots in between are
 *   gaps, not interpolated guesses, and the series restarts.
 */

export type Emit = (slotT: number, value: number) => void;

export class IncrementalRate {
  private readonly ue: number;
  private readonly maxGapUs: number;
  private hasPrev = false;
  private prevTUs = 0;
  private prevC = 0;
  /** Last emitted slot (epoch seconds) and the interpolated counter there. */
  private slotT = 0;
  private slotC = 0;
  private emitted = false;

  constructor(updateEvery = 1, gapAfterLostIterations = 1) {
    this.ue = updateEvery;
    // One interval plus the lost iterations we tolerate, plus half an interval of timer jitter.
    this.maxGapUs = (1 + gapAfterLostIterations + 0.5) * updateEvery * 1e6;
  }

  /** Forget everything (the wall clock went backwards): the next value is a first collection (a gap). */
  reset(): void {
    this.hasPrev = false;
    this.emitted = false;
    this.slotT = 0;
  }

  /**
   * Add a collection of counter value c taken at tUs (epoch microseconds). Emits zero or more slots.
   * `forceGap` restarts the series (clock jump detected by the caller).
   */
  push(tUs: number, c: number, emit: Emit, forceGap = false): void {
    const ue = this.ue;
    const floorSlot = Math.floor(tUs / 1e6 / ue) * ue;
    if (!Number.isFinite(c)) {
      // The counter could not be read this time: a lost iteration, as when a Netdata collector skips one.
      // The next good value interpolates across it, or records a gap if too many were lost.
      return;
    }
    if (
      !this.hasPrev ||
      forceGap ||
      c < this.prevC ||
      tUs <= this.prevTUs ||
      tUs - this.prevTUs > this.maxGapUs
    ) {
      if (!this.emitted) {
        emit(floorSlot, Number.NaN);
      } else if (floorSlot > this.slotT) {
        // The missed slots and this one are gaps (the ring fills any slot it skips with NaN too).
        for (let t = this.slotT + ue; t <= floorSlot; t += ue) emit(t, Number.NaN);
      } else if (floorSlot === this.slotT) {
        // The break falls in the slot already stored: that slot becomes a gap, so the reset stays visible.
        emit(floorSlot, Number.NaN);
      }
      this.emitted = true;
      this.hasPrev = true;
      this.prevTUs = tUs;
      this.prevC = c;
      // The events between the boundary and this collection are unknown; counting from here keeps the sum
      // of stored points equal to the counter's change after the gap.
      this.slotT = Math.max(floorSlot, this.slotT);
      this.slotC = c;
      return;
    }
    const span = tUs - this.prevTUs;
    const dc = c - this.prevC;
    for (let t = this.slotT + ue; t * 1e6 <= tUs; t += ue) {
      const cT = this.prevC + (dc * (t * 1e6 - this.prevTUs)) / span;
      const v = (cT - this.slotC) / ue;
      emit(t, Math.max(v, 0));
      this.slotT = t;
      this.slotC = cT;
    }
    this.prevTUs = tUs;
    this.prevC = c;
  }
}

/**
 * Absolute dimensions (Netdata RRD_ALGORITHM_ABSOLUTE, e.g. netdata.uptime): the collected value itself,
 * stored at every boundary the collection crosses.
 */
export class AbsoluteValue {
  private readonly ue: number;
  private lastSlot = Number.NaN;
  constructor(updateEvery = 1) {
    this.ue = updateEvery;
  }
  reset(): void {
    this.lastSlot = Number.NaN;
  }
  push(tUs: number, v: number, emit: Emit): void {
    const slot = Math.floor(tUs / 1e6 / this.ue) * this.ue;
    if (slot === this.lastSlot) return;
    this.lastSlot = slot;
    emit(slot, v);
  }
}
