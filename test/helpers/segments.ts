/**
 * A compact way to write TCP segment sequences for the connection tracker's tests.
 *
 *   run([seg('o', 'S'), seg('r', 'SA'), seg('o', 'A'), seg('o', 'PA', { len: 100 }), seg('r', 'R')])
 *
 * 'o' is the client (the intended originator), 'r' the server. Unless given, seq is the sender's next sequence
 * number and ack the peer's (ISNs 1000 and 5000), payload 0, window 65535, time +1 ms per segment.
 */

import { FlowTable, type FlowTableOptions } from '../../src/analyze/flows.js';
import type { Connection } from '../../src/analyze/types.js';
import { type DecodedTcp, newDecodedTcp, TCP } from '../../src/packet/types.js';

export type Dir = 'o' | 'r';

export interface SegOpts {
  seq: number;
  ack: number;
  len: number;
  win: number;
  /** Absolute time in seconds (otherwise previous + gapSec). */
  t: number;
  /** Seconds after the previous segment. */
  gapSec: number;
  ttl: number;
  ipId: number;
  mss: number;
  wscale: number;
  sack: boolean;
  /** TCP timestamp value (sets hasTimestamps). */
  tsVal: number;
  /** Do not advance the sender's next sequence number (e.g. a spoofed segment). */
  noAdvance: boolean;
}

export interface Seg extends Partial<SegOpts> {
  dir: Dir;
  flags: number;
}

const FLAG_LETTERS: Record<string, number> = {
  F: TCP.FIN,
  S: TCP.SYN,
  R: TCP.RST,
  P: TCP.PSH,
  A: TCP.ACK,
  U: TCP.URG,
  E: TCP.ECE,
  C: TCP.CWR,
};

/** Parses flag letters ("SA", "FA", "R", "PA", "RA", "FR") into TCP.* bits. */
export function flagBits(letters: string): number {
  let f = 0;
  for (const ch of letters) {
    const b = FLAG_LETTERS[ch];
    if (b === undefined) throw new Error(`unknown flag letter ${ch}`);
    f |= b;
  }
  return f;
}

export function seg(dir: Dir, flags: string, opts: Partial<SegOpts> = {}): Seg {
  return { dir, flags: flagBits(flags), ...opts };
}

/** Parses an IPv4 or IPv6 address into the 16-byte form DecodedTcp uses. */
export function addrBytes(text: string): { bytes: Uint8Array; version: 4 | 6 } {
  const out = new Uint8Array(16);
  if (!text.includes(':')) {
    text.split('.').forEach((p, i) => {
      out[i] = Number(p);
    });
    return { bytes: out, version: 4 };
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const tl = tail ? tail.split(':') : [];
  const groups = [...h, ...new Array<string>(8 - h.length - tl.length).fill('0'), ...tl];
  groups.forEach((g, i) => {
    const n = Number.parseInt(g, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 255;
  });
  return { bytes: out, version: 6 };
}

export interface Hosts {
  client: string;
  clientPort: number;
  server: string;
  serverPort: number;
}

export const DEFAULT_HOSTS: Hosts = {
  client: '10.0.0.1',
  clientPort: 40000,
  server: '10.0.0.2',
  serverPort: 80,
};

export interface RunOptions {
  hosts?: Partial<Hosts>;
  isn?: { o?: number; r?: number };
  table?: FlowTable;
  tableOpts?: FlowTableOptions;
  /** Start time in seconds. */
  t0?: number;
}

/** Turns segments into DecodedTcp packets (one reused object, as the real decoder does) and feeds a table. */
export class Feeder {
  readonly pkt: DecodedTcp = newDecodedTcp();
  readonly next: Record<Dir, number>;
  t: number;
  frame = 0;
  private readonly cl: Uint8Array;
  private readonly sv: Uint8Array;
  private readonly version: 4 | 6;
  private readonly hosts: Hosts;

  constructor(opts: RunOptions = {}) {
    this.hosts = { ...DEFAULT_HOSTS, ...opts.hosts };
    const c = addrBytes(this.hosts.client);
    const s = addrBytes(this.hosts.server);
    this.cl = c.bytes;
    this.sv = s.bytes;
    this.version = c.version;
    this.next = { o: opts.isn?.o ?? 1000, r: opts.isn?.r ?? 5000 };
    this.t = opts.t0 ?? 1_700_000_000;
  }

  /** Fills `pkt` for the segment and advances the per-direction sequence numbers. */
  fill(s: Seg): DecodedTcp {
    const p = this.pkt;
    const fromClient = s.dir === 'o';
    p.ipVersion = this.version;
    p.src.set(fromClient ? this.cl : this.sv);
    p.dst.set(fromClient ? this.sv : this.cl);
    p.srcPort = fromClient ? this.hosts.clientPort : this.hosts.serverPort;
    p.dstPort = fromClient ? this.hosts.serverPort : this.hosts.clientPort;
    const other: Dir = fromClient ? 'r' : 'o';
    p.seq = (s.seq ?? this.next[s.dir]) >>> 0;
    p.ack = (s.flags & TCP.ACK) !== 0 ? (s.ack ?? this.next[other]) >>> 0 : (s.ack ?? 0);
    p.flags = s.flags;
    p.window = s.win ?? 65535;
    p.payloadLen = s.len ?? 0;
    p.ttl = s.ttl ?? 64;
    p.ipId = this.version === 6 ? -1 : (s.ipId ?? 1);
    p.mss = s.mss ?? -1;
    p.wscale = s.wscale ?? -1;
    p.sackPermitted = s.sack ?? false;
    p.hasTimestamps = s.tsVal !== undefined;
    p.tsVal = s.tsVal ?? 0;
    if (!s.noAdvance && (s.flags & TCP.RST) === 0) {
      const end =
        (p.seq + p.payloadLen + ((s.flags & TCP.SYN) !== 0 ? 1 : 0) + ((s.flags & TCP.FIN) !== 0 ? 1 : 0)) >>>
        0;
      if (((end - this.next[s.dir]) | 0) > 0 || (s.seq !== undefined && (s.flags & TCP.SYN) !== 0)) {
        this.next[s.dir] = end;
      }
    }
    this.t = s.t ?? this.t + (s.gapSec ?? 0.001);
    this.frame++;
    return p;
  }

  feed(table: FlowTable, s: Seg): void {
    const p = this.fill(s);
    const sec = Math.floor(this.t);
    table.observe(p, sec, Math.round((this.t - sec) * 1e9), this.frame);
  }
}

/** Runs segments through a fresh FlowTable and returns every connection (closed and remaining). */
export function run(segs: Seg[], opts: RunOptions = {}): { conns: Connection[]; table: FlowTable } {
  const table = opts.table ?? new FlowTable(opts.tableOpts);
  const done: Connection[] = [];
  if (!opts.table && !opts.tableOpts?.onConnection) table.onConnection = (c) => done.push(c);
  const feeder = new Feeder(opts);
  for (const s of segs) feeder.feed(table, s);
  const conns = [...done, ...table.finish()].sort((a, b) => a.id - b.id);
  return { conns, table };
}

/** Runs segments that form one connection and returns it. */
export function one(segs: Seg[], opts: RunOptions = {}): Connection {
  const { conns } = run(segs, opts);
  if (conns.length !== 1) throw new Error(`expected one connection, got ${conns.length}`);
  return conns[0]!;
}
