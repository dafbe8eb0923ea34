/**
 * A fixed-size ring of per-slot values for one series. Slot timestamps are epoch seconds, multiples of
 * `updateEvery`; a missing slot is NaN (a gap), exactly as Netdata stores an empty point. No allocation
 * after construction: the ring is written every second for every dimension.
 */

export class Ring {
  readonly capacity: number;
  readonly updateEvery: number;
  private readonly values: Float64Array;
  /** Timestamp of the newest slot, or NaN when empty. */
  private last = Number.NaN;
  private count = 0;

  constructor(capacity: number, updateEvery = 1) {
    if (!Number.isInteger(capacity) || capacity < 2)
      throw new RangeError('ring capacity must be an integer ≥ 2');
    this.capacity = capacity;
    this.updateEvery = updateEvery;
    this.values = new Float64Array(capacity).fill(Number.NaN);
  }

  private index(t: number): number {
    const k = Math.floor(t / this.updateEvery) % this.capacity;
    return k < 0 ? k + this.capacity : k;
  }

  get lastT(): number {
    return this.last;
  }

  /** Timestamp of the oldest slot still held (NaN when empty). */
  get firstT(): number {
    if (this.count === 0) return Number.NaN;
    return this.last - (this.count - 1) * this.updateEvery;
  }

  get size(): number {
    return this.count;
  }

  /**
   * Store v at slot t. Slots skipped since the last one become gaps. A slot older than the newest is
   * written in place when still held (a late value, or history loaded from disk) and dropped otherwise.
   */
  put(t: number, v: number): void {
    const ue = this.updateEvery;
    if (this.count === 0) {
      this.values[this.index(t)] = v;
      this.last = t;
      this.count = 1;
      return;
    }
    if (t <= this.last) {
      if (t > this.last - this.count * ue) this.values[this.index(t)] = v;
      return;
    }
    const steps = Math.round((t - this.last) / ue);
    if (steps >= this.capacity) {
      this.values.fill(Number.NaN);
      this.count = 0;
    } else {
      for (let s = 1; s < steps; s++) this.values[this.index(this.last + s * ue)] = Number.NaN;
    }
    this.values[this.index(t)] = v;
    this.last = t;
    this.count = Math.min(this.capacity, this.count + steps);
  }

  /** The value at slot t (NaN when a gap or not held). */
  get(t: number): number {
    if (t % this.updateEvery !== 0) return Number.NaN;
    if (this.count === 0 || t > this.last || t <= this.last - this.count * this.updateEvery)
      return Number.NaN;
    return this.values[this.index(t)]!;
  }

  /** Drop every slot newer than t (the wall clock went backwards past them). */
  truncateAfter(t: number): void {
    if (this.count === 0 || t >= this.last) return;
    const ue = this.updateEvery;
    const first = this.firstT;
    const newLast = Math.floor(t / ue) * ue;
    for (let s = this.last; s > newLast; s -= ue) this.values[this.index(s)] = Number.NaN;
    if (newLast < first) {
      this.count = 0;
      this.last = Number.NaN;
      return;
    }
    this.count = Math.round((newLast - first) / ue) + 1;
    this.last = newLast;
  }

  /** Call fn(t, v) for each held slot in [after, before], oldest first. */
  forEach(after: number, before: number, fn: (t: number, v: number) => void): void {
    if (this.count === 0) return;
    const ue = this.updateEvery;
    const lo = Math.max(after, this.firstT);
    const hi = Math.min(before, this.last);
    const start = Math.ceil(lo / ue) * ue;
    for (let t = start; t <= hi; t += ue) fn(t, this.values[this.index(t)]!);
  }
}
