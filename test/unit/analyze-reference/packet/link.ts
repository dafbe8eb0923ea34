/**
 * Link layers and the encapsulations below IP: Ethernet (802.1Q/802.1ad/QinQ tags, 802.3 + LLC/SNAP), MPLS,
 * PPPoE, PPP, Cisco HDLC, BSD loopback (NULL/LOOP), raw IP, Linux cooked captures (SLL, SLL2) and 802.11
 * (with or without radiotap). Layouts: tcpdump.org linktypes pages and draft-ietf-opsawg-pcaplinktype.
 */
import { decodeIpv4, decodeIpv6 } from './ip.js';
import type { DecodedTcp, DecodeSkip } from './types.js';

/** Layers we are willing to walk through before calling a frame malformed (a crafted loop of tunnels). */
export const MAX_DEPTH = 24;

export const LINKTYPE = {
  NULL: 0,
  ETHERNET: 1,
  PPP: 9,
  RAW_DLT12: 12,
  RAW_DLT14: 14,
  PPP_HDLC: 50,
  PPP_ETHER: 51,
  RAW: 101,
  C_HDLC: 104,
  IEEE802_11: 105,
  LOOP: 108,
  LINUX_SLL: 113,
  IEEE802_11_RADIOTAP: 127,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

const SUPPORTED = new Set<number>(Object.values(LINKTYPE));

/** Whether decodeFrame knows this link type (the others are counted but not decoded: W_CAPTURE_LINKTYPE). */
export function isSupportedLinkType(linkType: number): boolean {
  return SUPPORTED.has(linkType);
}

export const ETHERTYPE = {
  IPV4: 0x0800,
  IPV6: 0x86dd,
  VLAN: 0x8100,
  QINQ: 0x88a8,
  QINQ_OLD: 0x9100,
  QINQ_OLD2: 0x9200,
  MPLS: 0x8847,
  MPLS_MC: 0x8848,
  PPPOE_SESSION: 0x8864,
  TEB: 0x6558,
} as const;

/** Dispatch on an EtherType (also used by GRE, Geneve, SLL and Cisco HDLC, which carry EtherType values). */
export function decodeEthertype(
  type: number,
  d: Uint8Array,
  off: number,
  end: number,
  out: DecodedTcp,
  depth: number,
): DecodeSkip | undefined {
  for (;;) {
    if (depth > MAX_DEPTH) return 'malformed';
    switch (type) {
      case ETHERTYPE.IPV4:
        return decodeIpv4(d, off, end, out, depth + 1);
      case ETHERTYPE.IPV6:
        return decodeIpv6(d, off, end, out, depth + 1);
      case ETHERTYPE.VLAN:
      case ETHERTYPE.QINQ:
      case ETHERTYPE.QINQ_OLD:
      case ETHERTYPE.QINQ_OLD2:
        // TCI(2) + the next EtherType(2); QinQ is simply the loop going round again.
        if (end - off < 4) return 'truncated';
        type = (d[off + 2]! << 8) | d[off + 3]!;
        off += 4;
        depth++;
        out.tunnelDepth++;
        if (type <= 1500) return decodeLlc(d, off, end, out, depth);
        continue;
      case ETHERTYPE.MPLS:
      case ETHERTYPE.MPLS_MC:
        return decodeMpls(d, off, end, out, depth + 1);
      case ETHERTYPE.PPPOE_SESSION:
        return decodePppoe(d, off, end, out, depth + 1);
      case ETHERTYPE.TEB:
        return decodeEthernet(d, off, end, out, depth + 1);
      default:
        return 'not-ip';
    }
  }
}

/** Ethernet II or 802.3: a type/length field ≤ 1500 is a length and LLC follows (1501–1535 is invalid). */
export function decodeEthernet(
  d: Uint8Array,
  off: number,
  end: number,
  out: DecodedTcp,
  depth: number,
): DecodeSkip | undefined {
  if (end - off < 14) return 'truncated';
  const type = (d[off + 12]! << 8) | d[off + 13]!;
  if (type <= 1500) {
    const lenEnd = off + 14 + type;
    return decodeLlc(d, off + 14, Math.min(lenEnd, end), out, depth + 1);
  }
  if (type < 0x0600) return 'malformed';
  return decodeEthertype(type, d, off + 14, end, out, depth + 1);
}

/** 802.2 LLC: SNAP (AA AA 03, OUI 00-00-00 or Cisco 00-00-F8) carries an EtherType; SAP 06 is IPv4. */
function decodeLlc(
  d: Uint8Array,
  off: number,
  end: number,
  out: DecodedTcp,
  depth: number,
): DecodeSkip | undefined {
  if (end - off < 3) return 'truncated';
  const dsap = d[off]!;
  const ssap = d[off + 1]!;
  if (dsap === 0xaa && ssap === 0xaa && d[off + 2] === 0x03) {
    if (end - off < 8) return 'truncated';
    const oui = (d[off + 3]! << 16) | (d[off + 4]! << 8) | d[off + 5]!;
    if (oui !== 0 && oui !== 0xf8) return 'not-ip';
    return decodeEthertype((d[off + 6]! << 8) | d[off + 7]!, d, off + 8, end, out, depth + 1);
  }
  // Wireshark dispatches on the DSAP alone (SAP 06 = IP) for an unnumbered-information frame.
  if (dsap === 0x06 && d[off + 2] === 0x03) return decodeIpv4(d, off + 3, end, out, depth + 1);
  return 'not-ip';
}

/**
 * MPLS (RFC 3032): labels until the bottom-of-stack bit. The payload type is not signalled: explicit-null
 * labels 0/2 say IPv4/IPv6, else the first nibble 4 or 6 says IP, else it is an Ethernet pseudowire
 * (RFC 4448) with or without a 4-byte control word — we take the reading whose EtherType is plausible.
 * (Wireshark decides the control word by looking the MAC's OUI up in its manufacturer database, which we
 * do not mirror: docs/captures.md.)
 */
function decodeMpls(
  d: Uint8Array,
  off: number,
  end: number,
  out: DecodedTcp,
  depth: number,
): DecodeSkip | undefined {
  let label = 0;
  for (;;) {
    if (end - off < 4) return 'truncated';
    label = (d[off]! << 12) | (d[off + 1]! << 4) | (d[off + 2]! >> 4);
    const bottom = d[off + 2]! & 1;
    off += 4;
    out.tunnelDepth++;
    if (bottom) break;
    if (++depth > MAX_DEPTH) return 'malformed';
  }
  if (label === 0) return decodeIpv4(d, off, end, out, depth + 1);
  if (label === 2) return decodeIpv6(d, off, end, out, depth + 1);
  if (end - off < 1) return 'truncated';
  const nibble = d[off]! >> 4;
  if (nibble === 4) return decodeIpv4(d, off, end, out, depth + 1);
  if (nibble === 6) return decodeIpv6(d, off, end, out, depth + 1);
  if (plausibleEthertype(d, off + 12, end)) return decodeEthernet(d, off, end, out, depth + 1);
  if (nibble === 0 && plausibleEthertype(d, off + 16, end))
    return decodeEthernet(d, off + 4, end, out, depth + 1);
  return 'not-ip';
}

function plausibleEthertype(d: Uint8Array, at: number, end: number): boolean {
  if (at + 2 > end) return false;
  const t = (d[at]! << 8) | d[at + 1]!;
  return (
    t === ETHERTYPE.IPV4 ||
    t === ETHERTYPE.IPV6 ||
    t === ETHERTYPE.VLAN ||
    t === ETHERTYPE.QINQ ||
    t === ETHERTYPE.MPLS
  );
}

/** PPPoE session stage (RFC 2516): 6-byte header whose length bounds the PPP frame. */
function decodePppoe(
  d: Uint8Array,
  off: number,
  end: number,
  out: DecodedTcp,
  depth: number,
): DecodeSkip | undefined {
  if (end - off < 6) return 'truncated';
  const len = (d[off + 4]! << 8) | d[off + 5]!;
  const pEnd = off + 6 + len;
  out.tunnelDepth++;
  return decodePppProtocol(d, off + 6, Math.min(pEnd, end), out, depth + 1);
}

/** A PPP frame, with or without the HDLC-like address/control bytes FF 03 (RFC 1662). */
export function decodePpp(
  d: Uint8Array,
  off: number,
  end: number,
  out: DecodedTcp,
  depth: number,
): DecodeSkip | undefined {
  if (end - off < 2) return 'truncated';
  if (d[off] === 0xff) off += 2; // address 0xFF + control (Wireshark skips both whatever the control byte)
  return decodePppProtocol(d, off, end, out, depth);
}

/** The PPP protocol field: 2 bytes, or 1 when compressed (RFC 1661 PFC: the low bit of the first byte is set). */
function decodePppProtocol(
  d: Uint8Array,
  off: number,
  end: number,
  out: DecodedTcp,
  depth: number,
): DecodeSkip | undefined {
  if (end - off < 1) return 'truncated';
  let proto: number;
  if (d[off]! & 1) {
    proto = d[off]!;
    off += 1;
  } else {
    if (end - off < 2) return 'truncated';
    proto = (d[off]! << 8) | d[off + 1]!;
    off += 2;
  }
  if (proto === 0x0021) return decodeIpv4(d, off, end, out, depth + 1);
  if (proto === 0x0057) return decodeIpv6(d, off, end, out, depth + 1);
  if (proto === 0x0281) return decodeMpls(d, off, end, out, depth + 1);
  return 'not-ip';
}

/**
 * BSD loopback: a 4-byte address family, big-endian for LOOP; for NULL in the capturing host's order, which
 * the reader has to guess. We guess as Wireshark does (checked value by value against tshark 4.0): read it
 * little-endian; if the upper half is set, it is either a small family in the upper half (shift it down) or
 * big-endian (swap); if only the second byte is set, shift that down. A value above 1500 is an EtherType
 * (some systems store one), and FF 03 in front is PPP (BSD/OS).
 */
function decodeLoopback(
  d: Uint8Array,
  o: number,
  end: number,
  out: DecodedTcp,
  bigEndian: boolean,
): DecodeSkip | undefined {
  if (end - o < 4) return 'truncated';
  let af: number;
  if (bigEndian) af = ((d[o]! << 24) | (d[o + 1]! << 16) | (d[o + 2]! << 8) | d[o + 3]!) >>> 0;
  else {
    if (d[o] === 0xff && d[o + 1] === 0x03) return decodePpp(d, o, end, out, 1);
    af = (d[o]! | (d[o + 1]! << 8) | (d[o + 2]! << 16) | (d[o + 3]! << 24)) >>> 0;
    if (af & 0xffff0000) {
      if ((af & 0xff000000) === 0 && (af & 0x00ff0000) < 0x00060000) af >>>= 16;
      else af = ((d[o]! << 24) | (d[o + 1]! << 16) | (d[o + 2]! << 8) | d[o + 3]!) >>> 0;
    } else if ((af & 0xff) === 0 && (af & 0xff00) < 0x0600) af >>>= 8;
  }
  if (af > 1500) return decodeEthertype(af & 0xffff, d, o + 4, end, out, 1);
  switch (af) {
    case 2:
      return decodeIpv4(d, o + 4, end, out, 1);
    case 24: // NetBSD/OpenBSD/BSD/OS AF_INET6
    case 28: // FreeBSD/DragonFly
    case 30: // macOS/iOS
      return decodeIpv6(d, o + 4, end, out, 1);
    default:
      return 'not-ip';
  }
}

/** Linux cooked capture v1 (16 bytes) or v2 (20 bytes); packet type 4 = sent by this host, 0 = to it. */
function decodeSll(
  d: Uint8Array,
  o: number,
  end: number,
  out: DecodedTcp,
  v2: boolean,
): DecodeSkip | undefined {
  const hl = v2 ? 20 : 16;
  if (end - o < hl) return 'truncated';
  const pktType = v2 ? d[o + 10]! : (d[o]! << 8) | d[o + 1]!;
  const arphrd = v2 ? (d[o + 8]! << 8) | d[o + 9]! : (d[o + 2]! << 8) | d[o + 3]!;
  const proto = v2 ? (d[o]! << 8) | d[o + 1]! : (d[o + 14]! << 8) | d[o + 15]!;
  out.direction = pktType === 4 ? 2 : pktType === 0 ? 1 : 0;
  if (arphrd === 824) return 'not-ip'; // netlink
  if (arphrd === 778) {
    // ARPHRD_IPGRE: the protocol field is the GRE protocol type
    out.tunnelDepth++;
    return decodeEthertype(proto, d, o + hl, end, out, 1);
  }
  switch (proto) {
    case 0x0003: // LINUX_SLL_P_ETHERNET: a whole Ethernet frame follows
      return decodeEthernet(d, o + hl, end, out, 1);
    case 0x0004: // LINUX_SLL_P_802_2: LLC
      return decodeLlc(d, o + hl, end, out, 1);
    case 0x0007: // LINUX_SLL_P_PPPHDLC
      return decodePpp(d, o + hl, end, out, 1);
    default:
      return decodeEthertype(proto, d, o + hl, end, out, 1);
  }
}

/** Cisco HDLC: address (0x0F unicast, 0x8F broadcast), control, then an EtherType. */
function decodeChdlc(d: Uint8Array, off: number, end: number, out: DecodedTcp): DecodeSkip | undefined {
  if (end - off < 4) return 'truncated';
  return decodeEthertype((d[off + 2]! << 8) | d[off + 3]!, d, off + 4, end, out, 1);
}

/**
 * IEEE 802.11 data frames (unprotected) with an LLC/SNAP header; `off` is where the 802.11 header starts.
 * Management, control, null-data and protected frames hold no TCP we can read.
 */
function decode80211(d: Uint8Array, off: number, end: number, out: DecodedTcp): DecodeSkip | undefined {
  if (end - off < 24) return 'truncated';
  const fc0 = d[off]!;
  const fc1 = d[off + 1]!;
  if (((fc0 >> 2) & 3) !== 2) return 'not-ip'; // not a data frame
  if ((fc0 >> 4) & 0x04) return 'not-ip'; // null function: no body
  if (fc1 & 0x40) return 'not-ip'; // protected frame
  if (fc1 & 0x04) return 'fragment'; // more fragments follow: Wireshark reassembles (it dissects the last one)
  let hl = 24;
  if ((fc1 & 3) === 3) hl += 6; // ToDS and FromDS: address 4
  if ((fc0 >> 4) & 0x08) {
    if (end - off < hl + 2) return 'truncated';
    if (d[off + hl]! & 0x80) return 'not-ip'; // A-MSDU: a list of subframes, not one LLC frame
    hl += 2; // QoS control
    if (fc1 & 0x80) hl += 4; // +HTC
  }
  return decodeLlc(d, off + hl, end, out, 1);
}

/** Radiotap: a little-endian header length at byte 2 (a trailing FCS does not matter: IP lengths bound the rest). */
function decodeRadiotap(d: Uint8Array, o: number, end: number, out: DecodedTcp): DecodeSkip | undefined {
  if (end - o < 8) return 'truncated';
  const len = d[o + 2]! | (d[o + 3]! << 8);
  if (len < 8) return 'malformed';
  if (end - o < len) return 'truncated';
  return decode80211(d, o + len, end, out);
}

/**
 * Decode one frame of the given LINKTYPE, the bytes d[o, end), down to the innermost TCP header.
 * Returns undefined when a TCP segment was decoded into `out`, or the reason it was not.
 * Never throws and never allocates (the frame is a range of the reader's buffer, not a view); `out` is
 * overwritten.
 */
export function decodeLink(
  linkType: number,
  d: Uint8Array,
  o: number,
  end: number,
  out: DecodedTcp,
): DecodeSkip | undefined {
  switch (linkType) {
    case LINKTYPE.ETHERNET:
      return decodeEthernet(d, o, end, out, 0);
    case LINKTYPE.NULL:
      return decodeLoopback(d, o, end, out, false);
    case LINKTYPE.LOOP:
      return decodeLoopback(d, o, end, out, true);
    case LINKTYPE.RAW:
    case LINKTYPE.RAW_DLT12:
    case LINKTYPE.RAW_DLT14: {
      if (end - o < 1) return 'truncated';
      const v = d[o]! >> 4;
      if (v === 4) return decodeIpv4(d, o, end, out, 0);
      if (v === 6) return decodeIpv6(d, o, end, out, 0);
      return 'not-ip';
    }
    case LINKTYPE.IPV4:
      return decodeIpv4(d, o, end, out, 0);
    case LINKTYPE.IPV6:
      return decodeIpv6(d, o, end, out, 0);
    case LINKTYPE.LINUX_SLL:
      return decodeSll(d, o, end, out, false);
    case LINKTYPE.LINUX_SLL2:
      return decodeSll(d, o, end, out, true);
    case LINKTYPE.PPP:
      return decodePpp(d, o, end, out, 0);
    case LINKTYPE.PPP_HDLC:
      if (end - o >= 1 && (d[o] === 0x0f || d[o] === 0x8f)) return decodeChdlc(d, o, end, out);
      return decodePpp(d, o, end, out, 0);
    case LINKTYPE.PPP_ETHER:
      return decodePppoe(d, o, end, out, 0);
    case LINKTYPE.C_HDLC:
      return decodeChdlc(d, o, end, out);
    case LINKTYPE.IEEE802_11:
      return decode80211(d, o, end, out);
    case LINKTYPE.IEEE802_11_RADIOTAP:
      return decodeRadiotap(d, o, end, out);
    default:
      return 'unknown-linktype';
  }
}
