/**
 * Types shared by the capture readers (pcap, pcapng), the link/IP/TCP decoders and the analyzer.
 *
 * The hot path allocates nothing per packet: readers hand out one reused PacketRecord whose bytes are a range
 * of their buffer (valid only until the callback returns), and the decoder fills one reused DecodedTcp.
 */

/** One captured frame, as a reader sees it. Reused between packets: copy what you keep. */
export interface PacketRecord {
  /** 1-based frame number in the file (tshark's frame.number). */
  frame: number;
  /** The captured bytes (a view into the reader's buffer, made when read: prefer buf/dataOffset/caplen). */
  readonly data: Uint8Array;
  /** The reader's buffer and where the captured bytes start in it: buf[dataOffset, dataOffset + caplen). */
  buf: Uint8Array;
  dataOffset: number;
  caplen: number;
  origLen: number;
  /** Timestamp: whole seconds since the epoch and the nanoseconds within that second. */
  tsSec: number;
  tsNsec: number;
  /** LINKTYPE_* value (low 16 bits of the pcap link-type field, or the pcapng IDB's). */
  linkType: number;
  /** pcapng interface id within its section (0 for pcap). */
  interfaceId: number;
  /** pcapng EPB flags direction bits: 1 inbound, 2 outbound, 0 unknown; pcap: 0. */
  direction: 0 | 1 | 2;
  /** Byte offset of the record (its header) in the file, for error messages. */
  offset: number;
}

export interface InterfaceInfo {
  linkType: number;
  snaplen: number;
  /** Units per second of pcapng timestamps (1e6 by default; 2^n or 10^n from if_tsresol). */
  tsUnitsPerSecond: number;
  tsOffsetSec: number;
  name?: string;
  /** From the Interface Statistics Block, when present. */
  ifDrop?: number;
  osDrop?: number;
  ifRecv?: number;
}

export interface ReadSummary {
  format: 'pcap' | 'pcapng';
  /** 'pcap-le', 'pcap-be', 'pcap-le-nsec', …, 'pcapng'. */
  variant: string;
  packets: number;
  bytes: number;
  interfaces: InterfaceInfo[];
  /** True when the file ended early or a structural error stopped reading: what was read is reported. */
  partial: boolean;
  /** Problems with a byte offset (Problem.line is unused; the offset is in the message and `offset`). */
  problems: ReadProblem[];
}

export interface ReadProblem {
  code: string;
  message: string;
  severity: 'error' | 'warning';
  /** Byte offset in the (decompressed) stream. */
  offset: number;
}

/** TCP flag bits as in the header's flags byte (plus AE/NS from the data-offset byte as 0x100). */
export const TCP = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
  AE: 0x100,
} as const;

/** What the decoder extracts from a frame: the innermost IPv4/IPv6 + TCP headers. Reused between packets. */
export interface DecodedTcp {
  /** 4 or 6. */
  ipVersion: number;
  /** 16 bytes each; an IPv4 address fills the first 4. Copied in (not views). */
  src: Uint8Array;
  dst: Uint8Array;

  srcPort: number;
  dstPort: number;
  /** Unsigned 32-bit values as numbers. */
  seq: number;
  ack: number;
  /** TCP.* bits. */
  flags: number;
  window: number;
  /** TCP payload bytes as sent (from the IP lengths, not the captured length). */
  payloadLen: number;
  /** IPv4 TTL or IPv6 hop limit. */
  ttl: number;
  /** IPv4 identification (−1 for IPv6). */
  ipId: number;
  /** TCP options: −1 when absent. */
  mss: number;
  wscale: number;
  sackPermitted: boolean;
  tsVal: number;
  tsEcr: number;
  hasTimestamps: boolean;
  /** Number of SACK blocks in this segment. */
  sackBlocks: number;
  /** Encapsulation layers passed through (VLAN tags, MPLS labels, GRE, IP-in-IP, VXLAN, PPPoE, …). */
  tunnelDepth: number;
  /** SLL/SLL2 packet type 4 ("sent by us") or pcapng outbound → 2; to us → 1; unknown 0. */
  direction: 0 | 1 | 2;
}

export function newDecodedTcp(): DecodedTcp {
  return {
    ipVersion: 0,
    src: new Uint8Array(16),
    dst: new Uint8Array(16),
    srcPort: 0,
    dstPort: 0,
    seq: 0,
    ack: 0,
    flags: 0,
    window: 0,
    payloadLen: 0,
    ttl: 0,
    ipId: -1,
    mss: -1,
    wscale: -1,
    sackPermitted: false,
    tsVal: 0,
    tsEcr: 0,
    hasTimestamps: false,
    sackBlocks: 0,
    tunnelDepth: 0,
    direction: 0,
  };
}

/** Why a frame was not decoded as TCP (counted per reason in the report). */
export type DecodeSkip = 'not-ip' | 'not-tcp' | 'fragment' | 'truncated' | 'unknown-linktype' | 'malformed';
