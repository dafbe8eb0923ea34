/**
 * Input mutation for the fuzzer: AFL-style "havoc" stacks of byte-level edits, plus dictionary tokens
 * (keywords a format needs, which random bytes almost never spell) and, for line-oriented text formats,
 * line edits. Deterministic for a given seed so that a run can be repeated.
 */

/** mulberry32: small, fast, good enough for choosing mutations (not for anything secret). */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  u32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** 0 ≤ n < below (below ≥ 1). */
  below(below: number): number {
    return below <= 1 ? 0 : this.u32() % below;
  }
  chance(oneIn: number): boolean {
    return this.below(oneIn) === 0;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }
}

/** Values at the edges of integer ranges, where length and offset checks go wrong. */
const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xff, 16, 32, 64, 100, 0x0a, 0x0d, 0x20, 0x2c];
const INTERESTING_16 = [
  0, 1, 0x7fff, 0x8000, 0xffff, 0x00ff, 0x0100, 1500, 1501, 0x0600, 0x8100, 65535, 4096,
];
const INTERESTING_32 = [
  0,
  1,
  0x7fffffff,
  0x80000000,
  0xffffffff,
  0x0000ffff,
  0x00010000,
  262144,
  262145,
  16 * 1024 * 1024,
  12,
  28,
  0x0a0d0d0a,
  0x1a2b3c4d,
  0xa1b2c3d4,
  0xa1b23c4d,
];

export interface MutateOptions {
  maxLen: number;
  /** Tokens to insert or overwrite with. */
  dict: readonly Uint8Array[];
  /** Also edit whole lines (text formats). */
  lines: boolean;
}

/** A growable byte buffer the mutations edit in place. */
class Buf {
  b: Uint8Array;
  n: number;
  constructor(src: Uint8Array, cap: number) {
    this.b = new Uint8Array(Math.max(cap, src.length, 16));
    this.b.set(src);
    this.n = src.length;
  }
  ensure(extra: number): void {
    if (this.n + extra <= this.b.length) return;
    const bigger = new Uint8Array(Math.max(this.b.length * 2, this.n + extra));
    bigger.set(this.b.subarray(0, this.n));
    this.b = bigger;
  }
  insert(at: number, bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.b.copyWithin(at + bytes.length, at, this.n);
    this.b.set(bytes, at);
    this.n += bytes.length;
  }
  remove(at: number, len: number): void {
    this.b.copyWithin(at, at + len, this.n);
    this.n -= len;
  }
  overwrite(at: number, bytes: Uint8Array): void {
    const len = Math.min(bytes.length, this.n - at);
    this.b.set(bytes.subarray(0, len), at);
  }
}

function putInt(buf: Buf, at: number, value: number, width: 1 | 2 | 4, le: boolean): void {
  if (at + width > buf.n) return;
  for (let i = 0; i < width; i++) {
    const shift = 8 * (le ? i : width - 1 - i);
    buf.b[at + i] = (value >>> shift) & 0xff;
  }
}

function getInt(buf: Buf, at: number, width: 1 | 2 | 4, le: boolean): number {
  let v = 0;
  for (let i = 0; i < width; i++) {
    const shift = 8 * (le ? i : width - 1 - i);
    v += buf.b[at + i]! * 2 ** shift;
  }
  return v;
}

/** Start offsets of the lines of buf (and buf.n as the end). */
function lineStarts(buf: Buf): number[] {
  const starts = [0];
  for (let i = 0; i < buf.n; i++) if (buf.b[i] === 0x0a) starts.push(i + 1);
  if (starts[starts.length - 1] !== buf.n) starts.push(buf.n);
  return starts;
}

function lineEdit(rng: Rng, buf: Buf, other: Uint8Array): void {
  const starts = lineStarts(buf);
  const count = starts.length - 1;
  if (count < 1) return;
  const i = rng.below(count);
  const line = buf.b.slice(starts[i]!, starts[i + 1]!);
  switch (rng.below(4)) {
    case 0: // delete a line
      buf.remove(starts[i]!, line.length);
      break;
    case 1: // duplicate a line somewhere
      buf.insert(starts[rng.below(count + 1)] ?? buf.n, line);
      break;
    case 2: {
      // swap with another line: remove, then insert at the other's start
      const j = rng.below(count);
      if (j === i) return;
      buf.remove(starts[i]!, line.length);
      const st = lineStarts(buf);
      buf.insert(st[Math.min(j, st.length - 1)]!, line);
      break;
    }
    default: {
      // a line of another input
      const ol: number[] = [0];
      for (let k = 0; k < other.length; k++) if (other[k] === 0x0a) ol.push(k + 1);
      const k = rng.below(ol.length);
      const from = ol[k]!;
      const to = ol[k + 1] ?? other.length;
      if (to > from) buf.insert(starts[i]!, other.slice(from, to));
    }
  }
}

