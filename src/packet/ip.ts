/**
 * IPv4, IPv6 and the tunnels that ride on them (IP-in-IP, 6in4, GRE, VXLAN, Geneve), down to TCP.
 *
 * Every function decodes d[off..end) — `end` is the captured end already bounded by the enclosing layer's own
 * length field — and returns undefined when a TCP header was decoded into `out`, or why not. Behaviour at the
 * edges mirrors Wireshark 4.0 (our RST count must equal `tshark -Y tcp.flags.reset==1`):
 * - IPv4 total length 0 is a TSO/GSO capture: the captured length is used; a total length below the header
 *   length is bogus; a total length beyond the capture is trusted for `payloadLen` only.
 * - fragments are `fragment`: Wireshark reassembles and shows no TCP header in a first fragment either —
 *   except an IPv4 first fragment whose data is not all captured, which it dissects as it is.
 * - an IPv6 payload length of 0 means a Jumbo Payload option (RFC 2675, > 65535) — or, without one, nothing.
 * - an IPv4 ethertype carrying a version-6 header is decoded as IPv6 (Wireshark does), not the reverse.
 */
import { decodeEthernet, decodeEthertype, decodePpp, MAX_DEPTH } from './link.js';
import { decodeTcp } from './tcp.js';
import type { DecodedTcp, DecodeSkip } from './types.js';

export const IPPROTO_HOPOPTS = 0;
export const IPPROTO_IPIP = 4;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_IPV6 = 41;
export const IPPROTO_ROUTING = 43;
export const IPPROTO_FRAGMENT = 44;
export const IPPROTO_GRE = 47;
export const IPPROTO_ESP = 50;
export const IPPROTO_AH = 51;
export const IPPROTO_DSTOPTS = 60;

const GRE_WCCP = 0x883e;
const GRE_PPP = 0x880b;

/** UDP ports Wireshark decodes as tunnels by default (IANA assignments). */
export const UDP_PORT_VXLAN = 4789;
export const UDP_PORT_GENEVE = 6081;

export function decodeIpv4(
  d: Uint8Array,
  off: number,
  end: number,
  out: DecodedTcp,
  depth: number,
): DecodeSkip | undefined {
  if (depth > MAX_DEPTH) return 'malformed';
  if (end - off < 1) return 'truncated';
  const ver = d[off]! >> 4;
  if (ver === 6) return decodeIpv6(d, off, end, out, depth);
  if (ver !== 4) return 'malformed';
  if (end - off < 20) return 'truncated';
  const ihl = (d[off]! & 0x0f) * 4;
  if (ihl < 20) return 'malformed';
  if (end - off < ihl) return 'truncated';
  let total = (d[off + 2]! << 8) | d[off + 3]!;
  if (total === 0)
    total = end - off; // TSO: the NIC fills the length in later
  else if (total < ihl) return 'malformed';
  const fragField = (d[off + 6]! << 8) | d[off + 7]!;
  if (
    (fragField & 0x3fff) !== 0 &&
    !firstFragmentShown(fragField & 0x1fff, off + total <= end, total > ihl)
  ) {
    return 'fragment';
  }
  out.ipVersion = 4;
  out.ttl = d[off + 8]!;
  out.ipId = (d[off + 4]! << 8) | d[off + 5]!;
  setAddresses(out, d, off + 12, 4);
  const ipEnd = Math.min(off + total, end);
  return decodeTransport(d[off + 9]!, d, off + ihl, ipEnd, total - ihl, out, depth);
}

