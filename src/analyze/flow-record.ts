/**
 * Where the flow table keeps its connections: one fixed-size record per table slot in two typed arrays
 * (int32 fields in `I`, doubles in `D`) plus the history letters in a byte array — no object per flow.
 *
 * Why (docs/benchmarks.md, part 7): with one object per flow and two per endpoint, every packet loaded three
 * objects and ~20 boxed doubles (times, and sequence numbers above 2^31, which are not small integers) from
 * all over the heap, and created heap numbers whenever a sequence number crossed a function boundary. Here a
 * packet touches a few adjacent cache lines of one record, and every sequence number is kept as int32
 * (`x | 0`): equality and the modular comparisons of RFC 9293 §3.4 (`(a - b) | 0`) give the same answers as
 * on the unsigned values, and values leave as unsigned (`>>> 0`) only when a record is built for a report.
 *
 * Endpoints are "physical" 0 and 1; which one is the originator is a flow field (F_ORIG_EP), so a role flip
 * (Zeek FlipRoles) toggles one bit and the endpoints keep their facts, as Zeek's endpoint objects do.
 */

import { TCP } from '../packet/types.js';

// ---- flow fields (int32) ----
export const F_HASH = 0;
export const F_V = 1;
/** Canonical key: address words of A (the lower endpoint) and B, then the ports. */
export const F_A0 = 2;
export const F_A1 = 3;
export const F_A2 = 4;
export const F_A3 = 5;
export const F_B0 = 6;
export const F_B1 = 7;
export const F_B2 = 8;
export const F_B3 = 9;
export const F_PA = 10;
export const F_PB = 11;
/** 1 when the originator is endpoint A of the key. */
export const F_ORIG_IS_A = 12;
/** Physical endpoint (0 or 1) that is the originator now. */
export const F_ORIG_EP = 13;
export const F_HANDSHAKE = 14;
/** Role flips (each appended '^'). */
export const F_FLIPS = 15;
/** Zeek's history "seen" bits (responder's shifted left by 16). */
export const F_HIST_SEEN = 16;
/** History letters so far (the first HIST_CAP in H, the rest in the spill string). */
export const F_HIST_LEN = 17;
/** Reset-pool entry of a RST whose receiver may still send a challenge ACK; −1 none. */
export const F_PENDING = 18;
/** Physical endpoint that received that RST. */
export const F_PENDING_RCV = 19;
/** The ACK number a challenge ACK would carry (int32). */
export const F_PENDING_ACK = 20;
/** The flow's RSTs: first and last reset-pool entry (−1 none) and how many. */
export const F_RESET_HEAD = 21;
export const F_RESET_TAIL = 22;
export const F_NRESETS = 23;
/**
 * RSTs recorded (in the pool) and RSTs only counted, per physical sender: a side keeps at most
 * MAX_RESETS_PER_SIDE records (reset-pool.ts), the rest are counted.
 */
export const F_KEPT0 = 24;
export const F_DROPPED0 = 26;
const FLOW_INTS = 28;

// ---- endpoint fields (int32), at I[slot * I_STRIDE + E_BASE + phys * E_STRIDE + field] ----
export const E_STATE = 0;
export const E_PREV_STATE = 1;
/** Zeek's start_seq / last_seq / ack_seq (int32). */
export const E_START_SEQ = 2;
export const E_LAST_SEQ = 3;
export const E_ACK_SEQ = 4;
export const E_HIST_LAST_SYN = 5;
export const E_HIST_LAST_FIN = 6;
export const E_HIST_LAST_RST = 7;
export const E_FIN_CNT = 8;
export const E_RST_CNT = 9;
export const E_DID_CLOSE = 10;
/** Logarithmic history counters: the next letter when the count reaches the threshold (1, 10, 100, …). */
export const E_RXMT_CNT = 11;
export const E_RXMT_THRESH = 12;
export const E_WIN0_CNT = 13;
export const E_WIN0_THRESH = 14;
export const E_GAP_CNT = 15;
export const E_GAP_THRESH = 16;
export const E_SYNS = 17;
/** ISN of this side's first SYN / SYN-ACK (int32; meaningful once a SYN was seen). */
export const E_ISN = 18;
/**
 * SND.NXT as far as the capture shows (int32) and whether it is known: the flag, not the value, says "none"
 * (0xFFFFFFFF is −1 as int32). While unknown the value is −1, which the ACK sanity check reads as the old
 * code did.
 */
