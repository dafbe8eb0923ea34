/**
 * The restructured analysis (typed-array flow records, int32 sequence numbers, lazily built connections,
 * evidence only where it is shown) against a frozen copy of the code before it (test/unit/analyze-reference,
 * commit 5e504eb): the same connections, resets, causes and reports on random segment sequences and random
 * captures. Sequence numbers are drawn around 2^31 and 2^32 (and exactly 0xFFFFFFFF, which `| 0` makes −1),
 * times step forwards, backwards and past every timeout, and tables are tiny, so that eviction, expiry, reuse,
 * role flips, challenge ACKs, keepalive probes and early classification all happen.
 */
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { analyzeCapture } from '../../src/analyze/analyze.js';
import { buildContext, CAUSES } from '../../src/analyze/causes.js';
import { FlowTable } from '../../src/analyze/flows.js';
import { MAX_RESETS_PER_SIDE } from '../../src/analyze/reset-pool.js';
import { classifyResets } from '../../src/analyze/rules.js';
import { CONN_STATES, type Connection } from '../../src/analyze/types.js';
import { decodeFrameAt } from '../../src/packet/decode.js';
import { newDecodedTcp } from '../../src/packet/types.js';
import { analyzeCapture as refAnalyzeCapture } from './analyze-reference/analyze/analyze.js';
import { FlowTable as RefFlowTable } from './analyze-reference/analyze/flows.js';
import type { Connection as RefConnection } from './analyze-reference/analyze/types.js';
import { decodeFrameAt as refDecodeFrameAt } from './analyze-reference/packet/decode.js';
import { newDecodedTcp as refNewDecodedTcp } from './analyze-reference/packet/types.js';
import { arbPackets, capture, frame, maxRstsPerSide, type Pkt, times } from './analyze-streams.js';

/** A connection as plain data (the key is a getter on the new side). */
function plain(c: Connection | RefConnection): unknown {
  return {
    ...c,
    key: c.key,
    orig: { ...c.orig },
    resp: { ...c.resp },
    resets: c.resets.map((r) => ({ ...r })),
  };
}

interface TableOpts {
  maxFlows: number;
  closedTimeoutSec?: number;
}

/** Feeds the same decoded frames to the current and the reference flow table; returns both lists. */
function runBoth(pkts: Pkt[], opts: TableOpts): { ours: unknown[]; ref: unknown[] } {
  const ours: Connection[] = [];
  const ref: RefConnection[] = [];
  const a = new FlowTable({ ...opts, onConnection: (c) => ours.push(c) });
  const b = new RefFlowTable({ ...opts, onConnection: (c) => ref.push(c) });
  const pa = newDecodedTcp();
  const pb = refNewDecodedTcp();
  const ts = times(pkts);
  pkts.forEach((p, i) => {
    const bytes = Uint8Array.from(frame(p));
    const ka = decodeFrameAt(1, bytes, 0, bytes.length, pa);
    const kb = refDecodeFrameAt(1, bytes, 0, bytes.length, pb);
    expect(ka).toBe(kb);
    expect({ ...pa, src: [...pa.src], dst: [...pa.dst] }).toEqual({
      ...pb,
      src: [...pb.src],
      dst: [...pb.dst],
    });
    if (ka !== undefined) return;
    const sec = Math.floor(ts[i]! / 1e6);
    const nsec = (ts[i]! % 1e6) * 1000;
    a.observe(pa, sec, nsec, i + 1);
    b.observe(pb, sec, nsec, i + 1);
  });
  ours.push(...a.finish());
  ref.push(...b.finish());
  expect(a.stats).toEqual(b.stats);
  return { ours: ours.map(plain), ref: ref.map(plain) };
}

const source = (bytes: Uint8Array) => Readable.from([Buffer.from(bytes)]);

/**
 * The one intended difference: the queue-overflow finding no longer says "retransmitted SYN-ACKs and then
 * reset", which was false for the tcp_abort_on_overflow=1 shape (a bare RST, no retransmission).
 */