export function decodeIpv6(
  d: Uint8Array,
  off: number,
  end: number,
  out: DecodedTcp,
  depth: number,
): DecodeSkip | undefined {
  if (depth > MAX_DEPTH) return 'malformed';
  if (end - off < 1) return 'truncated';
  if (d[off]! >> 4 !== 6) return 'malformed';
  if (end - off < 40) return 'truncated';
  const plen = (d[off + 4]! << 8) | d[off + 5]!;
  let next = d[off + 6]!;
  out.ipVersion = 6;
  out.ttl = d[off + 7]!;
  out.ipId = -1;
  setAddresses(out, d, off + 8, 16);
  let p = off + 40;
  let declared = plen;
  if (plen === 0) declared = next === IPPROTO_HOPOPTS ? jumboLength(d, p, end) : 0;
  const ipEnd = Math.min(p + declared, end);
  // Extension headers (RFC 8200 §4): walked in order; each is bounded by the payload.
  for (;;) {
    switch (next) {
      case IPPROTO_HOPOPTS:
      case IPPROTO_ROUTING:
      case IPPROTO_DSTOPTS: {
        if (ipEnd - p < 2) return 'truncated';
        const len = (d[p + 1]! + 1) * 8;
        if (ipEnd - p < len) return 'truncated';
        if (next !== IPPROTO_ROUTING && !optionsFit(d, p + 2, p + len, ipEnd)) return 'malformed';
        next = d[p]!;
        p += len;
        declared -= len;
        continue;
      }
      case IPPROTO_FRAGMENT: {
        if (ipEnd - p < 8) return 'truncated';
        const fo = (d[p + 2]! << 8) | d[p + 3]!;
        // Offset and M flag (RFC 8200 §4.5); an atomic fragment (RFC 6946) is a whole datagram. Unlike
        // IPv4, Wireshark never dissects an IPv6 fragment on its own, even a first one cut by the snap length.
        if ((fo & 0xfff9) !== 0) return 'fragment';
        next = d[p]!;
        p += 8;
        declared -= 8;
        continue;
      }
      case IPPROTO_AH: {
        if (ipEnd - p < 2) return 'truncated';
        const len = (d[p + 1]! + 2) * 4; // RFC 4302: length in 32-bit words minus 2
        if (ipEnd - p < len) return 'truncated';
        next = d[p]!;
        p += len;
        declared -= len;
        continue;
      }
      default:
        return decodeTransport(next, d, p, ipEnd, Math.max(declared, 0), out, depth);
    }
  }
}

/**
 * Source and destination (each `n` = 4 or 16 bytes, back to back from `at`) into out.src/dst; an IPv4 address
 * leaves the other 12 bytes 0. Plain stores, no TypedArray.fill (a builtin call): this runs for every packet.
 */
export function setAddresses(out: DecodedTcp, d: Uint8Array, at: number, n: number): void {
  const src = out.src;
  const dst = out.dst;
  for (let i = 0; i < n; i++) {
    src[i] = d[at + i]!;
    dst[i] = d[at + n + i]!;
  }
  for (let i = n; i < 16; i++) {
    src[i] = 0;
    dst[i] = 0;
  }
}

/**
 * Whether Wireshark dissects the payload of a fragment itself: it reassembles (and shows no TCP header in
 * any single fragment) whenever the fragment's data is all captured; otherwise a first fragment (offset 0)
 * is dissected as it is, and later fragments never are.
 */
function firstFragmentShown(offset: number, wholeFragmentCaptured: boolean, hasData: boolean): boolean {
  if (offset !== 0) return false;
  return !(wholeFragmentCaptured && hasData);
}

/**
 * Whether the TLV options of a hop-by-hop or destination options header can be walked (RFC 8200 §4.2).
 * Wireshark tolerates an option running past its header but not past the packet, and we follow it.
 */
function optionsFit(d: Uint8Array, q: number, hEnd: number, pEnd: number): boolean {
  while (q < hEnd) {
    if (d[q] === 0) {
      q++; // Pad1
      continue;
    }
    if (q + 2 > pEnd) return false;
    q += 2 + d[q + 1]!;
  }
  return q <= pEnd;
}

/** The Jumbo Payload option (RFC 2675, type 0xC2) in a hop-by-hop header at p, or 0 when absent. */
function jumboLength(d: Uint8Array, p: number, end: number): number {
  if (end - p < 2) return 0;
  const hEnd = Math.min(p + (d[p + 1]! + 1) * 8, end);
  let q = p + 2;
  while (q < hEnd) {
    const t = d[q]!;
    if (t === 0) {
      q++; // Pad1
      continue;
    }
    if (q + 1 >= hEnd) break;
    const len = d[q + 1]!;
    if (t === 0xc2 && len === 4 && q + 6 <= hEnd) {
      const v = ((d[q + 2]! << 24) | (d[q + 3]! << 16) | (d[q + 4]! << 8) | d[q + 5]!) >>> 0;
      return v > 65535 ? v : 0; // RFC 2675: a smaller jumbo length is invalid (Wireshark ignores it too)
    }
    q += 2 + len;
  }
  return 0;
}

