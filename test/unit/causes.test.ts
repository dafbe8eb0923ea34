/**
 * Reset causes (src/analyze/causes.ts): one table row per cause, built from segment sequences through the
 * real FlowTable (test/helpers/segments.ts), plus the capture-wide rules (scan fan-out, RST flood,
 * backscatter) and a property: every reset gets exactly one classification, never "certain" without a rule.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildContext,
  CAUSE_TOPIC,
  CAUSES,
  type ClassifiedReset,
  ContextBuilder,
  emptyContext,
  THRESHOLDS,
} from '../../src/analyze/causes.js';
import { FlowTable } from '../../src/analyze/flows.js';
import { classifyResets } from '../../src/analyze/rules.js';
import type { Connection } from '../../src/analyze/types.js';
import { findTopic } from '../../src/model/explain.js';
import { decodeFrameAt } from '../../src/packet/decode.js';
import { newDecodedTcp } from '../../src/packet/types.js';
import { Feeder, type Hosts, one, run, type Seg, seg } from '../helpers/segments.js';
import { arbPackets, frame, type Pkt, times } from './analyze-streams.js';

const hs = () => [seg('o', 'S'), seg('r', 'SA'), seg('o', 'A')];

function classifyAll(conns: Connection[]): ClassifiedReset[] {
  return classifyResets(conns, buildContext(conns));
}

function classifyOne(segs: Seg[]): ClassifiedReset {
  const c = one(segs);
  const out = classifyAll([c]);
  expect(out).toHaveLength(1);
  return out[0]!;
}

/** Several connections, each with its own hosts, through one table. */
function many(list: { hosts: Partial<Hosts>; segs: Seg[]; t0?: number }[]): Connection[] {
  const table = new FlowTable();
  for (const { hosts, segs, t0 } of list) {
    const f = new Feeder({ hosts, ...(t0 === undefined ? {} : { t0 }) });
    for (const s of segs) f.feed(table, s);
  }
  return table.finish();
}

describe('every cause names an explain topic', () => {
  it.each(CAUSES.map((c) => [c, CAUSE_TOPIC[c]]))('%s → %s', (_cause, topic) => {
    expect(findTopic(topic)?.id).toBe(topic);
  });
});

