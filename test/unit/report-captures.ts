/**
 * Captures for the report tests, crafted with test/fixtures/pcap/build.ts (Ethernet, IPv4 and IPv6, classic
 * pcap), and the corpus files that hold resets. The crafted one has what the real corpus lacks: more than a
 * thousand resets (thousands separators), several causes, IPv6, a timeline over many seconds.
 */

import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { type AnalysisReport, analyzeCapture } from '../../src/analyze/analyze.js';
import { type Bytes, be16, ether, ipv4, type PcapRecord, pcap, tcp } from '../fixtures/pcap/build.js';
import { SHARED } from '../helpers/paths.js';
import { flagBits } from '../helpers/segments.js';

export const CORPUS = `${SHARED}/corpus/tcpdump-tests`;

/** Corpus files tshark counts resets in (shared/corpus/tcpdump-tests.census.tsv, column rst_packets_tshark). */
export function corpusFilesWithResets(): string[] {
  const tsv = readFileSync(`${SHARED}/corpus/tcpdump-tests.census.tsv`, 'utf8').trim().split('\n');
  return tsv
    .slice(1)
    .map((l) => l.split('\t'))
    .filter((f) => Number(f[3]) > 0)
    .map((f) => `${CORPUS}/${f[0]}`);
}

export interface Pkt {
  /** Seconds since the epoch (fractional). */
  t: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  /** Flag letters as in test/helpers/segments.ts: S, SA, A, PA, R, RA, FA. */
  flags: string;
  seq: number;
  ack: number;
  payload?: number;
}

function v4(text: string): Bytes {
  return text.split('.').map(Number);
}

function v6(text: string): Bytes {
  const [head, tail] = text.includes('::') ? text.split('::') : [text, ''];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.flatMap((g) => be16(Number.parseInt(g, 16)));
}

function frame(p: Pkt): Bytes {
  const seg = tcp({
    sport: p.sport,
    dport: p.dport,
    seq: p.seq,
    ack: p.ack,
    flags: flagBits(p.flags),
    win: 65535,
    payload: new Array<number>(p.payload ?? 0).fill(0x61),
  });
  if (!p.src.includes(':')) return ether(0x0800, ipv4(seg, { src: v4(p.src), dst: v4(p.dst) }));
  return ether(0x86dd, [0x60, 0, 0, 0, ...be16(seg.length), 6, 64, ...v6(p.src), ...v6(p.dst), ...seg]);
}

export function toPcap(pkts: readonly Pkt[]): Uint8Array {
  const recs: PcapRecord[] = pkts.map((p) => ({
    data: frame(p),
    sec: Math.floor(p.t),
    frac: Math.round((p.t - Math.floor(p.t)) * 1e6),
  }));
  return pcap(recs);
}

export const T0 = 1_714_564_800; // 2024-05-01 12:00:00 UTC

/**
 * 1,234 refused connects from 10.0.0.5 to 10.0.0.9:9001 spread over 40 s (the example finding),
 * three refused IPv6 connects, and one established connection the server aborts with a RST after data.
 */
export function richPackets(): Pkt[] {
  const out: Pkt[] = [];
  for (let i = 0; i < 1234; i++) {
    const t = T0 + (i * 40) / 1234;
    const sport = 20000 + i;
    out.push({ t, src: '10.0.0.5', dst: '10.0.0.9', sport, dport: 9001, flags: 'S', seq: 1000 + i, ack: 0 });
    out.push({
      t: t + 0.0001,
      src: '10.0.0.9',
      dst: '10.0.0.5',
      sport: 9001,
      dport: sport,
      flags: 'RA',
      seq: 0,
      ack: 1001 + i,
    });
  }
  for (let i = 0; i < 3; i++) {
    const t = T0 + 10 + i;
    out.push({
      t,
      src: '2001:db8::5',
      dst: '2001:db8::9',
      sport: 30000 + i,
      dport: 8080,
      flags: 'S',
      seq: 500,
      ack: 0,
    });
    out.push({
      t: t + 0.0002,
      src: '2001:db8::9',
      dst: '2001:db8::5',
      sport: 8080,
      dport: 30000 + i,
      flags: 'RA',
      seq: 0,
      ack: 501,
    });
  }
  const c = { src: '10.0.0.7', dst: '10.0.0.9', sport: 40000, dport: 443 };
  const s = { src: c.dst, dst: c.src, sport: c.dport, dport: c.sport };
  const t = T0 + 20;
  out.push({ ...c, t, flags: 'S', seq: 100, ack: 0 });
  out.push({ ...s, t: t + 0.001, flags: 'SA', seq: 900, ack: 101 });
  out.push({ ...c, t: t + 0.002, flags: 'A', seq: 101, ack: 901 });
  out.push({ ...c, t: t + 0.003, flags: 'PA', seq: 101, ack: 901, payload: 50 });
  out.push({ ...s, t: t + 0.004, flags: 'RA', seq: 901, ack: 151 });
  return out.sort((a, b) => a.t - b.t);
}

export function analyzeBytes(
  bytes: Uint8Array,
  name = 'crafted.pcap',
  maxConnections?: number,
): Promise<AnalysisReport> {
  return analyzeCapture(Readable.from([Buffer.from(bytes)]), { name, maxConnections });
}
