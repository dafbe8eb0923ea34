import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { BoundedCounter, ResetTally, SecondsHistogram } from '../../src/analyze/aggregate.js';
import { analyzeCapture } from '../../src/analyze/analyze.js';
import { buildContext } from '../../src/analyze/causes.js';
import { classifyResets } from '../../src/analyze/rules.js';
import type { Connection } from '../../src/analyze/types.js';
import { ether, ipv4, type PcapRecord, pcap, tcp } from '../fixtures/pcap/build.js';
import { run, seg } from '../helpers/segments.js';

const dir = mkdtempSync(join(tmpdir(), 'rstwatch-aggregate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('BoundedCounter', () => {
  it('counts exactly while under its key limit', () => {
    const c = new BoundedCounter(10);
    for (const k of ['a', 'b', 'a', 'c', 'a', 'b']) c.add(k);
    expect(c.top(2)).toEqual([
      { key: 'a', count: 3 },
      { key: 'b', count: 2 },
    ]);
    expect(c.dropped).toBe(0);
  });

  it('past the limit drops the smallest keys and keeps the frequent ones', () => {
    const c = new BoundedCounter(100);
    for (let i = 0; i < 10_000; i++) {
      c.add(`rare-${i}`);
      if (i % 10 === 0) c.add('hot');
    }
    expect(c.size).toBeLessThanOrEqual(100);
    expect(c.dropped).toBeGreaterThan(9000);
    expect(c.top(1)).toEqual([{ key: 'hot', count: 1000 }]);
  });
});

describe('SecondsHistogram', () => {
  it('matches a per-second count while the keys fit, and merges neighbours past the limit', () => {
    const exact = new SecondsHistogram();
    const small = new SecondsHistogram(8);
    const secs = [100, 100, 101, 105, 130, 131, 160, 161, 162, 190, 199];
    for (const s of secs) {
      exact.add(s);
      small.add(s);
    }
    expect(exact.timeline(600)).toEqual({
      startSec: 100,
      bucketSec: 1,
      counts: Array.from({ length: 100 }, (_, i) => secs.filter((s) => s === 100 + i).length),
    });
    const t = small.timeline(600);
    expect(t.bucketSec).toBeGreaterThan(1);
    expect(t.counts.reduce((a, b) => a + b, 0)).toBe(secs.length);
    expect(t.startSec).toBeLessThanOrEqual(100);
    expect(t.startSec + t.bucketSec * t.counts.length).toBeGreaterThan(199);
  });
});

/** Connections with resets of several causes: refused from many clients, aborts, half-open, multi-RST. */
function connections(): Connection[] {
  const all: Connection[] = [];
  for (let i = 0; i < 40; i++) {
    const hosts = { client: `10.0.${i % 7}.${1 + (i % 5)}`, clientPort: 40000 + i, serverPort: 80 + (i % 3) };
    const shape = i % 4;
    const segs =
      shape === 0
        ? [seg('o', 'S'), seg('r', 'RA', { seq: 0 })]
        : shape === 1
          ? [seg('o', 'S'), seg('r', 'SA'), seg('o', 'A'), seg('o', 'PA', { len: 10 }), seg('o', 'RA')]
          : shape === 2
            ? [seg('o', 'S'), seg('r', 'SA'), seg('o', 'A'), seg('r', 'PA', { len: 5 }), seg('r', 'R')]
            : [
                seg('o', 'S'),
                seg('r', 'SA'),
                seg('o', 'A'),
                seg('o', 'R', { seq: 5 }),
                seg('o', 'R', { seq: 9 }),
              ];
    const { conns } = run(segs, { hosts, t0: 1000 + i });
    all.push(...conns.map((c) => ({ ...c, id: i })));
  }
  return all;
}

describe('ResetTally', () => {
  const conns = connections();
  const ctx = buildContext(conns);
  const oneTally = new ResetTally();
  oneTally.add(classifyResets(conns, ctx));
  const view = (t: ResetTally) => ({
    causes: t.causeSummaries(),
    groups: t.topGroups(50).map((g) => [g.first.conn.id, g.first.index, g.count, g.conns, g.conf]),
    ports: t.topPorts(10),
    resets: t.resets,
    fromOrig: t.fromOrig,
  });

  it('fed in batches, in any order, gives what one pass in connection order gives', () => {
    expect(oneTally.causeSummaries().length).toBeGreaterThan(1);
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 1000 }), { minLength: conns.length, maxLength: conns.length }),
        fc.integer({ min: 1, max: 9 }),
        (keys, batch) => {
          const order = conns.map((c, i) => ({ c, k: keys[i]! })).sort((a, b) => a.k - b.k);
          const t = new ResetTally();
          for (let i = 0; i < order.length; i += batch)
            t.add(
              classifyResets(
                order.slice(i, i + batch).map((x) => x.c),
                ctx,
              ),
            );
          expect(view(t)).toEqual(view(oneTally));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('keeps at most maxGroups finding groups, dropping the smallest', () => {
    const t = new ResetTally(4);
    t.add(classifyResets(conns, ctx));
    expect(t.topGroups(100).length).toBeLessThanOrEqual(4);
    expect(t.groupsDropped).toBeGreaterThan(0);
    expect(t.resets).toBe(oneTally.resets);
  });
});

