import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FlowTable, isLikelyServerPort } from '../../src/analyze/flows.js';
import { judgeRst } from '../../src/analyze/seq.js';
import { CONN_STATES, type Connection } from '../../src/analyze/types.js';
import { Feeder, one, run, type Seg, seg } from '../helpers/segments.js';

/** Handshake with window scaling: both sides offer wscale 7, so windows are field << 7. */
const hsScaled = (wscale: number | undefined = 7) => [
  seg('o', 'S', wscale === undefined ? {} : { wscale }),
  seg('r', 'SA', wscale === undefined ? {} : { wscale }),
  seg('o', 'A'),
];

describe('RST judgments (RFC 5961 §3.2 against the receiver RCV.NXT and window)', () => {
  it('exact: seq == the next sequence number expected from the sender', () => {
    const c = one([...hsScaled(), seg('o', 'PA', { len: 100 }), seg('r', 'A', { win: 512 }), seg('o', 'RA')]);
    const r = c.resets[0]!;
    expect([r.judgment, r.side, r.flags, r.seq, r.expectedSeq]).toEqual([
      'exact',
      'orig',
      'RST+ACK',
      1101,
      1101,
    ]);
    expect(r.receiverWindow).toBe(512 << 7);
  });

  it.each([
    [1000, 'in-window'],
    [65535, 'in-window'],
    [65536, 'out-of-window'],
    [-1, 'out-of-window'],
    [-100000, 'out-of-window'],
  ])('with window scaling (512 << 7): seq offset %i → %s', (off, want) => {
    const c = one([
      ...hsScaled(),
      seg('r', 'A', { win: 512 }),
      seg('o', 'R', { seq: (1001 + off) >>> 0, noAdvance: true }),
    ]);
    expect(c.resets[0]!.judgment).toBe(want);
    expect(c.resets[0]!.seqOffset).toBe(off);
  });

  it('no scaling when only one SYN offered it: the window is the raw field', () => {
    const c = one([
      seg('o', 'S', { wscale: 7 }),
      seg('r', 'SA'),
      seg('o', 'A'),
      seg('r', 'A', { win: 512 }),
      seg('o', 'R', { seq: 1001 + 1000 }),
    ]);
    expect([c.resets[0]!.judgment, c.resets[0]!.receiverWindow]).toEqual(['out-of-window', 512]);
  });

  it('mid-stream (shift unknown): inside the raw window, unknown up to << 14, out beyond', () => {
    const mid = (off: number) =>
      one([
        seg('o', 'PA', { len: 10 }),
        seg('r', 'A', { win: 512 }),
        seg('o', 'R', { seq: 1010 + off, noAdvance: true }),
      ]).resets[0]!.judgment;
    expect(mid(0)).toBe('exact');
    expect(mid(100)).toBe('in-window');
    expect(mid(100_000)).toBe('unknown');
    expect(mid(10_000_000)).toBe('out-of-window');
  });

  it('unknown when the capture never showed the RST sender nor an ACK of it', () => {
    expect(one([seg('r', 'R')]).resets[0]!.judgment).toBe('unknown');
  });

  it("the receiver's ACKs give RCV.NXT when the sender's data was not captured", () => {
    const c = one([seg('o', 'P', { len: 10 }), seg('r', 'RA', { seq: 7777 })]);
    expect(c.resets[0]!.judgment).toBe('unknown'); // the client never acknowledged the server
    const d = one([seg('o', 'PA', { len: 10, ack: 7777 }), seg('r', 'RA', { seq: 7777 })]);
    expect(d.resets[0]!.judgment).toBe('exact');
  });

  it('a RST answering a SYN is exact when it acknowledges the SYN (RFC 9293 §3.10.7.3)', () => {
    expect(one([seg('o', 'S'), seg('r', 'RA', { seq: 0, ack: 1001 })]).resets[0]!.judgment).toBe('exact');
    expect(one([seg('o', 'S'), seg('r', 'RA', { seq: 0, ack: 4242 })]).resets[0]!.judgment).toBe(
      'out-of-window',
    );
    expect(one([seg('o', 'S'), seg('r', 'R', { seq: 0 })]).resets[0]!.judgment).toBe('out-of-window');
  });

  it('judgeRst handles sequence wrap-around', () => {
    const ctx = { rcvNxt: 0xffffff00, rawWindow: 1000, windowShift: 0, synSentSndNxt: -1 };
    expect(judgeRst(0x10, 0, false, ctx).judgment).toBe('in-window');
    expect(judgeRst(0xffffff00, 0, false, ctx).judgment).toBe('exact');
    expect(judgeRst(0xfffffe00, 0, false, ctx).judgment).toBe('out-of-window');
  });
});

