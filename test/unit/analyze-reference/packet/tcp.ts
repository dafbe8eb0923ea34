/**
 * TCP header decoding into a reused DecodedTcp.
 *
 * What counts as "a TCP segment" follows Wireshark (tshark 4.0, checked frame by frame on crafted captures):
 * the segment is dissected when at least 16 header bytes are present (up to and including the window), even if
 * the rest of the header is cut off by the snap length or by an IP length that lies; a data offset below 5
 * words is a bogus header and nothing is reported. So `tcp.flags.reset==1` and our RST count agree.
 */
import type { DecodedTcp, DecodeSkip } from './types.js';

/** Bytes that must be present for the segment to count (ports … window). */
export const TCP_MIN_VISIBLE = 16;

/**
 * Decode the TCP header at d[off..end). `declared` is the number of TCP bytes the IP layer says were sent
 * (header + payload), or −1 when unknown.
 */
export function decodeTcp(
  d: Uint8Array,
  off: number,
  end: number,
  declared: number,
  out: DecodedTcp,
): DecodeSkip | undefined {
  const avail = end - off;
  if (avail < TCP_MIN_VISIBLE) return 'truncated';
  const offByte = d[off + 12]!;
  const hlen = (offByte >> 4) * 4;
  // Wireshark: "Bogus TCP header length (n, must be at least 20)" — the segment is not dissected further.
  if (hlen < 20) return 'malformed';
  out.srcPort = (d[off]! << 8) | d[off + 1]!;
  out.dstPort = (d[off + 2]! << 8) | d[off + 3]!;
  out.seq = ((d[off + 4]! << 24) | (d[off + 5]! << 16) | (d[off + 6]! << 8) | d[off + 7]!) >>> 0;
  out.ack = ((d[off + 8]! << 24) | (d[off + 9]! << 16) | (d[off + 10]! << 8) | d[off + 11]!) >>> 0;
  out.flags = d[off + 13]! | ((offByte & 1) << 8);
  out.window = (d[off + 14]! << 8) | d[off + 15]!;
  const total = declared >= 0 ? declared : avail;
  out.payloadLen = total > hlen ? total - hlen : 0;
  out.mss = -1;
  out.wscale = -1;
  out.sackPermitted = false;
  out.hasTimestamps = false;
  out.tsVal = 0;
  out.tsEcr = 0;
  out.sackBlocks = 0;
  // Options: only the captured part of the header is walked (a truncated header simply has fewer options).
  const optEnd = off + Math.min(hlen, avail);
  let p = off + 20;
  while (p < optEnd) {
    const kind = d[p]!;
    if (kind === 0) break; // end of option list
    if (kind === 1) {
      p++; // NOP
      continue;
    }
    if (p + 1 >= optEnd) break;
    const len = d[p + 1]!;
    if (len < 2 || p + len > optEnd) break; // a lying option length ends the walk (RFC 9293 §3.1: drop it)
    switch (kind) {
      case 2:
        if (len === 4) out.mss = (d[p + 2]! << 8) | d[p + 3]!;
        break;
      case 3:
        if (len === 3) out.wscale = d[p + 2]!;
        break;
      case 4:
        if (len === 2) out.sackPermitted = true;
        break;
      case 5:
        out.sackBlocks = (len - 2) >> 3;
        break;
      case 8:
        if (len === 10) {
          out.hasTimestamps = true;
          out.tsVal = ((d[p + 2]! << 24) | (d[p + 3]! << 16) | (d[p + 4]! << 8) | d[p + 5]!) >>> 0;
          out.tsEcr = ((d[p + 6]! << 24) | (d[p + 7]! << 16) | (d[p + 8]! << 8) | d[p + 9]!) >>> 0;
        }
        break;
    }
    p += len;
  }
  return undefined;
}