describe('analyzeCapture memory bound', () => {
  // 300 refused connections from 300 clients and 100 aborted ones: more than maxConnections + maxHeld.
  const recs: PcapRecord[] = [];
  const ip = (a: number, b: number) => [10, 9, a, b];
  for (let i = 0; i < 400; i++) {
    const client = ip(1 + (i >> 8), i & 255);
    const server = [10, 9, 0, 1];
    const sport = 30000 + i;
    const sec = 1_700_000_000 + Math.floor(i / 10);
    const push = (fromClient: boolean, flags: number, seq: number, ack: number, len = 0) =>
      recs.push({
        data: ether(
          0x0800,
          ipv4(
            tcp({
              sport: fromClient ? sport : 8080,
              dport: fromClient ? 8080 : sport,
              seq,
              ack,
              flags,
              payload: new Array(len).fill(1),
            }),
            { src: fromClient ? client : server, dst: fromClient ? server : client },
          ),
        ),
        sec,
        frac: recs.length,
      });
    push(true, 0x02, 1000, 0);
    if (i % 4 !== 3) push(false, 0x14, 0, 1001);
    else {
      push(false, 0x12, 5000, 1001);
      push(true, 0x10, 1001, 5001);
      push(true, 0x18, 1001, 5001, 20);
      push(false, 0x14, 5001, 1021);
    }
  }
  const file = join(dir, 'many.pcap');
  writeFileSync(file, pcap(recs));

  it('classifies early past maxConnections + maxHeldConnections, with the same totals and findings', async () => {
    const full = await analyzeCapture(file);
    const bounded = await analyzeCapture(file, { maxConnections: 5, maxHeldConnections: 16 });
    expect(full.summary.rsts).toBe(400);
    expect(full.summary.classifiedEarly).toBe(0);
    expect(bounded.summary.classifiedEarly).toBeGreaterThan(300);
    expect(bounded.connections).toHaveLength(5);
    expect(bounded.connections.map((c) => c.id)).toEqual(full.connections.slice(0, 5).map((c) => c.id));
    expect(bounded.connectionsOmitted).toBe(full.summary.connectionsWithResets - 5);
    // No scan, flood or backscatter here: the capture-wide context cannot change a cause, so early
    // classification must agree exactly.
    for (const k of ['causes', 'findings', 'top', 'timeline'] as const) expect(bounded[k]).toEqual(full[k]);
    expect({ ...bounded.summary, classifiedEarly: 0 }).toEqual(full.summary);
  });
});