describe('challenge ACK detection (RFC 5961 §3.2)', () => {
  const base = [...hsScaled(), seg('o', 'PA', { len: 100 }), seg('r', 'A', { win: 512 })];
  const injected = seg('o', 'R', { seq: 1101 + 5000, noAdvance: true, ttl: 120, ipId: 4242 });

  it('a pure ACK from the receiver acknowledging RCV.NXT right after an in-window RST', () => {
    const c = one([...base, injected, seg('r', 'A', { ack: 1101, gapSec: 0.0002 })]);
    const r = c.resets[0]!;
    expect([r.judgment, r.challengeAck, r.challengeAckFrame]).toEqual(['in-window', true, 7]);
    expect(c.connState).toBe('RSTO'); // Zeek still counts the (ignored) RST
    // Fingerprint against the sender's earlier packets.
    expect([r.ttl, r.prevTtl, r.ipId, r.prevIpId, r.prevPackets]).toEqual([120, 64, 4242, 1, 3]);
  });

  it('not when the ACK acknowledges something else, carries data, or comes too late', () => {
    expect(one([...base, injected, seg('r', 'A', { ack: 1050 })]).resets[0]!.challengeAck).toBe(false);
    expect(one([...base, injected, seg('r', 'PA', { len: 5 })]).resets[0]!.challengeAck).toBe(false);
    expect(one([...base, injected, seg('r', 'A', { gapSec: 2 })]).resets[0]!.challengeAck).toBe(false);
    expect(one([...base, injected, seg('o', 'A')]).resets[0]!.challengeAck).toBe(false);
  });
});

describe('reset context', () => {
  it('idle time, both-FINs flag and sender states', () => {
    const c = one([
      ...hsScaled(undefined),
      seg('o', 'FA'),
      seg('r', 'FA'),
      seg('o', 'A'),
      seg('r', 'R', { gapSec: 30 }),
    ]);
    const r = c.resets[0]!;
    expect(r.idleSec).toBeCloseTo(30, 3);
    expect([r.afterBothFins, r.senderStateBefore, r.receiverStateBefore]).toEqual([true, 'CLOSED', 'CLOSED']);
    expect(c.connState).toBe('SF');
  });

  it('connection facts: SYN/SYN-ACK retransmissions, handshake, options, data, FINs, zero windows', () => {
    const c = one([
      seg('o', 'S', { mss: 1460, wscale: 7, sack: true, tsVal: 1 }),
      seg('o', 'S', { seq: 1000, gapSec: 1 }),
      seg('r', 'SA', { mss: 1400, wscale: 9 }),
      seg('r', 'SA', { seq: 5000, gapSec: 1 }),
      seg('o', 'A'),
      seg('o', 'PA', { len: 300 }),
      seg('r', 'A', { win: 0 }),
      seg('r', 'PA', { len: 50 }),
      seg('o', 'FA'),
      seg('r', 'RA'),
    ]);
    expect([c.synRetransmissions, c.synAckRetransmissions, c.handshakeCompleted]).toEqual([1, 1, true]);
    expect([c.orig.mss, c.orig.wscale, c.orig.sackPermitted, c.orig.timestamps]).toEqual([
      1460,
      7,
      true,
      true,
    ]);
    expect([c.resp.mss, c.resp.wscale, c.resp.timestamps]).toEqual([1400, 9, false]);
    expect([c.origPayloadBytes, c.respPayloadBytes, c.orig.seqBytes, c.resp.seqBytes]).toEqual([
      300, 50, 300, 50,
    ]);
    expect([c.orig.fins, c.resp.zeroWindows, c.origPackets, c.respPackets]).toEqual([1, 1, 5, 5]);
    expect([c.connState, c.history]).toEqual(['RSTR', 'ShADawdFr']);
  });

  it('no handshake when the final ACK is missing', () => {
    expect(one([seg('o', 'S'), seg('r', 'SA')]).handshakeCompleted).toBe(false);
  });
});

