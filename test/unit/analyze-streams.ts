/**
 * Random TCP packet streams for the analysis tests (analyze-equivalence, analyze-parallel): a few
 * conversations shaped like real ones (handshakes, data, keepalive probes, FINs, refused connects, queue
 * overflows, injected RSTs…), single random steps, and storms of small flows (scans, floods, backscatter)
 * for the capture-wide context; sequence numbers around 2^31 and 2^32 (0xFFFFFFFF is −1 as int32), times
 * that step forwards, backwards and past every timeout. As frames (Ethernet, IPv4/IPv6, TCP options) or as a
 * classic pcap.
 */
import fc from 'fast-check';
import { TCP } from '../../src/packet/types.js';
import { be16, be32, ether, ipv4, type PcapRecord, pcap, tcp, vlan } from '../fixtures/pcap/build.js';

/** One packet, as the generator draws it. */
export interface Pkt {
  v6: boolean;
  src: number;
  dst: number;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  win: number;
  len: number;
  ttl: number;
  ipId: number;
  mss: number;
  wscale: number;
  sack: boolean;
  tsVal: number;
  /** Time step from the previous packet, in µs (negative: the clock stepped back). */
  stepMicros: number;
}

const V4_HOSTS = [
  [10, 0, 0, 1],
  [10, 0, 0, 2],
  [192, 0, 2, 9],
];
const V6_HOSTS = [
  [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
  [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
  [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff],
];
const PORTS = [80, 443, 40000, 40001, 8080, 55555];
const ISNS = [0, 1, 1000, 0x7fffffff, 0x80000000, 0xfffffff0, 0xffffffff];
/** Common flag combinations, most of the time; any byte now and then. */
const FLAGS = [
  TCP.SYN,
  TCP.SYN | TCP.ACK,
  TCP.ACK,
  TCP.ACK,
  TCP.ACK | TCP.PSH,
  TCP.ACK | TCP.PSH,
  TCP.FIN | TCP.ACK,
  TCP.RST,
  TCP.RST | TCP.ACK,
  TCP.FIN | TCP.RST,
  TCP.SYN | TCP.FIN,
];
const STEPS = [
  0, 1, 1000, 500_000, 2_000_000, 6_000_000, 61_000_000, 301_000_000, -1_000_000, 11_000_000_000,
];

type SeqKind = 'next' | 'keepalive' | 'old' | 'inwin' | 'far' | 'isn';
type AckKind = 'peer' | 'zero' | 'ahead' | 'random';

/** One drawn step: who sends what, relative to the conversation's sequence numbers. */
interface Step {
  conv: number;
  fromA: boolean;
  flags: number;
  len: number;
  seqKind: SeqKind;
  ackKind: AckKind;
  win: number;
  ttl: number;
  ipId: number;
  mss: number;
  wscale: number;
  sack: boolean;
  tsVal: number;
  step: number;
  rnd: number;
}

const S = TCP.SYN;
const A = TCP.ACK;
const F = TCP.FIN;
const R = TCP.RST;
const P = TCP.PSH;
type T = [fromA: boolean, flags: number, len: number, seqKind?: SeqKind, ackKind?: AckKind];
/** Shapes of real conversations (A is the client), so that every rule's preconditions come up often. */
const TEMPLATES: T[][] = [
  [
    [true, S, 0],
    [false, S | A, 0],
    [true, A, 0],
  ], // handshake
  [
    [true, P | A, 100],
    [false, A, 0],
  ], // data
  [
    [true, A, 0, 'keepalive'],
    [true, A, 1, 'keepalive'],
    [true, A, 0, 'keepalive'],
    [true, R | A, 0],
  ], // keepalive timeout
  [
    [true, F | A, 0],
    [false, F | A, 0],
    [true, A, 0],
    [false, R, 0],
  ], // FIN both ways, then a late RST
  [
    [true, S, 0, 'isn'],
    [false, R | A, 0],
  ], // refused
  [
    [true, S, 0, 'isn'],
    [false, S | A, 0, 'isn'],
    [false, S | A, 0, 'isn'],
    [true, A, 0],
    [false, R, 0],
  ], // queue
  [
    [false, R, 0, 'inwin'],
    [true, A, 0],
  ], // inexact RST, challenge ACK
  [
    [true, P | A, 10],
    [false, R | A, 0],
  ], // abort with unread data
  [
    [true, S, 0, 'isn'],
    [true, S, 0, 'isn'],
    [false, S | A, 0],
    [true, R, 0],
  ], // SYN retransmit, half-open scan
  [
    [false, S | A, 0],
    [true, R, 0],
  ], // unsolicited SYN-ACK (backscatter)
  [
    [true, R, 0],
    [true, R, 0, 'far'],
  ], // lone RSTs, stepped
  Array.from({ length: 30 }, (): T => [true, F | A, 10]), // FIN after FIN at new sequence numbers: a long history
];

/** Many small flows at once: what the capture-wide context (scan, flood, backscatter) is built from. */
interface Storm {
  storm: 'synscan' | 'rstscan' | 'rstflood' | 'backscatter';
  n: number;
  v6: boolean;
  a: number;
  b: number;
  step: number;
}

function stormPackets(x: Storm): Pkt[] {
  const out: Pkt[] = [];
  const pkt = (
    fromA: boolean,
    sport: number,
    dport: number,
    flags: number,
    seq: number,
    ack: number,
    step: number,
  ) =>
    out.push({
      v6: x.v6,
      src: fromA ? x.a : x.b,
      dst: fromA ? x.b : x.a,
      sport,
      dport,
      seq,
      ack,
      flags,
      win: 1024,
      len: 0,
      ttl: 64,
      ipId: 1,
      mss: -1,
      wscale: -1,
      sack: false,
      tsVal: -1,
      stepMicros: step,
    });
  for (let i = 0; i < x.n; i++) {
    const first = i === 0 ? x.step : 1000;
    const port = 2000 + i;
    switch (x.storm) {
      case 'synscan':
        pkt(true, 50000, port, S, 777, 0, first);
        pkt(false, port, 50000, R | A, 0, 778, 100);
        break;
      case 'rstscan':
        pkt(true, 50001, port, R, 9999 + i, 0, first);
        break;
      case 'rstflood':
        pkt(true, 3000 + i, 80, R | A, 123 * i, 456, first);
        break;
      case 'backscatter':
        pkt(false, 80, 30000 + i, i % 2 === 0 ? S | A : R | A, 5555, 1 + i, first);
        break;
    }
  }
  return out;
}

/**
 * A random packet stream over a few "conversations": template shapes (above) and single random steps,
 * interleaved; sequence numbers mostly follow each side's next one, with keepalive probes, retransmissions,
 * in-window and far jumps mixed in.
 */
export function arbPackets(maxLen: number): fc.Arbitrary<Pkt[]> {
  const common = {
    conv: fc.nat(5),
    win: fc.constantFrom(0, 1, 512, 65535, 65535),
    ttl: fc.constantFrom(64, 64, 64, 63, 128, 255),
    ipId: fc.nat(0xffff),
    mss: fc.constantFrom(-1, 1460),
    wscale: fc.constantFrom(-1, 0, 7, 14, 15),
    sack: fc.boolean(),
    tsVal: fc.constantFrom(-1, 0, 12345, 0xffffffff),
    step: fc.constantFrom(...STEPS),
    rnd: fc.nat(0xffffffff),
  };
  const single = fc
    .record({
      ...common,
      fromA: fc.boolean(),
      flags: fc.oneof(
        { weight: 9, arbitrary: fc.constantFrom(...FLAGS) },
        { weight: 1, arbitrary: fc.nat(0x1ff) },
      ),
      len: fc.constantFrom(0, 0, 0, 1, 10, 1460),
      seqKind: fc.constantFrom<SeqKind>(
        'next',
        'next',
        'next',
        'next',
        'keepalive',
        'old',
        'inwin',
        'far',
        'isn',
      ),
      ackKind: fc.constantFrom<AckKind>('peer', 'peer', 'peer', 'zero', 'ahead', 'random'),
    })
    .map((x): Step[] => [x]);
  const shaped = fc
    .record({ ...common, template: fc.nat(TEMPLATES.length - 1), small: fc.boolean() })
    .map((x) =>
      TEMPLATES[x.template]!.map(
        ([fromA, flags, len, seqKind, ackKind], i): Step => ({
          ...x,
          fromA,
          flags,
          len,
          seqKind: seqKind ?? 'next',
          ackKind: ackKind ?? 'peer',
          // The first step keeps the drawn gap; the rest follow closely (or after a keepalive interval).
          step: i === 0 ? x.step : x.small ? 1000 : 75_000_000,
        }),
      ),
    );
  const conv = fc.record({
    v6: fc.boolean(),
    a: fc.nat(2),
    b: fc.nat(2),
    pa: fc.constantFrom(...PORTS),
    pb: fc.constantFrom(...PORTS),
    isnA: fc.constantFrom(...ISNS),
    isnB: fc.constantFrom(...ISNS),
  });
  const storm = fc
    .record({
      storm: fc.constantFrom<Storm['storm']>('synscan', 'rstscan', 'rstflood', 'backscatter'),
      n: fc.integer({ min: 4, max: 60 }),
      v6: fc.boolean(),
      a: fc.nat(2),
      b: fc.nat(2),
      step: fc.constantFrom(...STEPS),
    })
    .map((x): Storm[] => [x]);
  return fc
    .record({
      convs: fc.array(conv, { minLength: 6, maxLength: 6 }),
      steps: fc.array(fc.oneof({ weight: 4, arbitrary: single }, { weight: 4, arbitrary: shaped }, storm), {
        maxLength: maxLen,
      }),
    })
    .map(({ convs, steps }) => {
      const next = convs.map((c) => [c.isnA, c.isnB]);
      const out: Pkt[] = [];
      for (const s of steps.flat()) {
        if ('storm' in s) {
          out.push(...stormPackets(s));
          continue;
        }
        const c = convs[s.conv]!;
        const me = s.fromA ? 0 : 1;
        const nx = next[s.conv]!;
        const base = nx[me]!;
        let seq: number;
        switch (s.seqKind) {
          case 'keepalive':
            seq = base - 1;
            break;
          case 'old':
            seq = base - 100;
            break;
          case 'inwin':
            seq = base + 200;
            break;
          case 'far':
            seq = base + 0x40000000;
            break;
          case 'isn':
            seq = s.fromA ? c.isnA : c.isnB;
            break;
          default:
            seq = base;
        }
        seq >>>= 0;
        const peer = nx[1 - me]!;
        const ack =
          s.ackKind === 'peer'
            ? peer
            : s.ackKind === 'zero'
              ? 0
              : s.ackKind === 'ahead'
                ? peer + 5000
                : s.rnd;
        const len = (s.flags & TCP.SYN) !== 0 ? 0 : s.len;
        if ((s.flags & TCP.RST) === 0) {
          const end =
            (seq + len + ((s.flags & TCP.SYN) !== 0 ? 1 : 0) + ((s.flags & TCP.FIN) !== 0 ? 1 : 0)) >>> 0;
          if (((end - base) | 0) > 0 || s.seqKind === 'isn') nx[me] = end;
        }
        out.push({
          v6: c.v6,
          src: s.fromA ? c.a : c.b,
          dst: s.fromA ? c.b : c.a,
          sport: s.fromA ? c.pa : c.pb,
          dport: s.fromA ? c.pb : c.pa,
          seq,
          ack: ack >>> 0,
          flags: s.flags,
          win: s.win,
          len,
          ttl: s.ttl,
          ipId: s.ipId,
          mss: s.mss,
          wscale: s.wscale,
          sack: s.sack,
          tsVal: s.tsVal,
          stepMicros: s.step,
        });
      }
      return out;
    });
}

const T0_MICROS = 1_700_000_000 * 1e6;

/** The packets' absolute times in µs (never before the epoch). */
export function times(pkts: Pkt[]): number[] {
  let t = T0_MICROS;
  return pkts.map((p) => {
    t = Math.max(0, t + p.stepMicros);
    return t;
  });
}

function addr(p: Pkt, which: 'src' | 'dst'): number[] {
  const i = which === 'src' ? p.src : p.dst;
  return p.v6 ? V6_HOSTS[i]! : V4_HOSTS[i]!;
}

/** The packet as an Ethernet frame: real options, no payload bytes (the IP length declares them). */
export function frame(p: Pkt): number[] {
  const opts: number[] = [];
  if (p.mss >= 0) opts.push(2, 4, ...be16(p.mss));
  if (p.wscale >= 0) opts.push(1, 3, 3, p.wscale);
  if (p.sack) opts.push(1, 1, 4, 2);
  if (p.tsVal >= 0) opts.push(1, 1, 8, 10, ...be32(p.tsVal), ...be32(0));
  const seg = tcp({
    sport: p.sport,
    dport: p.dport,
    seq: p.seq,
    ack: p.ack,
    flags: p.flags & 0xff,
    win: p.win,
    options: opts,
  });
  if (p.flags & 0x100) seg[12]! |= 1; // AE
  if (!p.v6) {
    const ip = ipv4(seg, {
      src: addr(p, 'src'),
      dst: addr(p, 'dst'),
      ttl: p.ttl,
      id: p.ipId,
      totalLen: 20 + seg.length + p.len,
    });
    return ether(0x0800, ip);
  }
  const ip = [
    0x60,
    0,
    0,
    0,
    ...be16(seg.length + p.len),
    6,
    p.ttl,
    ...addr(p, 'src'),
    ...addr(p, 'dst'),
    ...seg,
  ];
  return ether(0x86dd, ip);
}

export function capture(pkts: Pkt[]): Uint8Array {
  const ts = times(pkts);
  const recs: PcapRecord[] = pkts.map((p, i) => ({
    data: frame(p),
    sec: Math.floor(ts[i]! / 1e6),
    frac: ts[i]! % 1e6,
  }));
  return pcap(recs);
}

/**
 * The most RSTs one side of one connection sends in the stream (by 4-tuple and direction): the analysis
 * records at most MAX_RESETS_PER_SIDE (reset-pool.ts) and counts the rest, which the reference did not.
 */
export function maxRstsPerSide(pkts: Pkt[]): number {
  const n = new Map<string, number>();
  let max = 0;
  for (const p of pkts) {
    if ((p.flags & TCP.RST) === 0) continue;
    const k = `${p.v6}|${p.src}|${p.sport}|${p.dst}|${p.dport}`;
    const c = (n.get(k) ?? 0) + 1;
    n.set(k, c);
    if (c > max) max = c;
  }
  return max;
}

/**
 * A capture of `pkts` where every packet chosen by `other` is made a frame the engine does not decode (a VLAN
 * tag: TypeScript decodes it and feeds the segment in), or a UDP datagram, or an IPv4 fragment.
 */
export function mixedCapture(
  pkts: Pkt[],
  other: number[],
  o: { le?: boolean; nsec?: boolean; snaplen?: number } = {},
): Uint8Array {
  const ts = times(pkts);
  const recs: PcapRecord[] = pkts.map((p, i) => {
    let data = frame(p);
    const kind = other[i % other.length]!;
    if (kind === 1) data = vlan([7], (data[12]! << 8) | data[13]!, data.slice(14));
    else if (kind === 2 && !p.v6) {
      data = data.slice();
      data[14 + 9] = 17; // UDP: counted as not-tcp by TypeScript
    } else if (kind === 3 && !p.v6) {
      data = data.slice();
      data[14 + 6] = 0x00;
      data[14 + 7] = 0x10; // a non-first fragment: skipped
    }
    const micros = ts[i]!;
    return {
      data,
      sec: Math.floor(micros / 1e6),
      frac: o.nsec ? (micros % 1e6) * 1000 + (i % 1000) : micros % 1e6,
    };
  });
  return pcap(recs, {
    le: o.le ?? true,
    ...(o.nsec ? { magic: 0xa1b23c4d } : {}),
    ...(o.snaplen !== undefined ? { snaplen: o.snaplen } : {}),
  });
}