function decodeTransport(
  proto: number,
  d: Uint8Array,
  off: number,
  end: number,
  declared: number,
  out: DecodedTcp,
  depth: number,
): DecodeSkip | undefined {
  switch (proto) {
    case IPPROTO_TCP:
      return decodeTcp(d, off, end, declared, out);
    case IPPROTO_IPIP:
      out.tunnelDepth++;
      return decodeIpv4(d, off, end, out, depth + 1);
    case IPPROTO_IPV6:
      out.tunnelDepth++;
      return decodeIpv6(d, off, end, out, depth + 1);
    case IPPROTO_GRE:
      return decodeGre(d, off, end, out, depth + 1);
    case IPPROTO_UDP:
      return decodeUdp(d, off, end, out, depth + 1);
    default:
      return 'not-tcp';
  }
}

/** GRE (RFC 2784/2890, RFC 1701 routing) and enhanced GRE (PPTP, RFC 2637) carrying PPP. */
function decodeGre(
  d: Uint8Array,
  off: number,
  end: number,
  out: DecodedTcp,
  depth: number,
): DecodeSkip | undefined {
  if (end - off < 4) return 'truncated';
  const fv = (d[off]! << 8) | d[off + 1]!;
  const proto = (d[off + 2]! << 8) | d[off + 3]!;
  let p = off + 4;
  if (fv & 0xc000) p += 4; // checksum (C) or routing (R) present: checksum + offset
  if (fv & 0x2000) p += 4; // key
  if (fv & 0x1000) p += 4; // sequence number
  if (proto === GRE_PPP && fv & 0x0080) p += 4; // PPTP acknowledgment number
  if (p > end) return 'truncated';
  if (fv & 0x4000) {
    // Source route entries: family(2) offset(1) length(1) data; a zero-length entry ends the list.
    for (;;) {
      if (end - p < 4) return 'truncated';
      const len = d[p + 3]!;
      p += 4 + len;
      if (len === 0) break;
    }
    if (p > end) return 'truncated';
  }
  // Like Wireshark, the version field does not change how the header is read.
  out.tunnelDepth++;
  if (proto === GRE_WCCP) {
    // WCCP redirection (draft-wilson-wrec-wccp-v2): an optional 4-byte redirect header, then IPv4.
    if (end - p < 1) return 'truncated';
    return decodeIpv4(d, d[p]! >> 4 === 4 ? p : p + 4, end, out, depth + 1);
  }
  if (proto === GRE_PPP) return decodePpp(d, p, end, out, depth);
  return decodeEthertype(proto, d, p, end, out, depth);
}

/** UDP: only tunnels (VXLAN, Geneve) lead to TCP. */
function decodeUdp(
  d: Uint8Array,
  off: number,
  end: number,
  out: DecodedTcp,
  depth: number,
): DecodeSkip | undefined {
  if (end - off < 8) return 'not-tcp';
  const sport = (d[off]! << 8) | d[off + 1]!;
  const dport = (d[off + 2]! << 8) | d[off + 3]!;
  const ulen = (d[off + 4]! << 8) | d[off + 5]!;
  if (ulen < 8) return 'not-tcp'; // Wireshark: "bogus, must be >= 8" (even 0 with TSO) — nothing inside is read
  if (off + ulen < end) end = off + ulen;
  // Wireshark tries the lower port first, then the higher one.
  const lo = Math.min(sport, dport);
  const hi = Math.max(sport, dport);
  const port = isTunnelPort(lo) ? lo : isTunnelPort(hi) ? hi : 0;
  const p = off + 8;
  if (port === UDP_PORT_VXLAN) {
    if (end - p < 8) return 'truncated';
    out.tunnelDepth++;
    return decodeEthernet(d, p + 8, end, out, depth);
  }
  if (port === UDP_PORT_GENEVE) {
    if (end - p < 8) return 'truncated';
    const optLen = (d[p]! & 0x3f) * 4;
    const proto = (d[p + 2]! << 8) | d[p + 3]!;
    if (end - p < 8 + optLen) return 'truncated';
    out.tunnelDepth++;
    return decodeEthertype(proto, d, p + 8 + optLen, end, out, depth);
  }
  return 'not-tcp';
}

function isTunnelPort(port: number): boolean {
  return port === UDP_PORT_VXLAN || port === UDP_PORT_GENEVE;
}