describe('originator detection', () => {
  it('the SYN sender, whatever the ports', () => {
    const c = one([seg('o', 'S')], { hosts: { clientPort: 80, serverPort: 40000 } });
    expect([c.origPort, c.history]).toEqual([80, 'S']);
  });
  it('mid-stream: the side on a likely server port is the responder (^ when flipped)', () => {
    const c = one([seg('r', 'PA', { len: 10 }), seg('o', 'A')]);
    expect([c.origPort, c.respPort, c.history]).toEqual([40000, 80, '^dA']);
    const d = one([seg('o', 'PA', { len: 10 })], { hosts: { clientPort: 40000, serverPort: 50000 } });
    expect([d.origPort, d.history]).toEqual([40000, 'D']);
  });
  it('both likely server ports: the lower one is the responder', () => {
    const c = one([seg('o', 'PA', { len: 1 })], { hosts: { clientPort: 443, serverPort: 8080 } });
    expect([c.origPort, c.respPort]).toEqual([8080, 443]);
    expect(isLikelyServerPort(443) && isLikelyServerPort(6379) && !isLikelyServerPort(40000)).toBe(true);
  });
});

describe('flow table', () => {
  it('IPv6 addresses in compressed form and a canonical key', () => {
    const c = one([seg('o', 'S'), seg('r', 'RA', { seq: 0 })], {
      hosts: { client: '2001:db8:0:0:0:0:0:1', server: '2001:db8::2:0:0:80' },
    });
    expect([c.ipVersion, c.origAddr, c.respAddr]).toEqual([6, '2001:db8::1', '2001:db8::2:0:0:80']);
    expect(c.key).toBe('[2001:db8::1]:40000-[2001:db8::2:0:0:80]:80');
    expect(c.connState).toBe('REJ');
  });

  it('IPv4 and IPv6 with the same leading bytes are different flows', () => {
    const table = new FlowTable();
    const f4 = new Feeder({ hosts: { client: '32.1.13.184', server: '10.0.0.2' }, table });
    const f6 = new Feeder({ hosts: { client: '2001:db8::', server: 'a00:2::' }, table });
    f4.feed(table, seg('o', 'S'));
    f6.feed(table, seg('o', 'S'));
    expect(table.finish().map((c) => c.ipVersion)).toEqual([4, 6]);
  });

  it('port reuse: a new SYN on a closed 4-tuple starts a second connection', () => {
    const { conns, table } = run([
      seg('o', 'S'),
      seg('r', 'SA'),
      seg('o', 'A'),
      seg('o', 'FA'),
      seg('r', 'FA'),
      seg('o', 'A'),
      seg('o', 'S', { seq: 900000 }),
      seg('r', 'RA', { seq: 0 }),
    ]);
    expect(conns.map((c) => [c.connState, c.history, c.closedBy])).toEqual([
      ['SF', 'ShAFf', 'reused'],
      ['REJ', 'Sr', 'end'],
    ]);
    expect(table.stats.reused).toBe(1);
  });

  it('a SYN retransmission with the same ISN on an open attempt is the same connection', () => {
    const { conns } = run([seg('o', 'S'), seg('o', 'S', { seq: 1000 }), seg('o', 'S', { seq: 1000 })]);
    expect(conns.map((c) => [c.connState, c.synRetransmissions])).toEqual([['S0', 2]]);
  });

  it('evicts the least recently used flow when full: counted, delivered, nothing lost', () => {
    const got: Connection[] = [];
    const table = new FlowTable({ maxFlows: 2, onConnection: (c) => got.push(c) });
    const feeders = [40001, 40002, 40003, 40004, 40005].map(
      (p) => new Feeder({ hosts: { clientPort: p }, table }),
    );
    let n = 0;
    for (let round = 0; round < 3; round++) {
      for (const f of feeders) {
        f.feed(table, round === 0 ? seg('o', 'S') : seg('o', 'A'));
        n++;
      }
    }
    const rest = table.finish();
    expect(rest).toHaveLength(2);
    expect(table.stats.evicted).toBe(13);
    expect(got).toHaveLength(13);
    expect(got.every((c) => c.closedBy === 'evicted')).toBe(true);
    const all = [...got, ...rest];
    expect(all.reduce((s, c) => s + c.origPackets + c.respPackets, 0)).toBe(n);
    expect(new Set(all.map((c) => c.id)).size).toBe(15);
    expect(table.stats).toMatchObject({ flows: 15, packets: 15, active: 0 });
  });

  it('expires finished flows after closedTimeoutSec and idle ones after idleTimeoutSec', () => {
    const got: Connection[] = [];
    const table = new FlowTable({
      closedTimeoutSec: 10,
      idleTimeoutSec: 100,
      onConnection: (c) => got.push(c),
    });
    const a = new Feeder({ hosts: { clientPort: 41000 }, table, t0: 1000 });
    const b = new Feeder({ hosts: { clientPort: 42000 }, table, t0: 1000 });
    const z = new Feeder({ hosts: { clientPort: 43000 }, table, t0: 1000 });
    a.feed(table, seg('o', 'S'));
    a.feed(table, seg('r', 'RA', { seq: 0 }));
    b.feed(table, seg('o', 'S'));
    z.feed(table, seg('o', 'S', { t: 1020 }));
    expect(got.map((c) => [c.origPort, c.closedBy])).toEqual([[41000, 'finished']]);
    z.feed(table, seg('o', 'S', { seq: 1000, t: 1105 }));
    expect(got.map((c) => [c.origPort, c.closedBy])).toEqual([
      [41000, 'finished'],
      [42000, 'idle'],
    ]);
    expect(table.stats.expired).toBe(2);
    expect(table.finish().map((c) => c.origPort)).toEqual([43000]);
  });

  it('a full table lets a finished flow quiet for > 5 s (Zeek tcp_close_delay) go as finished, not evicted', () => {
    const got: Connection[] = [];
    const table = new FlowTable({ maxFlows: 1, onConnection: (c) => got.push(c) });
    const a = new Feeder({ hosts: { clientPort: 44001 }, table, t0: 1000 });
    const b = new Feeder({ hosts: { clientPort: 44002 }, table, t0: 1006 });
    const c = new Feeder({ hosts: { clientPort: 44003 }, table, t0: 1007 });
    a.feed(table, seg('o', 'S'));
    a.feed(table, seg('r', 'RA', { seq: 0 })); // REJ: finished at t ≈ 1000
    b.feed(table, seg('o', 'S')); // 6 s later: a goes as finished (expired), not evicted
    c.feed(table, seg('o', 'S')); // b is open: evicted
    expect(got.map((x) => [x.origPort, x.closedBy, x.connState])).toEqual([
      [44001, 'finished', 'REJ'],
      [44002, 'evicted', 'S0'],
    ]);
    expect(table.stats).toMatchObject({ evicted: 1, expired: 1 });
  });

  // Flow objects are pooled and reset for the next connection: nothing of the previous one may leak into it.
  it.each([
    ['a SYN that is never answered', [seg('o', 'S')]],
    ['a partial connection seen mid-stream', [seg('o', 'A', { seq: 7_000_000, ack: 9_000_000, len: 10 })]],
    [
      'a handshake, data and an abort',
      [
        seg('o', 'S', { wscale: 2 }),
        seg('r', 'SA'),
        seg('o', 'A'),
        seg('o', 'PA', { len: 50 }),
        seg('r', 'RA'),
      ],
    ],
  ])('a reused flow object starts clean: %s', (_, later) => {
    const before = [
      seg('o', 'S', { wscale: 7, mss: 1460, tsVal: 5 }),
      seg('r', 'SA', { wscale: 7, win: 0 }),
      seg('o', 'A'),
      seg('o', 'PA', { len: 300, ttl: 9 }),
      seg('r', 'RA', { seq: 77 }),
      seg('o', 'FA'),
    ];
    const strip = (c: Connection) => {
      const { id, firstFrame, lastFrame, startTime, endTime, ...rest } = c;
      return { ...rest, resets: rest.resets.map(({ frame, time, ...r }) => r) };
    };
    const alone = one(later, { hosts: { clientPort: 45002 }, t0: 2000 });
    const got: Connection[] = [];
    const table = new FlowTable({ maxFlows: 1, onConnection: (c) => got.push(c) });
    const first = new Feeder({ hosts: { clientPort: 45001 }, table, t0: 1000 });
    for (const sg of before) first.feed(table, sg);
    const second = new Feeder({ hosts: { clientPort: 45002 }, table, t0: 2000 });
    for (const sg of later) second.feed(table, sg);
    const rest = table.finish();
    expect(got).toHaveLength(1);
    expect(got[0]!.resets).toHaveLength(1);
    expect(rest).toHaveLength(1);
    expect(strip(rest[0]!)).toEqual(strip(alone));
  });

  it('without onConnection, finish() returns everything in start order', () => {
    const table = new FlowTable({ maxFlows: 1 });
    for (const p of [1, 2, 3])
      new Feeder({ hosts: { clientPort: 50000 + p }, table }).feed(table, seg('o', 'S'));
    expect(table.finish().map((c) => [c.id, c.origPort, c.closedBy])).toEqual([
      [0, 50001, 'evicted'],
      [1, 50002, 'evicted'],
      [2, 50003, 'end'],
    ]);
  });
});

