/**
 * Decode `tcp:tcp_send_reset` / `tcp:tcp_receive_reset` records with the offsets their `format` files give.
 *
 * Two layouts exist (include/trace/events/tcp.h):
 * - 4.15–6.9: class `tcp_event_sk_skb` (send) and `tcp_event_sk` (receive): `sport`, `dport` (host order,
 *   `ntohs(inet->inet_sport)`), `family`, `saddr[4]`, `daddr[4]`, `saddr_v6[16]`, `daddr_v6[16]` — an AF_INET
 *   socket also fills the v6 fields with the v4-mapped address (TP_STORE_V4MAPPED). No reason.
 * - ≥ 6.10 `tcp_send_reset`: `state`, `reason` (enum sk_rst_reason) and `saddr[28]`/`daddr[28]` holding a
 *   sockaddr_in or sockaddr_in6 (family in host order, port in network order), filled from the skb with
 *   source and destination swapped when there is no full socket, so `saddr` is always the RST's sender.
 * `tcp_receive_reset` keeps the old class on 6.18 too. In both, `s*` is this host's side.
 */

import { RstwatchError } from '../internal/errors.js';
import type { EventFormat, FieldDef } from './format.js';
import { type Family, NOT_REPORTED, type RstDirection, type RstEvent } from './types.js';

/** include/net/tcp_states.h — stable user ABI (also /proc/net/tcp's `st` column). */
export const TCP_STATE_NAMES: readonly string[] = [
  'UNKNOWN',
  'TCP_ESTABLISHED',
  'TCP_SYN_SENT',
  'TCP_SYN_RECV',
  'TCP_FIN_WAIT1',
  'TCP_FIN_WAIT2',
  'TCP_TIME_WAIT',
  'TCP_CLOSE',
  'TCP_CLOSE_WAIT',
  'TCP_LAST_ACK',
  'TCP_LISTEN',
  'TCP_CLOSING',
  'TCP_NEW_SYN_RECV',
  'TCP_BOUND_INACTIVE',
];

const AF_INET = 2;
const AF_INET6 = 10;

export type Layout = 'sockaddr-reason' | 'legacy-ports';

export interface ResetDecoder {
  layout: Layout;
  /** Event ids to match against `common_type`. */
  sendId: number;
  receiveId: number;
  /** Decode the record at `off`, or undefined when it is neither event (or too short). */
  decode(page: Buffer, off: number, len: number): RstEvent | undefined;
}

const v4Cache = new Map<number, string>();

