/**
 * What the connection tracker reports: one `Connection` per TCP connection (Zeek's conn.log row, plus what the
 * reset classifier needs), with one `ResetInfo` per RST packet.
 *
 * Rules and sources: docs/conn-state.md.
 */

/** Zeek's conn_state values (scripts/base/protocols/conn/main.zeek, `conn_state()`). */
export type ConnState =
  | 'S0'
  | 'S1'
  | 'SF'
  | 'REJ'
  | 'S2'
  | 'S3'
  | 'RSTO'
  | 'RSTR'
  | 'RSTOS0'
  | 'RSTRH'
  | 'SH'
  | 'SHR'
  | 'OTH';

export const CONN_STATES: readonly ConnState[] = [
  'S0',
  'S1',
  'SF',
  'REJ',
  'S2',
  'S3',
  'RSTO',
  'RSTR',
  'RSTOS0',
  'RSTRH',
  'SH',
  'SHR',
  'OTH',
];

/** Zeek's per-endpoint TCP states (TCP_Endpoint.h), as names. */
export type EndpointStateName =
  | 'INACTIVE'
  | 'SYN_SENT'
  | 'SYN_ACK_SENT'
  | 'PARTIAL'
  | 'ESTABLISHED'
  | 'CLOSED'
  | 'RESET';

export type Side = 'orig' | 'resp';

/**
 * How acceptable a RST was to its receiver (RFC 5961 §3.2, RFC 9293 §3.10.7):
 * - `exact`: seq == the receiver's RCV.NXT (the connection is torn down). For a RST answering a SYN
 *   (receiver in SYN-SENT), the RST's ACK acknowledges the SYN.
 * - `in-window`: inside the receiver's window but not exact: an RFC 5961 stack answers with a challenge ACK and
 *   ignores the RST.
 * - `out-of-window`: silently dropped by the receiver.
 * - `unknown`: the capture does not show enough (no RCV.NXT, or no window from the receiver).
 */
export type RstJudgment = 'exact' | 'in-window' | 'out-of-window' | 'unknown';

export interface ResetInfo {
  /** 1-based frame number of the RST. */
  frame: number;
  /** Seconds since the epoch (float; ~µs resolution). */
  time: number;
  /** Who sent the RST. */
  side: Side;
  seq: number;
  ack: number;
  /** 'RST' or 'RST+ACK' (other flags on the RST, e.g. FIN or PSH, are in `flagBits`). */
  flags: 'RST' | 'RST+ACK';
  /** The raw TCP flag bits of the RST (TCP.* from src/packet/types.ts). */
  flagBits: number;
  /** TCP payload bytes carried by the RST (RFC 9293 allows diagnostic data). */
  payloadLen: number;
  judgment: RstJudgment;
  /** The receiver's RCV.NXT this RST was judged against (−1 when unknown). */
  expectedSeq: number;
  /** seq − expectedSeq in sequence space (signed 32-bit; 0 when exact or unknown). */
  seqOffset: number;
  /** The receiver's advertised window in bytes, scaled (−1 when unknown). */
  receiverWindow: number;
  /** A pure ACK from the RST's receiver, shortly after, acknowledging exactly `expectedSeq` (RFC 5961 §3.2). */
  challengeAck: boolean;
  /** Frame number of that challenge ACK (−1 if none). */
  challengeAckFrame: number;
  /** Zeek endpoint states just before the RST. */
  senderStateBefore: EndpointStateName;
  receiverStateBefore: EndpointStateName;
  /** Both sides had sent a FIN before this RST (TIME-WAIT assassination shape, RFC 1337). */
  afterBothFins: boolean;
  /** Seconds since the previous packet of the connection (either direction; −1 if the RST is the first). */
  idleSec: number;
  /** Fingerprint of the RST itself. */
  ttl: number;
  /** IPv4 identification (−1 for IPv6). */
  ipId: number;
  hasTimestamps: boolean;
  tsVal: number;
  /** The same for the sender's previous non-RST packet in this connection (−1 / false when none). */
  prevTtl: number;
  prevIpId: number;
  prevHasTimestamps: boolean;
  prevTsVal: number;
  /** Range of TTLs seen on the sender's earlier non-RST packets (−1 when none). */
  prevTtlMin: number;
  prevTtlMax: number;
  /** How many non-RST packets the sender had sent before this RST. */
  prevPackets: number;
  /**
   * Keepalive probes (a bare ACK or one byte at SND.UNA − 1, RFC 1122 §4.2.3.6) the sender sent after the
   * receiver's last packet, i.e. unanswered as far as the capture shows.
   */
  keepaliveProbes: number;
}

/** Per-direction facts. */
export interface EndpointFacts {
  /** Zeek endpoint state at the end. */
  state: EndpointStateName;
  packets: number;
  /** Sum of TCP payload lengths as seen (retransmissions included). */
  payloadBytes: number;
  /** Zeek's orig_bytes/resp_bytes: payload size from sequence numbers (retransmissions not counted). */
  seqBytes: number;
  /** Packets with payload that did not advance the sequence space (Zeek's `t`). */
  retransmissions: number;
  /** Zero-window advertisements (Zeek's `w` rule: not on a RST, not after the peer's FIN). */
  zeroWindows: number;
  fins: number;
  rsts: number;
  /** SYN (or SYN-ACK) packets sent. */
  syns: number;
  /** Times this side acknowledged data the capture never saw from the peer (Wireshark "ACKed unseen"). */
  ackedUnseen: number;
  firstTime: number;
  lastTime: number;
  /** Options from this side's SYN / SYN-ACK (−1 / false when not seen). */
  mss: number;
  wscale: number;
  sackPermitted: boolean;
  /** TCP timestamps were seen on any packet from this side. */
  timestamps: boolean;
  /** TTL range of this side's packets (−1 when none). */
  ttlMin: number;
  ttlMax: number;
}

export interface Connection {
  /** Creation order (0-based, unique within one FlowTable). */
  id: number;
  /** Canonical 4-tuple, independent of direction: "[addr]:port-[addr]:port" with the lower endpoint first. */
  key: string;
  ipVersion: 4 | 6;
  origAddr: string;
  origPort: number;
  respAddr: string;
  respPort: number;
  /** First and last packet time (seconds since the epoch). */
  startTime: number;
  endTime: number;
  durationSec: number;
  firstFrame: number;
  lastFrame: number;
  /** Zeek history letters; upper case = originator. */
  history: string;
  connState: ConnState;
  /** Roles were flipped against the first packet's direction (`^` in history). */
  flipped: boolean;
  /** Packets each way. */
  origPackets: number;
  respPackets: number;
  /** Payload bytes each way (as seen). */
  origPayloadBytes: number;
  respPayloadBytes: number;
  orig: EndpointFacts;
  resp: EndpointFacts;
  /** SYNs from the originator beyond the first (same ISN). */
  synRetransmissions: number;
  /** SYN-ACKs from the responder beyond the first (same ISN). */
  synAckRetransmissions: number;
  /** Originator SYN, responder SYN-ACK and then an originator ACK were all seen. */
  handshakeCompleted: boolean;
  resets: ResetInfo[];
  /** Why the connection left the flow table. */
  closedBy: 'finished' | 'idle' | 'evicted' | 'reused' | 'end';
}