describe('properties', () => {
  const flagsArb = fc.constantFrom('S', 'SA', 'A', 'PA', 'FA', 'F', 'R', 'RA', 'FR', 'SF', 'SR', 'U', '');
  const segArb = fc.record({
    dir: fc.constantFrom<'o' | 'r'>('o', 'r'),
    flags: flagsArb,
    seq: fc.option(fc.nat({ max: 0xffffffff }), { nil: undefined }),
    ack: fc.option(fc.nat({ max: 0xffffffff }), { nil: undefined }),
    len: fc.integer({ min: 0, max: 3000 }),
    win: fc.integer({ min: 0, max: 65535 }),
    wscale: fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }),
    port: fc.constantFrom(40000, 40001, 80),
    gapSec: fc.constantFrom(0, 0.001, 0.5, 2, 100),
  });
  const valid = /^[\^xXsShHaAdDfFrRcCgGtTwWiIqQ]*$/;

  it('random segment sequences: never throw, valid state and letters, every packet counted once', () => {
    fc.assert(
      fc.property(fc.array(segArb, { maxLength: 60 }), fc.integer({ min: 1, max: 4 }), (specs, maxFlows) => {
        const table = new FlowTable({ maxFlows, idleTimeoutSec: 50, closedTimeoutSec: 5 });
        const got: Connection[] = [];
        table.onConnection = (c) => got.push(c);
        const feeders = new Map<number, Feeder>();
        for (const s of specs) {
          let f = feeders.get(s.port);
          if (!f) {
            f = new Feeder({ hosts: { clientPort: s.port, serverPort: s.port === 80 ? 81 : 80 }, table });
            feeders.set(s.port, f);
          }
          const sg: Seg = { ...seg(s.dir, s.flags), len: s.len, win: s.win, gapSec: s.gapSec };
          if (s.seq !== undefined) sg.seq = s.seq;
          if (s.ack !== undefined) sg.ack = s.ack;
          if (s.wscale !== undefined) sg.wscale = s.wscale;
          f.feed(table, sg);
        }
        const all = [...got, ...table.finish()];
        for (const c of all) {
          expect(CONN_STATES).toContain(c.connState);
          expect(c.history).toMatch(valid);
          expect(c.orig.seqBytes).toBeGreaterThanOrEqual(0);
        }
        expect(all.reduce((n, c) => n + c.origPackets + c.respPackets, 0)).toBe(specs.length);
        expect(all.reduce((n, c) => n + c.resets.length, 0)).toBe(table.stats.resets);
        expect(table.stats.packets).toBe(specs.length);
        expect(new Set(all.map((c) => c.id)).size).toBe(all.length);
      }),
      { numRuns: 400 },
    );
  });
});