function ipv4(buf: Buffer, off: number): string {
  const n = buf.readUInt32BE(off);
  let s = v4Cache.get(n);
  if (s === undefined) {
    s = `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
    // A bounded cache: a scan of random sources must not grow memory without end.
    if (v4Cache.size >= 65536) v4Cache.clear();
    v4Cache.set(n, s);
  }
  return s;
}

/** RFC 5952 text (longest run of ≥ 2 zero groups as "::", lower case), as the kernel's %pI6c prints. */
export function ipv6Text(buf: Buffer, off: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(buf.readUInt16BE(off + i * 2));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

/** ::ffff:a.b.c.d — an AF_INET6 socket talking IPv4 on the wire. */
function isV4Mapped(buf: Buffer, off: number): boolean {
  for (let i = 0; i < 10; i++) if (buf[off + i] !== 0) return false;
  return buf[off + 10] === 0xff && buf[off + 11] === 0xff;
}

function addr6(buf: Buffer, off: number): { family: Family; addr: string } {
  if (isV4Mapped(buf, off)) return { family: 'ipv4', addr: ipv4(buf, off + 12) };
  return { family: 'ipv6', addr: ipv6Text(buf, off) };
}

function need(fmt: EventFormat, name: string, size?: number): FieldDef {
  const f = fmt.fields.get(name);
  if (!f || (size !== undefined && f.size !== size)) {
    throw new RstwatchError(
      'E_TRACE_LAYOUT',
      `event ${fmt.name} has no field ${name}${size !== undefined ? ` of ${size} bytes` : ''}; this layout is not known`,
    );
  }
  return f;
}

function intReader(f: FieldDef): (buf: Buffer, base: number) => number {
  const o = f.offset;
  switch (f.size) {
    case 1:
      return f.signed ? (b, base) => b.readInt8(base + o) : (b, base) => b[base + o]!;
    case 2:
      return f.signed ? (b, base) => b.readInt16LE(base + o) : (b, base) => b.readUInt16LE(base + o);
    case 4:
      return f.signed ? (b, base) => b.readInt32LE(base + o) : (b, base) => b.readUInt32LE(base + o);
    default:
      throw new RstwatchError('E_TRACE_LAYOUT', `field ${f.name}: integer of ${f.size} bytes not expected`);
  }
}

type Part = (buf: Buffer, base: number, ev: RstEvent) => void;

/** The address/port part of either layout, for one event format. */
function addressPart(fmt: EventFormat): { part: Part; minLength: number; sockaddr: boolean } {
  const saddr = fmt.fields.get('saddr');
  if (saddr && saddr.size >= 28) {
    const daddr = need(fmt, 'daddr', saddr.size);
    const so = saddr.offset;
    const dO = daddr.offset;
    const part: Part = (b, base, ev) => {
      const fam = b.readUInt16LE(base + so);
      ev.localPort = b.readUInt16BE(base + so + 2);
      ev.remotePort = b.readUInt16BE(base + dO + 2);
      if (fam === AF_INET6) {
        const l = addr6(b, base + so + 8);
        const r = addr6(b, base + dO + 8);
        ev.family = r.family;
        ev.localAddr = l.addr;
        ev.remoteAddr = r.addr;
      } else if (fam === AF_INET) {
        ev.family = 'ipv4';
        ev.localAddr = ipv4(b, base + so + 4);
        ev.remoteAddr = ipv4(b, base + dO + 4);
      } else {
        ev.family = 'unknown';
        ev.localAddr = '?';
        ev.remoteAddr = '?';
      }
    };
    return { part, minLength: Math.max(so, dO) + saddr.size, sockaddr: true };
  }
  // Ports and the family are `__u16` in the kernel: another size is another layout (a 4-byte port gave
  // ports above 65535), and they are read unsigned whatever `signed:` says, or a port above 32767 would come
  // out negative (test/fixtures/fuzz/tracefs-format/).
  const sportF = need(fmt, 'sport', 2);
  const dportF = need(fmt, 'dport', 2);
  const familyF = need(fmt, 'family', 2);
  const sport = intReader({ ...sportF, signed: false });
  const dport = intReader({ ...dportF, signed: false });
  const family = intReader({ ...familyF, signed: false });
  const s4 = need(fmt, 'saddr', 4).offset;
  const d4 = need(fmt, 'daddr', 4).offset;
  const s6 = need(fmt, 'saddr_v6', 16).offset;
  const d6 = need(fmt, 'daddr_v6', 16).offset;
  const part: Part = (b, base, ev) => {
    ev.localPort = sport(b, base);
    ev.remotePort = dport(b, base);
    if (family(b, base) === AF_INET6) {
      const l = addr6(b, base + s6);
      const r = addr6(b, base + d6);
      ev.family = r.family;
      ev.localAddr = l.addr;
      ev.remoteAddr = r.addr;
    } else {
      ev.family = 'ipv4';
      ev.localAddr = ipv4(b, base + s4);
      ev.remoteAddr = ipv4(b, base + d4);
    }
  };
  // Every field read must lie inside the record, the ports and family too (they were left out, and a
  // format placing them far away made the decoder read past the page: a RangeError).
  const minLength = Math.max(
    s4 + 4,
    d4 + 4,
    s6 + 16,
    d6 + 16,
    sportF.offset + 2,
    dportF.offset + 2,
    familyF.offset + 2,
  );
  return { part, minLength, sockaddr: false };
}

function eventDecoder(
  fmt: EventFormat,
  direction: RstDirection,
): (b: Buffer, off: number, len: number) => RstEvent | undefined {
  const addr = addressPart(fmt);
  const stateF = fmt.fields.get('state');
  const reasonF = fmt.fields.get('reason');
  const state = stateF ? intReader(stateF) : undefined;
  const reason = reasonF ? intReader(reasonF) : undefined;
  const reasonNames = fmt.symbols.get('reason') ?? new Map<number, string>();
  let minLength = addr.minLength;
  if (stateF) minLength = Math.max(minLength, stateF.offset + stateF.size);
  if (reasonF) minLength = Math.max(minLength, reasonF.offset + reasonF.size);
  return (b, off, len) => {
    if (len < minLength) return undefined;
    const ev: RstEvent = {
      direction,
      family: 'ipv4',
      localAddr: '',
      localPort: 0,
      remoteAddr: '',
      remotePort: 0,
      reason: NOT_REPORTED,
      state: NOT_REPORTED,
    };
    addr.part(b, off, ev);
    if (state) {
      const s = state(b, off);
      ev.state = TCP_STATE_NAMES[s] ?? `STATE_${s}`;
    }
    if (reason) {
      const r = reason(b, off);
      ev.reason = reasonNames.get(r) ?? `REASON_${r}`;
    }
    return ev;
  };
}

/** Build the decoder for this kernel from the two events' formats; throws E_TRACE_LAYOUT when unknown. */
export function makeDecoder(send: EventFormat, receive: EventFormat): ResetDecoder {
  const sendDecode = eventDecoder(send, 'sent');
  const receiveDecode = eventDecoder(receive, 'received');
  const sendId = send.id;
  const receiveId = receive.id;
  const layout: Layout =
    addressPart(send).sockaddr && send.fields.has('reason') ? 'sockaddr-reason' : 'legacy-ports';
  return {
    layout,
    sendId,
    receiveId,
    decode(b, off, len) {
      if (len < 2) return undefined;
      const type = b.readUInt16LE(off);
      if (type === sendId) return sendDecode(b, off, len);
      if (type === receiveId) return receiveDecode(b, off, len);
      return undefined;
    },
  };
}
