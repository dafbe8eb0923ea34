/**
 * Sequence-space arithmetic (RFC 9293 §3.4, "serial number" comparisons modulo 2^32) and the RST acceptability
 * judgment (RFC 5961 §3.2, RFC 9293 §3.10.7.3 / §3.10.7.4).
 *
 * Sequence numbers are unsigned 32-bit values held in JS numbers; every result is normalised with `>>> 0`.
 */

import type { RstJudgment } from './types.js';

/** a − b as a signed 32-bit distance (Zeek's `seq_delta`). */
export function seqDelta(a: number, b: number): number {
  return (a - b) | 0;
}

/** a + n modulo 2^32. */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** a is after b in sequence space. */
export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

/** Largest window shift RFC 7323 §2.3 allows. */
export const MAX_WSCALE = 14;

/** What the receiver of a RST knows, as far as the capture shows. */
export interface RstContext {
  /** The receiver's RCV.NXT for the RST sender, or −1 when the capture never showed it. */
  rcvNxt: number;
  /** The receiver's last advertised window field (unscaled), or −1 when the receiver sent nothing. */
  rawWindow: number;
  /** The shift to apply to rawWindow: 0..14, or −1 when unknown (handshake not seen). */
  windowShift: number;
  /**
   * The receiver is in SYN-SENT (it sent a SYN, saw no SYN-ACK) and the RST sender sent nothing else: the RST
   * is acceptable iff it carries ACK = receiver's ISN + 1 (RFC 9293 §3.10.7.3). −1 when not in that case,
   * else the receiver's SND.NXT (ISN + 1).
   */
  synSentSndNxt: number;
}

export interface RstVerdict {
  judgment: RstJudgment;
  /** seq − rcvNxt (signed), 0 when unknown. */
  offset: number;
  /** The window used (bytes), −1 when unknown. */
  window: number;
}

/**
 * Judges one RST against its receiver's state.
 *
 * With the window shift unknown (capture started mid-connection), a RST inside the unscaled window is
 * `in-window`, one beyond the largest possible window (rawWindow << 14) is `out-of-window`, and one in between
 * is `unknown`.
 *
 * @example judgeRst(1000, 0x10, 0, { rcvNxt: 1000, rawWindow: 512, windowShift: 7, synSentSndNxt: -1 })
 *   // { judgment: 'exact', offset: 0, window: 65536 }
 */
export function judgeRst(seq: number, ack: number, hasAck: boolean, ctx: RstContext): RstVerdict {
  if (ctx.synSentSndNxt >= 0) {
    // RFC 9293 §3.10.7.3: in SYN-SENT a RST is acceptable only if its ACK acknowledges our SYN.
    const ok = hasAck && ack === ctx.synSentSndNxt;
    return { judgment: ok ? 'exact' : 'out-of-window', offset: 0, window: -1 };
  }
  if (ctx.rcvNxt < 0) return { judgment: 'unknown', offset: 0, window: -1 };
  const offset = seqDelta(seq, ctx.rcvNxt);
  if (offset === 0) {
    const w = ctx.rawWindow < 0 || ctx.windowShift < 0 ? -1 : ctx.rawWindow * 2 ** ctx.windowShift;
    return { judgment: 'exact', offset, window: w };
  }
  if (ctx.rawWindow < 0) return { judgment: 'unknown', offset, window: -1 };
  if (ctx.windowShift >= 0) {
    const window = ctx.rawWindow * 2 ** ctx.windowShift;
    // RFC 5961 §3.2: RCV.NXT <= SEG.SEQ < RCV.NXT + RCV.WND (exact handled above).
    const inWin = offset > 0 && offset < window;
    return { judgment: inWin ? 'in-window' : 'out-of-window', offset, window };
  }
  if (offset > 0 && offset < ctx.rawWindow) return { judgment: 'in-window', offset, window: ctx.rawWindow };
  if (offset > 0 && offset < ctx.rawWindow * 2 ** MAX_WSCALE)
    return { judgment: 'unknown', offset, window: -1 };
  return { judgment: 'out-of-window', offset, window: -1 };
}