describe('per-connection causes', () => {
  it.each<[string, Seg[], string, string, RegExp]>([
    [
      'refused: SYN answered by RST+ACK acknowledging it',
      [seg('o', 'S'), seg('r', 'RA', { seq: 0, ack: 1001 })],
      'refused',
      'certain',
      /nothing listens/,
    ],
    [
      'refused, but the RST does not acknowledge the SYN',
      [seg('o', 'S'), seg('r', 'RA', { seq: 0, ack: 77 })],
      'refused',
      'likely',
      /answered by RST\+ACK/,
    ],
    [
      'single half-open probe: SYN, SYN-ACK, RST from the originator',
      [seg('o', 'S'), seg('r', 'SA'), seg('o', 'R')],
      'scan',
      'possible',
      /half-open probe/,
    ],
    [
      'application abort: RST+ACK with the current seq in place of a FIN',
      [...hs(), seg('o', 'PA', { len: 100 }), seg('r', 'A'), seg('r', 'RA')],
      'abort',
      'likely',
      /instead of a FIN/,
    ],
    [
      'abort after close: FIN, then RST+ACK',
      [...hs(), seg('o', 'PA', { len: 100 }), seg('r', 'FA'), seg('o', 'PA', { len: 10 }), seg('r', 'RA')],
      'abort',
      'likely',
      /data arrived after close/,
    ],
    [
      'idle timeout (possible): RST+ACK after 2 minutes of silence',
      [...hs(), seg('o', 'PA', { len: 100 }), seg('r', 'A'), seg('r', 'RA', { gapSec: 120 })],
      'idle-timeout',
      'possible',
      /silent for 120 s/,
    ],
    [
      'idle timeout (likely): RST+ACK after 2 hours of silence',
      [...hs(), seg('o', 'PA', { len: 100 }), seg('r', 'A'), seg('r', 'RA', { gapSec: 7200 })],
      'idle-timeout',
      'likely',
      /silent for 7200 s/,
    ],
    [
      'queue overflow: handshake done by the client, SYN-ACK retransmitted, then RST',
      [
        seg('o', 'S'),
        seg('r', 'SA'),
        seg('o', 'A'),
        seg('r', 'SA', { seq: 5000, gapSec: 1 }),
        seg('r', 'SA', { seq: 5000, gapSec: 2 }),
        seg('r', 'R'),
      ],
      'queue-overflow',
      'likely',
      /2 SYN-ACK retransmission/,
    ],
    [
      // Found on real traffic (test/fixtures/pcap/scenarios/05-overflow-v4.pcap): was classified half-open.
      'queue overflow with tcp_abort_on_overflow=1: only a SYN-ACK, the client ACKs and sends, bare RST at ISN+1',
      [seg('o', 'S'), seg('r', 'SA'), seg('o', 'A'), seg('o', 'PA', { len: 8 }), seg('r', 'R')],
      'queue-overflow',
      'likely',
      /sent only its SYN-ACK, then answered .* bare RST at its ISN \+ 1[\s\S]*8 byte\(s\) of data/,
    ],
    [
      // Found on real traffic (test/fixtures/pcap/scenarios/04-keepalive-v4.pcap): was classified abort.
      'keepalive timeout: three unanswered keepalive probes 1 s apart, then RST+ACK',
      [
        ...hs(),
        seg('o', 'PA', { len: 5 }),
        seg('r', 'A'),
        seg('r', 'PA', { len: 5 }),
        seg('o', 'A'),
        seg('o', 'A', { seq: 1005, gapSec: 1 }),
        seg('o', 'A', { seq: 1005, gapSec: 1 }),
        seg('o', 'A', { seq: 1005, gapSec: 1 }),
        seg('o', 'RA', { gapSec: 1 }),
      ],
      'idle-timeout',
      'likely',
      /sent 3 keepalive probe\(s\) .* never answered/,
    ],
    [
      'not a keepalive timeout: the probes were answered, then RST+ACK (an abort)',
      [
        ...hs(),
        seg('o', 'PA', { len: 5 }),
        seg('r', 'A'),
        seg('o', 'A', { seq: 1005, gapSec: 1 }),
        seg('r', 'A'),
        seg('o', 'RA', { gapSec: 0.5 }),
      ],
      'abort',
      'likely',
      /instead of a FIN/,
    ],
    [
      'half-open, not overflow: the server had sent data before its bare RST',
      [...hs(), seg('r', 'PA', { len: 10 }), seg('o', 'A'), seg('o', 'PA', { len: 8 }), seg('r', 'R')],
      'half-open',
      'likely',
      /bare RST/,
    ],
    [
      'TIME-WAIT assassination: RST after both FINs',
      [...hs(), seg('o', 'FA'), seg('r', 'FA'), seg('o', 'A'), seg('r', 'R', { gapSec: 1 })],
      'time-wait-assassination',
      'likely',
      /both sides had sent FIN/,
    ],
    [
      'half-open: bare RST answering data',
      [
        ...hs(),
        seg('r', 'PA', { len: 10 }),
        seg('o', 'A'),
        seg('o', 'PA', { len: 100, gapSec: 30 }),
        seg('r', 'R'),
      ],
      'half-open',
      'likely',
      /bare RST/,
    ],
    [
      'injection: in-window RST answered by a challenge ACK',
      [
        ...hs(),
        seg('o', 'PA', { len: 100 }),
        seg('r', 'A', { win: 512 }),
        seg('o', 'R', { seq: 1101 + 300, noAdvance: true }),
        seg('r', 'A', { ack: 1101, gapSec: 0.0002 }),
      ],
      'injection',
      'likely',
      /challenge ACK \(frame 7/,
    ],
    [
      'injection: exact RST whose TTL differs from the sender’s other packets',
      [...hs(), seg('o', 'PA', { len: 100 }), seg('r', 'A'), seg('r', 'RA', { ttl: 51 })],
      'injection',
      'possible',
      /TTL 51 unlike/,
    ],
    [
      'injection (possible): in-window RST, no challenge ACK seen',
      [
        ...hs(),
        seg('o', 'PA', { len: 100 }),
        seg('r', 'A', { win: 512 }),
        seg('o', 'R', { seq: 1101 + 300, noAdvance: true }),
      ],
      'injection',
      'possible',
      /not the one the receiver expected \(in-window\)/,
    ],
    [
      'unsolicited SYN-ACK answered by RST: backscatter (possible, one only)',
      [seg('r', 'SA'), seg('o', 'R', { seq: 1000 })],
      'backscatter',
      'possible',
      /sent a SYN-ACK although/,
    ],
    [
      'a lone RST stays unexplained, with its facts',
      [seg('r', 'RA', { seq: 123, ack: 456 })],
      'unexplained',
      'possible',
      /no other packet of this connection/,
    ],
  ])('%s', (_name, segs, cause, confidence, why) => {
    const r = classifyOne(segs);
    expect([r.cause, r.confidence]).toEqual([cause, confidence]);
    expect(r.topic).toBe(CAUSE_TOPIC[r.cause as keyof typeof CAUSE_TOPIC]);
    expect(r.evidence.join('\n')).toMatch(why);
    // The facts of the RST itself are always there.
    expect(r.evidence.join('\n')).toMatch(new RegExp(`frame ${r.reset.frame}: RST`));
  });

  it('refused evidence names the endpoints, the delay and the ack', () => {
    const r = classifyOne([seg('o', 'S'), seg('r', 'RA', { seq: 0, ack: 1001, gapSec: 0.0005 })]);
    expect(r.evidence[0]).toBe(
      'SYN to 10.0.0.2:80 answered by RST+ACK 0.50 ms after the SYN, no SYN-ACK: nothing listens there (the RST acknowledges the SYN)',
    );
    expect(r.evidence[1]).toBe(
      'frame 2: RST+ACK from 10.0.0.2:80 to 10.0.0.1:40000, seq 0, ack 1001: acknowledges the SYN (exact)',
    );
    expect([r.sender, r.senderPort, r.receiver, r.receiverPort]).toEqual(['10.0.0.2', 80, '10.0.0.1', 40000]);
  });
});

describe('capture-wide causes', () => {
  it('scan: one source refused on many ports within a minute', () => {
    const conns = many(
      Array.from({ length: THRESHOLDS.scanMinTargets }, (_, i) => ({
        hosts: { serverPort: 1000 + i, clientPort: 50000 + i },
        t0: 1_700_000_000 + i * 0.01,
        segs: [seg('o', 'S'), seg('r', 'RA', { seq: 0, ack: 1001 })],
      })),
    );
    const ctx = buildContext(conns);
    expect(ctx.scanners.get('10.0.0.1')).toMatchObject({ targets: 10, ports: 10, hosts: 1 });
    const out = classifyResets(conns, ctx);
    expect(out.map((r) => r.cause)).toEqual(new Array(10).fill('scan'));
    expect(out[0]!.evidence[0]).toMatch(/failed attempts to 10 targets \(10 port\(s\) on 1 host\(s\)\)/);
  });

  it('SYN scan (SYN, SYN-ACK, RST) on many ports counts as a scan too', () => {
    const conns = many(
      Array.from({ length: 12 }, (_, i) => ({
        hosts: { serverPort: 2000 + i, clientPort: 50000 + i },
        t0: 1_700_000_000 + i * 0.01,
        segs: [seg('o', 'S'), seg('r', 'SA'), seg('o', 'R')],
      })),
    );
    const out = classifyAll(conns);
    expect(new Set(out.map((r) => `${r.cause}/${r.confidence}`))).toEqual(new Set(['scan/likely']));
  });

  it('not a scan: the same target refused many times (one target), or targets spread over hours', () => {
    const same = many(
      Array.from({ length: 20 }, (_, i) => ({
        hosts: { serverPort: 9001, clientPort: 50000 + i },
        t0: 1_700_000_000 + i,
        segs: [seg('o', 'S'), seg('r', 'RA', { seq: 0, ack: 1001 })],
      })),
    );
    expect(new Set(classifyAll(same).map((r) => r.cause))).toEqual(new Set(['refused']));
    const slow = many(
      Array.from({ length: 12 }, (_, i) => ({
        hosts: { serverPort: 3000 + i, clientPort: 50000 + i },
        t0: 1_700_000_000 + i * 600,
        segs: [seg('o', 'S'), seg('r', 'RA', { seq: 0, ack: 1001 })],
      })),
    );
    expect(buildContext(slow).scanners.size).toBe(0);
  });

  // Found on real traffic (test/fixtures/pcap/scenarios/10-rst-scan-v4.pcap): lone RSTs to 20 ports were
  // "unexplained".
  it('RST scan: lone bare RSTs from one source to many ports', () => {
    const conns = many(
      Array.from({ length: 12 }, (_, i) => ({
        hosts: { clientPort: 45679, serverPort: 7000 + i },
        t0: 1_700_000_000 + i * 0.01,
        segs: [seg('o', 'R', { seq: (i * 104729) >>> 0 })],
      })),
    );
    const ctx = buildContext(conns);
    expect(ctx.scanners.get('10.0.0.1')).toMatchObject({ targets: 12, rstProbes: 12, ports: 12, hosts: 1 });
    const out = classifyResets(conns, ctx);
    expect(new Set(out.map((r) => `${r.cause}/${r.confidence}`))).toEqual(new Set(['scan/likely']));
    expect(out[0]!.evidence[0]).toMatch(/12 of them lone RSTs/);
    expect(out[0]!.evidence[1]).toMatch(/RST scan probe/);
  });

  it('not an RST scan: lone RSTs from a service port (a server answering what the capture missed)', () => {
    const conns = many(
      Array.from({ length: 12 }, (_, i) => ({
        hosts: { serverPort: 443, clientPort: 50000 + i },
        segs: [seg('r', 'R', { seq: (i * 104729) >>> 0 })],
      })),
    );
    expect(buildContext(conns).scanners.size).toBe(0);
    expect(new Set(classifyAll(conns).map((r) => r.cause))).toEqual(new Set(['unexplained']));
  });

  it('RST flood: many RST-only flows to one receiver', () => {
    const conns = many(
      Array.from({ length: THRESHOLDS.floodMinRsts }, (_, i) => ({
        hosts: { client: `198.51.100.${i + 1}`, clientPort: 1024 + i },
        segs: [seg('o', 'R', { seq: (i * 7919) >>> 0 })],
      })),
    );
    const out = classifyAll(conns);
    expect(new Set(out.map((r) => `${r.cause}/${r.confidence}`))).toEqual(new Set(['rst-flood/likely']));
    expect(out[0]!.evidence[0]).toMatch(/^50 RSTs to 10\.0\.0\.2 from 50 source\(s\)/);
    // Below the threshold: unexplained.
    expect(classifyAll(conns.slice(0, 5)).every((r) => r.cause === 'unexplained')).toBe(true);
  });

  it('backscatter: unsolicited SYN-ACKs from one host to another, each answered by a RST', () => {
    const conns = many(
      Array.from({ length: THRESHOLDS.backscatterMin }, (_, i) => ({
        hosts: { clientPort: 30000 + i * 17 },
        segs: [seg('r', 'SA'), seg('o', 'R', { seq: 1000 })],
      })),
    );
    const out = classifyAll(conns);
    expect(new Set(out.map((r) => `${r.cause}/${r.confidence}`))).toEqual(new Set(['backscatter/likely']));
    expect(out[0]!.topic).toBe('syn-flood');
  });

  it('backscatter: lone RST+ACKs from one sender to one receiver on many ports', () => {
    const conns = many(
      Array.from({ length: 6 }, (_, i) => ({
        hosts: { clientPort: 40000 + i },
        segs: [seg('r', 'RA', { seq: 0, ack: 99 + i })],
      })),
    );
    const out = classifyAll(conns);
    expect(new Set(out.map((r) => `${r.cause}/${r.confidence}`))).toEqual(new Set(['backscatter/possible']));
  });
});

describe('properties', () => {
  const flags = ['S', 'SA', 'A', 'PA', 'FA', 'R', 'RA'];
  const arbSeg = fc.record({
    dir: fc.constantFrom<'o' | 'r'>('o', 'r'),
    f: fc.constantFrom(...flags),
    len: fc.integer({ min: 0, max: 2000 }),
    gap: fc.constantFrom(0.0001, 0.01, 1, 90, 400),
    ttl: fc.constantFrom(64, 64, 64, 50),
    off: fc.option(fc.integer({ min: -70000, max: 70000 }), { nil: undefined }),
  });

  it('one classification per reset; unexplained is never certain; every cause has evidence', () => {
    fc.assert(
      fc.property(fc.array(arbSeg, { minLength: 1, maxLength: 14 }), (raw) => {
        const segs = raw.map((s) =>
          seg(s.dir, s.f, {
            len: s.f === 'PA' ? s.len : 0,
            gapSec: s.gap,
            ttl: s.ttl,
            ...(s.off !== undefined && s.f.includes('R')
              ? { seq: (1000 + s.off) >>> 0, noAdvance: true }
              : {}),
          }),
        );
        const { conns } = run(segs);
        const out = classifyResets(conns, buildContext(conns));
        const total = conns.reduce((n, c) => n + c.resets.length, 0);
        expect(out).toHaveLength(total);
        for (const r of out) {
          expect(CAUSES).toContain(r.cause);
          expect(r.evidence.length).toBeGreaterThan(0);
          if (r.cause === 'unexplained') expect(r.confidence).not.toBe('certain');
        }
        // Pure: same input, same output; an empty context only changes capture-wide causes.
        expect(classifyResets(conns, buildContext(conns)).map((r) => r.cause)).toEqual(
          out.map((r) => r.cause),
        );
        classifyResets(conns, emptyContext());
      }),
      { numRuns: 300 },
    );
  });

  it('counted only (explain: false): the same causes and confidences, no evidence', () => {
    fc.assert(
      fc.property(arbPackets(120), (pkts) => {
        const conns = streamConnections(pkts);
        const ctx = buildContext(conns);
        const full = classifyResets(conns, ctx);
        const counted = classifyResets(conns, ctx, { explain: false });
        expect(counted.map((r) => ({ ...r, evidence: [] }))).toEqual(
          full.map((r) => ({ ...r, evidence: [] })),
        );
        for (const r of counted) expect(r.evidence).toEqual([]);
        for (const r of full) expect(r.evidence.length).toBeGreaterThan(0);
      }),
      { numRuns: 150 },
    );
  });
});

/** Connections of a generated packet stream (analyze-streams.ts) through one flow table. */
function streamConnections(pkts: Pkt[]): Connection[] {
  const conns: Connection[] = [];
  const table = new FlowTable({ maxFlows: 8, onConnection: (c) => conns.push(c) });
  const p = newDecodedTcp();
  const ts = times(pkts);
  pkts.forEach((x, i) => {
    const bytes = Uint8Array.from(frame(x));
    if (decodeFrameAt(1, bytes, 0, bytes.length, p) === undefined)
      table.observe(p, Math.floor(ts[i]! / 1e6), (ts[i]! % 1e6) * 1000, i + 1);
  });
  return [...conns, ...table.finish()];
}

describe('bounded context', () => {
  it('past maxKeys sources the lighter half is dropped and counted; a scanner stays and is still found', () => {
    const b = new ContextBuilder(100);
    const conns = many([
      // One scanner: 20 refused ports within a second.
      ...Array.from({ length: 20 }, (_, i) => ({
        hosts: { client: '10.9.9.9', serverPort: 3000 + i, clientPort: 40000 + i },
        t0: 1_700_000_000 + i * 0.01,
        segs: [seg('o', 'S'), seg('r', 'RA', { seq: 0, ack: 1001 })],
      })),
      // 1,000 spoofed sources, one unanswered SYN each (S0).
      ...Array.from({ length: 1000 }, (_, i) => ({
        hosts: { client: `10.7.${i >> 8}.${i & 255}`, serverPort: 80, clientPort: 40000 },
        t0: 1_700_000_001 + i * 0.001,
        segs: [seg('o', 'S')],
      })),
    ]);
    for (const c of conns) b.add(c);
    expect(b.evicted).toBeGreaterThan(800);
    const ctx = b.build();
    expect(ctx.scanners.get('10.9.9.9')).toMatchObject({ targets: 20, ports: 20 });
    // Without the bound, the same connections keep every source.
    const unbounded = new ContextBuilder();
    for (const c of conns) unbounded.add(c);
    expect(unbounded.evicted).toBe(0);
    expect(unbounded.build().scanners.get('10.9.9.9')).toEqual(ctx.scanners.get('10.9.9.9'));
  });

  it('flood receivers and backscatter pairs are bounded the same way', () => {
    const b = new ContextBuilder(50);
    const lone = (dir: 'o' | 'r', flags: string) =>
      many(
        Array.from({ length: 400 }, (_, i) => ({
          hosts: {
            client: '10.5.5.5',
            server: `10.6.${i >> 8}.${i & 255}`,
            serverPort: 80,
            clientPort: 50001,
          },
          t0: 1_700_000_000 + i * 0.001,
          segs: [seg(dir, flags, { seq: 9, ack: 77 })],
        })),
      );
    // Lone RST+ACKs from 400 servers to one client: 400 backscatter pairs, one flood receiver.
    for (const c of lone('r', 'RA')) b.add(c);
    const pairsDropped = b.evicted;
    expect(pairsDropped).toBeGreaterThan(300);
    // Lone RSTs from the client to 400 servers: 400 flood receivers.
    for (const c of lone('o', 'R')) b.add(c);
    expect(b.evicted - pairsDropped).toBeGreaterThan(300);
  });
});
