/**
 * Frame → innermost TCP header, in place and without allocation.
 *
 * `decodeFrame(linkType, data, out)` fills the caller's reused DecodedTcp and returns undefined for a TCP
 * segment, or a DecodeSkip saying why the frame holds none. It counts a reset exactly when
 * `tshark -Y 'tcp.flags.reset==1'` does for the encapsulations listed in docs/captures.md (the corpus test
 * proves it), except that TCP headers quoted inside ICMP errors are not segments and are not reported.
 */
import { setAddresses } from './ip.js';
import { decodeLink, LINKTYPE } from './link.js';
import { decodeTcp } from './tcp.js';
import type { DecodedTcp, DecodeSkip } from './types.js';

export { isSupportedLinkType, LINKTYPE } from './link.js';
export { TCP_MIN_VISIBLE } from './tcp.js';

export function decodeFrame(linkType: number, data: Uint8Array, out: DecodedTcp): DecodeSkip | undefined {
  return decodeFrameAt(linkType, data, 0, data.length, out);
}

/**
 * The same for the frame buf[off, end) — a record as the reader hands it out (PacketRecord.buf, dataOffset,
 * dataOffset + caplen), so that no view is made per packet.
 */
export function decodeFrameAt(
  linkType: number,
  buf: Uint8Array,
  off: number,
  end: number,
  out: DecodedTcp,
): DecodeSkip | undefined {
  out.tunnelDepth = 0;
  out.direction = 0;
  out.ipVersion = 0;
  if (linkType === LINKTYPE.ETHERNET) {
    const r = simpleEthernet(buf, off, end, out);
    if (r !== NOT_SIMPLE) return r;
  }
  try {
    return decodeLink(linkType, buf, off, end, out);
  } catch {
    // Unreachable by construction (every read is bounds-checked first); kept so that a bug in a decoder can
    // only ever cost one frame, never the whole analysis.
    return 'malformed';
  }
}

/** simpleEthernet's answer for a frame it leaves to the general decoders. */
const NOT_SIMPLE = 1;

/**
 * The frames of most captures — Ethernet II, then IPv4 (not a fragment) or IPv6 without extension headers,
 * then TCP — decoded in one function: the same checks and the same results as decodeLink → decodeEthernet →
 * decodeEthertype → decodeIpv4/decodeIpv6 → decodeTransport → decodeTcp for them, without the calls and
 * dispatches (docs/benchmarks.md, part 7). Anything else — another EtherType, a VLAN tag, IP options that do
 * not fit, a fragment, a zero length, a short frame — returns NOT_SIMPLE before `out` is touched, and the
 * general decoders take the frame (test/unit/decode.test.ts compares both on random frames).
 */
function simpleEthernet(
  d: Uint8Array,
  off: number,
  end: number,
  out: DecodedTcp,
): DecodeSkip | undefined | 1 {
  if (end - off < 14) return NOT_SIMPLE;
  const type = (d[off + 12]! << 8) | d[off + 13]!;
  const ip = off + 14;
  if (type === 0x0800) {
    if (end - ip < 20) return NOT_SIMPLE;
    const b0 = d[ip]!;
    if (b0 >> 4 !== 4) return NOT_SIMPLE;
    const ihl = (b0 & 0x0f) * 4;
    if (ihl < 20 || end - ip < ihl) return NOT_SIMPLE;
    const total = (d[ip + 2]! << 8) | d[ip + 3]!;
    if (total === 0 || total < ihl) return NOT_SIMPLE;
    if ((((d[ip + 6]! << 8) | d[ip + 7]!) & 0x3fff) !== 0) return NOT_SIMPLE;
    if (d[ip + 9] !== 6) return NOT_SIMPLE;
    out.ipVersion = 4;
    out.ttl = d[ip + 8]!;
    out.ipId = (d[ip + 4]! << 8) | d[ip + 5]!;
    setAddresses(out, d, ip + 12, 4);
    return decodeTcp(d, ip + ihl, Math.min(ip + total, end), total - ihl, out);
  }
  if (type === 0x86dd) {
    if (end - ip < 40) return NOT_SIMPLE;
    if (d[ip]! >> 4 !== 6) return NOT_SIMPLE;
    const plen = (d[ip + 4]! << 8) | d[ip + 5]!;
    if (plen === 0 || d[ip + 6] !== 6) return NOT_SIMPLE;
    out.ipVersion = 6;
    out.ttl = d[ip + 7]!;
    out.ipId = -1;
    setAddresses(out, d, ip + 8, 16);
    return decodeTcp(d, ip + 40, Math.min(ip + 40 + plen, end), plen, out);
  }
  return NOT_SIMPLE;
}
