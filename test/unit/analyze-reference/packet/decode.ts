/**
 * Frame → innermost TCP header, in place and without allocation.
 *
 * `decodeFrame(linkType, data, out)` fills the caller's reused DecodedTcp and returns undefined for a TCP
 * segment, or a DecodeSkip saying why the frame holds none. It counts a reset exactly when
 * `tshark -Y 'tcp.flags.reset==1'` does for the encapsulations listed in docs/captures.md (the corpus test
 * proves it), except that TCP headers quoted inside ICMP errors are not segments and are not reported.
 */
import { decodeLink } from './link.js';
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
  try {
    return decodeLink(linkType, buf, off, end, out);
  } catch {
    // Unreachable by construction (every read is bounds-checked first); kept so that a bug in a decoder can
    // only ever cost one frame, never the whole analysis.
    return 'malformed';
  }
}