export const E_NEXT_SEQ = 19;
export const E_HAS_NEXT = 20;
/** Last advertised window field (unscaled), −1 none; and whether it came on a SYN. */
export const E_RAW_WINDOW = 21;
export const E_WINDOW_ON_SYN = 22;
export const E_MSS = 23;
export const E_WSCALE = 24;
export const E_SACK = 25;
export const E_TIMESTAMPS = 26;
export const E_ACKED_UNSEEN = 27;
/** Keepalive probes since this side's last other segment and the peer's last packet (icsk_probes_out). */
export const E_KEEPALIVE = 28;
export const E_SYN_RETX = 29;
export const E_SYNACK_RETX = 30;
export const E_SENT_SYN = 31;
export const E_SENT_SYNACK = 32;
/** TTL range and the fingerprint of the last non-RST packet (−1 none; the TSval as int32 with a flag). */
export const E_TTL_MIN = 33;
export const E_TTL_MAX = 34;
export const E_LAST_TTL = 35;
export const E_LAST_IPID = 36;
export const E_LAST_TSVAL = 37;
export const E_LAST_HAS_TS = 38;
export const E_STRIDE = 40;
export const E_BASE = 28;
export const I_STRIDE = E_BASE + 2 * E_STRIDE;

// ---- doubles: times, frame numbers and counters that may pass 2^31 ----
export const D_ID = 0;
export const D_START = 1;
export const D_LAST = 2;
export const D_FIRST_FRAME = 3;
export const D_LAST_FRAME = 4;
export const D_PENDING_DEADLINE = 5;
export const DE_FIRST_TIME = 0;
export const DE_LAST_TIME = 1;
export const DE_PACKETS = 2;
/** Packets that were not RSTs. */
export const DE_NON_RST = 3;
export const DE_PAYLOAD = 4;
export const DE_STRIDE = 5;
export const DE_BASE = 6;
export const D_STRIDE = DE_BASE + 2 * DE_STRIDE;

/** History letters kept inline per flow; a longer history continues in a string (rare: retransmission storms). */
export const HIST_CAP = 24;

if (FLOW_INTS > E_BASE || E_LAST_HAS_TS >= E_STRIDE) throw new Error('flow-record: layout overlaps');

/** A new flow's record (also the native engine's: native.ts hands these to it). */
export const I_FRESH = new Int32Array(I_STRIDE);
export const D_FRESH = new Float64Array(D_STRIDE);
I_FRESH[F_ORIG_IS_A] = 1;
I_FRESH[F_PENDING] = -1;
I_FRESH[F_RESET_HEAD] = -1;
I_FRESH[F_RESET_TAIL] = -1;
for (let p = 0; p < 2; p++) {
  const e = E_BASE + p * E_STRIDE;
  I_FRESH[e + E_RXMT_THRESH] = 1;
  I_FRESH[e + E_WIN0_THRESH] = 1;
  I_FRESH[e + E_GAP_THRESH] = 1;
  I_FRESH[e + E_ISN] = -1;
  I_FRESH[e + E_NEXT_SEQ] = -1;
  I_FRESH[e + E_RAW_WINDOW] = -1;
  I_FRESH[e + E_MSS] = -1;
  I_FRESH[e + E_WSCALE] = -1;
  I_FRESH[e + E_TTL_MIN] = -1;
  I_FRESH[e + E_TTL_MAX] = -1;
  I_FRESH[e + E_LAST_TTL] = -1;
  I_FRESH[e + E_LAST_IPID] = -1;
  I_FRESH[e + E_LAST_TSVAL] = -1;
  const d = DE_BASE + p * DE_STRIDE;
  D_FRESH[d + DE_FIRST_TIME] = -1;
  D_FRESH[d + DE_LAST_TIME] = -1;
}
D_FRESH[D_LAST] = -1;

/** Recently made history strings, direct-mapped by a hash of their letters (shared by every store). */
const HISTORY_SLOTS = 1024;
const HISTORY_CACHE: (string | undefined)[] = new Array<string | undefined>(HISTORY_SLOTS).fill(undefined);

/** Lower-case history letter for the responder (Zeek: upper case = originator). */
const LOWER = 0x20;