describe('RSTs per connection', () => {
  // A blind RST-injection attack: thousands of RSTs with stepped sequence numbers on one 4-tuple, after a
  // short exchange (docs/security.md: recording each one cost gigabytes).
  const recs: PcapRecord[] = [];
  const client = [10, 8, 0, 1];
  const server = [10, 8, 0, 2];
  const push = (fromClient: boolean, flags: number, seq: number, ack: number, i: number) =>
    recs.push({
      data: ether(
        0x0800,
        ipv4(tcp({ sport: fromClient ? 40000 : 443, dport: fromClient ? 443 : 40000, seq, ack, flags }), {
          src: fromClient ? client : server,
          dst: fromClient ? server : client,
          ttl: fromClient ? 64 : 50,
        }),
      ),
      sec: 1_700_000_000 + Math.floor(i / 1000),
      frac: i % 1000,
    });
  push(true, 0x02, 1000, 0, 0);
  push(false, 0x12, 5000, 1001, 1);
  push(true, 0x10, 1001, 5001, 2);
  const injected = 5000;
  for (let i = 0; i < injected; i++) push(false, 0x04, (5001 + 4096 * i) >>> 0, 0, 3 + i);
  push(true, 0x14, 1001, 5001, 3 + injected); // and one from the client
  const file = join(dir, 'injection.pcap');
  writeFileSync(file, pcap(recs));

  it('past 32 per side a connection counts its RSTs instead of recording them; the totals stay exact', async () => {
    const r = await analyzeCapture(file);
    const s = r.summary;
    expect(s.rsts).toBe(injected + 1);
    expect(s.rstFromOrig + s.rstFromResp).toBe(s.rsts);
    expect(s.rstFromResp).toBe(injected);
    expect(r.causes.reduce((n, c) => n + c.count, 0)).toBe(s.rsts);
    expect(s.topApproximate).toBe(true);
    expect(r.connections).toHaveLength(1);
    const c = r.connections[0]!;
    expect(c.resets.filter((x) => x.side === 'resp')).toHaveLength(32);
    expect(c.resets.filter((x) => x.side === 'orig')).toHaveLength(1);
    const last = c.resets.filter((x) => x.side === 'resp').at(-1)!;
    expect(last.evidence.some((e) => e.startsWith(`${injected - 32} more RST(s) from the same side`))).toBe(
      true,
    );
    // The findings count every RST too.
    expect(r.findings.reduce((n, f) => n + f.count, 0)).toBe(s.rsts);
  });

  it('counted RSTs go to the cause of the last recorded one from their side, early classification too', async () => {
    const full = await analyzeCapture(file);
    const early = await analyzeCapture(file, { maxConnections: 0, maxHeldConnections: 1 });
    expect(early.causes).toEqual(full.causes);
    expect(early.summary.rstFromResp).toBe(full.summary.rstFromResp);
  });
});

describe('RSTs recorded in all', () => {
  it('past 262,144 recorded RSTs in the tracked flows, later ones are counted (each side keeps its first)', async () => {
    // 9,000 connections alive at once, each sent 31 RSTs by its server: 279,000 RSTs, more than the pool keeps.
    const conns = 9000;
    const per = 31;
    const n = conns * (per + 1);
    const buf = Buffer.alloc(24 + n * 70);
    buf.writeUInt32LE(0xa1b2c3d4, 0);
    buf.writeUInt16LE(2, 4);
    buf.writeUInt16LE(4, 6);
    buf.writeUInt32LE(65535, 16);
    buf.writeUInt32LE(1, 20);
    let o = 24;
    let k = 0;
    const frame = (fromClient: boolean, c: number, flags: number, seq: number) => {
      buf.writeUInt32LE(1_700_000_000, o);
      buf.writeUInt32LE(k++ % 1_000_000, o + 4);
      buf.writeUInt32LE(54, o + 8);
      buf.writeUInt32LE(54, o + 12);
      const ip = o + 16 + 14;
      buf.writeUInt16BE(0x0800, o + 16 + 12);
      buf[ip] = 0x45;
      buf.writeUInt16BE(40, ip + 2);
      buf[ip + 8] = 64;
      buf[ip + 9] = 6;
      const client = (0x0a070000 + c) >>> 0;
      buf.writeUInt32BE(fromClient ? client : 0x0a060001, ip + 12);
      buf.writeUInt32BE(fromClient ? 0x0a060001 : client, ip + 16);
      const t = ip + 20;
      buf.writeUInt16BE(fromClient ? 40000 : 443, t);
      buf.writeUInt16BE(fromClient ? 443 : 40000, t + 2);
      buf.writeUInt32BE(seq >>> 0, t + 4);
      buf[t + 12] = 0x50;
      buf[t + 13] = flags;
      o += 70;
    };
    for (let c = 0; c < conns; c++) frame(true, c, 0x18, 1000);
    for (let i = 0; i < per; i++) for (let c = 0; c < conns; c++) frame(false, c, 0x04, 7000 + 1000 * i);
    const f = join(dir, 'many-recorded.pcap');
    writeFileSync(f, buf);
    const r = await analyzeCapture(f, { maxConnections: 20 });
    const s = r.summary;
    expect(s.rsts).toBe(conns * per);
    expect(r.causes.reduce((x, c) => x + c.count, 0)).toBe(s.rsts);
    expect(s.rstFromOrig + s.rstFromResp).toBe(s.rsts);
    expect(s.topApproximate).toBe(true);
    // The pool filled during the 30th round of RSTs: the listed connections (the first 20) recorded 30, and
    // their 31st was counted, as their evidence says.
    const recorded = r.connections.map((c) => c.resets.length);
    expect(recorded).toEqual(new Array(20).fill(per - 1));
    for (const c of r.connections)
      expect(c.resets.at(-1)!.evidence.some((e) => e.startsWith('1 more RST(s) from the same side'))).toBe(
        true,
      );
  }, 60_000);
});