/** One random edit. */
function mutateOnce(rng: Rng, buf: Buf, o: MutateOptions, other: Uint8Array): void {
  const n = buf.n;
  const choice = rng.below(o.lines ? 17 : 15);
  switch (choice) {
    case 0: // flip a bit
      if (n > 0) buf.b[rng.below(n)]! ^= 1 << rng.below(8);
      return;
    case 1: // random byte
      if (n > 0) buf.b[rng.below(n)] = rng.below(256);
      return;
    case 2: // interesting byte
      if (n > 0) buf.b[rng.below(n)] = rng.pick(INTERESTING_8);
      return;
    case 3: // interesting 16-bit, either byte order
      if (n >= 2) putInt(buf, rng.below(n - 1), rng.pick(INTERESTING_16), 2, rng.chance(2));
      return;
    case 4: // interesting 32-bit
      if (n >= 4) putInt(buf, rng.below(n - 3), rng.pick(INTERESTING_32), 4, rng.chance(2));
      return;
    case 5: {
      // small arithmetic on a 1/2/4-byte field
      const width = rng.pick([1, 2, 4] as const);
      if (n < width) return;
      const at = rng.below(n - width + 1);
      const le = rng.chance(2);
      const delta = (1 + rng.below(35)) * (rng.chance(2) ? 1 : -1);
      putInt(buf, at, (getInt(buf, at, width, le) + delta) >>> 0, width, le);
      return;
    }
    case 6: {
      // delete a block (mostly small)
      if (n < 2) return;
      const len = 1 + rng.below(rng.chance(4) ? n >> 1 : Math.min(16, n - 1));
      buf.remove(rng.below(n - len + 1), len);
      return;
    }
    case 7: {
      // duplicate a block of the input elsewhere
      if (n < 1) return;
      const len = 1 + rng.below(Math.min(rng.chance(4) ? 512 : 32, n));
      const from = rng.below(n - len + 1);
      buf.insert(rng.below(n + 1), buf.b.slice(from, from + len));
      return;
    }
    case 8: {
      // random bytes inserted
      const len = 1 + rng.below(16);
      const bytes = new Uint8Array(len);
      const fill = rng.chance(2) ? rng.below(256) : -1;
      for (let i = 0; i < len; i++) bytes[i] = fill >= 0 ? fill : rng.below(256);
      buf.insert(rng.below(n + 1), bytes);
      return;
    }
    case 9: {
      // overwrite with a block of the input
      if (n < 2) return;
      const len = 1 + rng.below(Math.min(32, n - 1));
      const from = rng.below(n - len + 1);
      buf.overwrite(rng.below(n - len + 1), buf.b.slice(from, from + len));
      return;
    }
    case 10:
    case 11: {
      // dictionary: insert or overwrite
      if (o.dict.length === 0) return;
      const tok = rng.pick(o.dict);
      if (choice === 10 || n < tok.length) buf.insert(rng.below(n + 1), tok);
      else buf.overwrite(rng.below(n - tok.length + 1), tok);
      return;
    }
    case 12: {
      // splice: a block of another input, inserted or overwriting
      if (other.length === 0) return;
      const len = 1 + rng.below(Math.min(other.length, rng.chance(2) ? 64 : 1024));
      const from = rng.below(other.length - len + 1);
      const piece = other.slice(from, from + len);
      if (rng.chance(2) || n < len) buf.insert(rng.below(n + 1), piece);
      else buf.overwrite(rng.below(n - len + 1), piece);
      return;
    }
    case 13: // cut the tail
      if (n > 1) buf.n = rng.below(n);
      return;
    case 14: {
      // crossover: head of this one, tail of the other
      if (other.length === 0 || n === 0) return;
      const at = rng.below(n);
      const from = rng.below(other.length);
      buf.n = at;
      buf.insert(at, other.subarray(from));
      return;
    }
    default:
      lineEdit(rng, buf, other);
  }
}

/**
 * A new input from `input`: 1–2^k stacked edits (most small), splicing from `other`, capped at maxLen.
 */
export function mutate(rng: Rng, input: Uint8Array, other: Uint8Array, o: MutateOptions): Uint8Array {
  const buf = new Buf(input, input.length + 64);
  const stack = 1 << rng.below(rng.chance(3) ? 6 : 3);
  for (let i = 0; i < stack; i++) {
    mutateOnce(rng, buf, o, other);
    if (buf.n > o.maxLen * 2) buf.n = o.maxLen * 2;
  }
  const len = Math.min(buf.n, o.maxLen);
  return buf.b.slice(0, len);
}