/** The records of a table of `slots` flows. */
export class FlowStore {
  readonly I: Int32Array;
  readonly D: Float64Array;
  /** History letters (char codes), HIST_CAP per slot. */
  readonly H: Uint8Array;
  /** History beyond HIST_CAP letters, per slot. */
  readonly spill: (string | undefined)[];

  constructor(readonly slots: number) {
    this.I = new Int32Array(slots * I_STRIDE);
    this.D = new Float64Array(slots * D_STRIDE);
    this.H = new Uint8Array(slots * HIST_CAP);
    this.spill = new Array<string | undefined>(slots).fill(undefined);
  }

  /** Makes the slot a new flow: every field at its initial value. */
  clear(slot: number): void {
    // Plain loops: TypedArray.prototype.set for ~100 elements cost ~1 µs a call (builtin entry and checks).
    const I = this.I;
    const at = slot * I_STRIDE;
    for (let i = 0; i < I_STRIDE; i++) I[at + i] = I_FRESH[i]!;
    const D = this.D;
    const dt = slot * D_STRIDE;
    for (let i = 0; i < D_STRIDE; i++) D[dt + i] = D_FRESH[i]!;
    if (this.spill[slot] !== undefined) this.spill[slot] = undefined;
  }

  /** Offset in I of a physical endpoint. */
  ep(slot: number, phys: number): number {
    return slot * I_STRIDE + E_BASE + phys * E_STRIDE;
  }

  /** Offset in D of a physical endpoint's doubles. */
  dep(slot: number, phys: number): number {
    return slot * D_STRIDE + DE_BASE + phys * DE_STRIDE;
  }

  /** Appends one letter (an upper-case char code; lower-cased for the responder unless `asIs`). */
  addLetter(slot: number, code: number, isOrig: boolean, asIs = false): void {
    const c = isOrig || asIs ? code : code | LOWER;
    const at = slot * I_STRIDE + F_HIST_LEN;
    const n = this.I[at]!;
    if (n < HIST_CAP) this.H[slot * HIST_CAP + n] = c;
    else this.spill[slot] = (this.spill[slot] ?? '') + String.fromCharCode(c);
    this.I[at] = n + 1;
  }

  /** Zeek CheckHistory: the letter once per role; true if it was seen before. */
  seen(slot: number, isOrig: boolean, mask: number, code: number): boolean {
    const m = isOrig ? mask : mask << 16;
    const at = slot * I_STRIDE + F_HIST_SEEN;
    const s = this.I[at]!;
    if ((s & m) === 0) {
      this.I[at] = s | m;
      this.addLetter(slot, code, isOrig);
      return false;
    }
    return true;
  }

  /** The history letters as text (the common ones from a small cache: connections repeat a few shapes). */
  history(slot: number): string {
    const n = this.I[slot * I_STRIDE + F_HIST_LEN]!;
    const at = slot * HIST_CAP;
    const H = this.H;
    const inline = Math.min(n, HIST_CAP);
    let h = n;
    for (let i = 0; i < inline; i++) h = Math.imul(h ^ H[at + i]!, 0x01000193);
    const cached = HISTORY_CACHE[h & (HISTORY_SLOTS - 1)];
    if (n <= HIST_CAP && cached !== undefined && cached.length === n) {
      let same = true;
      for (let i = 0; i < n; i++) {
        if (cached.charCodeAt(i) !== H[at + i]) {
          same = false;
          break;
        }
      }
      if (same) return cached;
    }
    let s = '';
    for (let i = 0; i < inline; i++) s += String.fromCharCode(H[at + i]!);
    if (n > HIST_CAP) return s + (this.spill[slot] ?? '');
    HISTORY_CACHE[h & (HISTORY_SLOTS - 1)] = s;
    return s;
  }
}

export const CH = {
  S: 0x53,
  H: 0x48,
  F: 0x46,
  R: 0x52,
  D: 0x44,
  A: 0x41,
  Q: 0x51,
  I: 0x49,
  T: 0x54,
  W: 0x57,
  G: 0x47,
  FLIP: 0x5e,
} as const;

/** TCP flags that make a segment "interesting" for the state machine beyond ACK/PSH/URG/ECE/CWR. */
export const CONTROL = TCP.SYN | TCP.FIN | TCP.RST;