function withNewQueueSentence<T extends { findings: { cause: string; text: string }[] }>(r: T): T {
  for (const f of r.findings) {
    if (f.cause !== 'queue-overflow') continue;
    f.text = f.text.replace(
      /^(`[^`]+`) retransmitted SYN-ACKs and then reset (\S+ connections?): its listen\/accept queue overflowed; /,
      '$1 reset $2 its listen/accept queue could not take (SYN-ACK retransmissions, or a bare RST to the handshake with tcp_abort_on_overflow=1): ',
    );
  }
  return r;
}

describe('equivalence with the reference analysis (5e504eb → now)', () => {
  it('the generated streams reach every cause, judgment, conn_state and exit of the table', () => {
    const seen = {
      causes: new Set<string>(),
      judgments: new Set<string>(),
      states: new Set<string>(),
      closedBy: new Set<string>(),
      facts: new Set<string>(),
    };
    for (const pkts of fc.sample(arbPackets(150), { numRuns: 300, seed: 7 })) {
      const conns: Connection[] = [];
      const table = new FlowTable({ maxFlows: 8, onConnection: (c) => conns.push(c) });
      const p = newDecodedTcp();
      const ts = times(pkts);
      pkts.forEach((x, i) => {
        const bytes = Uint8Array.from(frame(x));
        if (decodeFrameAt(1, bytes, 0, bytes.length, p) === undefined)
          table.observe(p, Math.floor(ts[i]! / 1e6), (ts[i]! % 1e6) * 1000, i + 1);
      });
      conns.push(...table.finish());
      for (const r of classifyResets(conns, buildContext(conns))) {
        seen.causes.add(r.cause);
        seen.judgments.add(r.reset.judgment);
        if (r.reset.keepaliveProbes > 0) seen.facts.add('keepalive');
        if (r.reset.challengeAck) seen.facts.add('challenge-ack');
        if (r.reset.afterBothFins) seen.facts.add('after-fins');
      }
      for (const c of conns) {
        seen.states.add(c.connState);
        seen.closedBy.add(c.closedBy);
        if (c.flipped) seen.facts.add('flipped');
        if (c.synAckRetransmissions > 0) seen.facts.add('synack-retx');
        if (c.history.length > 24) seen.facts.add('long-history');
      }
    }
    expect([...seen.causes].sort()).toEqual([...CAUSES].sort());
    expect([...seen.judgments].sort()).toEqual(['exact', 'in-window', 'out-of-window', 'unknown']);
    expect([...seen.states].sort()).toEqual([...CONN_STATES].sort());
    expect([...seen.closedBy].sort()).toEqual(['end', 'evicted', 'finished', 'idle', 'reused']);
    expect([...seen.facts].sort()).toEqual([
      'after-fins',
      'challenge-ack',
      'flipped',
      'keepalive',
      'long-history',
      'synack-retx',
    ]);
  });

  it('decoder: the same answer and fields as the reference on mutated frames (Ethernet, IPv4/IPv6, VLAN, TCP)', () => {
    const a = newDecodedTcp();
    const b = refNewDecodedTcp();
    const plainOf = (p: typeof a) => ({ ...p, src: [...p.src], dst: [...p.dst] });
    fc.assert(
      fc.property(
        arbPackets(3).filter((x) => x.length > 0),
        fc.array(
          fc.tuple(fc.nat(70), fc.oneof(fc.constantFrom(0, 1, 5, 6, 0x40, 0x45, 0x60, 0xff), fc.nat(255))),
          {
            maxLength: 4,
          },
        ),
        fc.nat(80),
        fc.boolean(),
        (pkts, flips, cut, vlan) => {
          let bytes = frame(pkts[0]!);
          if (vlan) bytes = [...bytes.slice(0, 12), 0x81, 0x00, 0, 7, ...bytes.slice(12)];
          for (const [at, v] of flips) if (at < bytes.length) bytes[at] = v;
          const data = Uint8Array.from(bytes.slice(0, Math.max(0, bytes.length - cut)));
          // The same reused objects across frames, as the analyzer uses them.
          const ka = decodeFrameAt(1, data, 0, data.length, a);
          const kb = refDecodeFrameAt(1, data, 0, data.length, b);
          expect(ka).toBe(kb);
          expect(plainOf(a)).toEqual(plainOf(b));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('flow table: the same connections and resets on random segment streams', () => {
    fc.assert(
      fc.property(arbPackets(120), fc.constantFrom(1, 2, 3, 8, 64), (pkts, maxFlows) => {
        fc.pre(maxRstsPerSide(pkts) <= MAX_RESETS_PER_SIDE);
        const { ours, ref } = runBoth(pkts, { maxFlows });
        expect(ours).toEqual(ref);
      }),
      { numRuns: 400 },
    );
  });

  it('flow table: the same with a short close timeout (finished flows leave while others continue)', () => {
    fc.assert(
      fc.property(arbPackets(200), (pkts) => {
        fc.pre(maxRstsPerSide(pkts) <= MAX_RESETS_PER_SIDE);
        const { ours, ref } = runBoth(pkts, { maxFlows: 4, closedTimeoutSec: 1 });
        expect(ours).toEqual(ref);
      }),
      { numRuns: 150 },
    );
  });

  it('analyzeCapture: the same report on random captures, with and without early classification', async () => {
    await fc.assert(
      fc.asyncProperty(
        arbPackets(150),
        fc.record({
          maxFlows: fc.constantFrom(2, 8, 1000),
          maxConnections: fc.constantFrom(0, 1, 3, 1000),
          maxHeldConnections: fc.constantFrom(1, 2, 4, 4096),
          top: fc.constantFrom(1, 3, 10),
        }),
        async (pkts, opts) => {
          fc.pre(maxRstsPerSide(pkts) <= MAX_RESETS_PER_SIDE);
          const bytes = capture(pkts);
          const ours = await analyzeCapture(source(bytes), { ...opts, name: 'x' });
          const ref = withNewQueueSentence(await refAnalyzeCapture(source(bytes), { ...opts, name: 'x' }));
          expect(ours).toEqual(ref);
        },
      ),
      { numRuns: 150 },
    );
  });
});
