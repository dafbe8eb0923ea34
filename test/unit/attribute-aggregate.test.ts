/** The per-second aggregator: exact totals, the top-K bound with its "other" bucket, windows, retention. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Aggregator, kthLargest, selectTop, tupleKey } from '../../src/attribute/aggregate.js';
import type { RstEvent } from '../../src/attribute/types.js';

const T0 = 1_700_000_000;

function ev(over: Partial<RstEvent> = {}): RstEvent {
  return {
    direction: 'sent',
    family: 'ipv4',
    localAddr: '10.0.0.1',
    localPort: 80,
    remoteAddr: '10.0.0.2',
    remotePort: 40000,
    reason: 'NO_SOCKET',
    state: 'UNKNOWN',
    ...over,
  };
}

const arbEvent = fc.record({
  direction: fc.constantFrom('sent' as const, 'received' as const),
  family: fc.constantFrom('ipv4' as const, 'ipv6' as const),
  localAddr: fc.constantFrom('10.0.0.1', 'fd00::1'),
  localPort: fc.integer({ min: 1, max: 30 }),
  remoteAddr: fc.integer({ min: 1, max: 40 }).map((n) => `10.1.0.${n}`),
  remotePort: fc.integer({ min: 1, max: 50 }),
  reason: fc.constantFrom('NO_SOCKET', 'TCP_STATE', 'TCP_ABORT_ON_CLOSE', 'NOT_REPORTED'),
  state: fc.constantFrom('UNKNOWN', 'TCP_CLOSE', 'NOT_REPORTED'),
});
const arbStream = fc.array(fc.tuple(arbEvent, fc.integer({ min: 0, max: 20 })), { maxLength: 400 });

describe('Aggregator', () => {
  it('counts exactly when the keys fit in K, per direction and window', () => {
    const a = new Aggregator({ topK: 10, retentionSeconds: 3600 });
    for (let i = 0; i < 7; i++) a.add(ev({ remoteAddr: '10.0.0.9' }), T0);
    for (let i = 0; i < 3; i++)
      a.add(ev({ direction: 'received', reason: 'NOT_REPORTED', localPort: 5555 }), T0 + 1);
    a.add(ev({ remoteAddr: '10.0.0.3', localPort: 443 }), T0 + 5);
    const all = a.top({ nowSec: T0 + 5, windowSeconds: 10 });
    expect(all.total).toBe(11);
    expect(all.other).toBe(0);
    expect(all.peers).toEqual([
      { key: '10.0.0.9', count: 7 },
      { key: '10.0.0.2', count: 3 },
      { key: '10.0.0.3', count: 1 },
    ]);
    expect(all.reasons).toEqual([
      { key: 'NO_SOCKET', count: 8 },
      { key: 'NOT_REPORTED', count: 3 },
    ]);
    const sent = a.top({ nowSec: T0 + 5, windowSeconds: 10, direction: 'sent' });
    expect(sent.total).toBe(8);
    expect(sent.localPorts).toEqual([
      { key: '80', count: 7 },
      { key: '443', count: 1 },
    ]);
    // the window (now − w, now]: only second T0+5
    expect(a.top({ nowSec: T0 + 5, windowSeconds: 1 }).total).toBe(1);
    expect(a.top({ nowSec: T0 + 1, windowSeconds: 1, direction: 'received' }).tuples).toEqual([
      { key: 'received ipv4 10.0.0.1:5555 <- 10.0.0.2:40000 NOT_REPORTED UNKNOWN', count: 3 },
    ]);
    expect(tupleKey(ev({ family: 'ipv6', localAddr: 'fd00::1', remoteAddr: 'fd00::2' }))).toBe(
      'sent ipv6 [fd00::1]:80 -> [fd00::2]:40000 NO_SOCKET UNKNOWN',
    );
  });

  it('bounds a closed second to K keys per dimension and direction; the rest is "other" (property)', () => {
    fc.assert(
      fc.property(arbStream, fc.integer({ min: 1, max: 6 }), (stream, k) => {
        const a = new Aggregator({ topK: k, retentionSeconds: 3600 });
        for (const [e, s] of stream) a.add(e, T0 + s);
        a.tick(T0 + 100); // closes every second
        const expected = new Map<number, number>();
        for (const [, s] of stream) expected.set(T0 + s, (expected.get(T0 + s) ?? 0) + 1);
        for (const [sec, n] of expected) {
          const size = a.secondSize(sec)!;
          expect(size.open).toBe(false);
          expect(size.totals[0]! + size.totals[1]!).toBe(n);
          // per dimension: at most K keys per direction (2 directions)
          for (const keys of size.keys) expect(keys).toBeLessThanOrEqual(2 * k);
        }
        // every window: total exact; each dimension's listed counts never exceed the total, and
        // listed + other covers it exactly for peers when the limit is large
        const top = a.top({ nowSec: T0 + 100, windowSeconds: 200, limit: 10_000 });
        expect(top.total).toBe(stream.length);
        const peersListed = top.peers.reduce((s, e) => s + e.count, 0);
        expect(peersListed + top.other).toBe(stream.length);
        for (const dim of [top.localPorts, top.remotePorts, top.reasons, top.states, top.tuples]) {
          expect(dim.reduce((s, e) => s + e.count, 0)).toBeLessThanOrEqual(stream.length);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('with K at least the number of distinct keys, every count is exact (property)', () => {
    fc.assert(
      // Seconds in order, as each CPU's buffer delivers them (late events are the other test's matter).
      fc.property(
        arbStream.map((st) => [...st].sort((x, y) => x[1] - y[1])),
        (stream) => {
          const a = new Aggregator({ topK: 500, retentionSeconds: 3600 });
          for (const [e, s] of stream) a.add(e, T0 + s);
          a.tick(T0 + 100);
          const want = new Map<string, number>();
          for (const [e] of stream) want.set(tupleKey(e), (want.get(tupleKey(e)) ?? 0) + 1);
          const top = a.top({ nowSec: T0 + 30, windowSeconds: 60, limit: 100_000 });
          expect(new Map(top.tuples.map((t) => [t.key, t.count]))).toEqual(want);
          expect(top.other).toBe(0);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('keeps a heavy key through a scan of distinct keys within one second', () => {
    const a = new Aggregator({ topK: 5, retentionSeconds: 3600 });
    for (let i = 0; i < 20_000; i++) {
      a.add(ev({ remoteAddr: `10.9.${(i >> 8) & 255}.${i & 255}`, remotePort: 1024 + i }), T0);
      if (i % 4 === 0) a.add(ev({ remoteAddr: '203.0.113.7' }), T0);
    }
    // while open, the working set stays bounded (16·K folded to half)
    const live = a.secondSize(T0)!;
    expect(live.open).toBe(true);
    for (const n of live.keys) expect(n).toBeLessThanOrEqual(2 * Math.max(64, 16 * 5));
    a.tick(T0 + 10);
    const top = a.top({ nowSec: T0 + 10, windowSeconds: 60, limit: 3 });
    expect(top.total).toBe(25_000);
    expect(top.peers[0]).toEqual({ key: '203.0.113.7', count: 5_000 });
    expect(top.other).toBeGreaterThan(19_000);
  });

  it('folds rarely when both directions see distinct keys (a refused connect on this host is both)', () => {
    // Folding each direction to half the limit left the map one key under it with both directions busy,
    // so every later event folded (sorted) again: 100 µs per reset in the soak's storms.
    const a = new Aggregator({ topK: 10, retentionSeconds: 3600 });
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      const port = 1024 + (i >> 1);
      a.add(ev({ direction: i % 2 === 0 ? 'sent' : 'received', remotePort: port }), T0);
    }
    // tuples and remote ports: n / 2 distinct keys in each direction; a direction folds (half the limit,
    // 80 keys, down to a quarter, 40) once per 40 new keys at most: 2 dimensions × 2 directions × n/2 / 40.
    expect(a.counters.folds).toBeGreaterThan(0);
    expect(a.counters.folds).toBeLessThanOrEqual((2 * 2 * (n / 2)) / 40 + 4);
    a.tick(T0 + 10);
    const top = a.top({ nowSec: T0 + 10, windowSeconds: 60, limit: 3 });
    expect(top.total).toBe(n);
  });

  it('computes only the lists asked for (`only`), with the same totals', () => {
    const a = new Aggregator({ topK: 10, retentionSeconds: 3600 });
    for (let i = 0; i < 50; i++) a.add(ev({ remotePort: 2000 + (i % 7) }), T0);
    a.tick(T0 + 10);
    const all = a.top({ nowSec: T0, windowSeconds: 1 });
    const some = a.top({ nowSec: T0, windowSeconds: 1, only: ['reasons'] });
    expect(some.reasons).toEqual(all.reasons);
    expect(some.reasons.length).toBeGreaterThan(0);
    expect(some.total).toBe(50);
    expect(some.peers).toEqual([]);
    expect(some.localPorts).toEqual([]);
    expect(some.tuples).toEqual([]);
  });

  it('a late event for a closed second is counted in its total and "other"', () => {
    const a = new Aggregator({ topK: 2, retentionSeconds: 3600 });
    a.add(ev(), T0);
    a.add(ev(), T0 + 10);
    a.tick(T0 + 10); // the read pass ends: closes T0
    a.add(ev({ remoteAddr: '10.0.0.77' }), T0); // late
    const top = a.top({ nowSec: T0, windowSeconds: 1 });
    expect(top.total).toBe(2);
    expect(top.other).toBe(1);
    expect(top.peers).toEqual([{ key: '10.0.0.2', count: 1 }]);
    // a late event of a key the second kept is counted on that key
    a.add(ev(), T0);
    expect(a.top({ nowSec: T0, windowSeconds: 1 }).peers).toEqual([{ key: '10.0.0.2', count: 2 }]);
    expect(a.top({ nowSec: T0, windowSeconds: 1 }).total).toBe(3);
    // a second first seen late is closed at once (bounded)
    a.add(ev({ remoteAddr: '10.0.0.88' }), T0 + 3);
    expect(a.secondSize(T0 + 3)!.open).toBe(false);
  });

  it('one read pass may bring older seconds after newer ones (CPUs read in turn): none of them is late', () => {
    const a = new Aggregator({ topK: 2, retentionSeconds: 3600 });
    // CPU 0 had seconds T0..T0+6 waiting, CPU 1 too, each event a distinct peer (more than topK per second).
    for (const _cpu of [0, 1])
      for (let s = 0; s <= 6; s++) a.add(ev({ remoteAddr: `10.0.${_cpu}.${s}` }), T0 + s);
    a.tick(T0 + 7);
    for (let s = 0; s <= 3; s++) {
      const top = a.top({ nowSec: T0 + s, windowSeconds: 1, limit: 10 });
      expect(top.total).toBe(2);
      expect(top.other).toBe(0);
      expect(top.peers.map((p) => p.key).sort()).toEqual([`10.0.0.${s}`, `10.0.1.${s}`]);
    }
  });

  it('keeps the retention (an hour) and no more; windows are capped by it', () => {
    const a = new Aggregator({ topK: 3, retentionSeconds: 3600 });
    for (let s = 0; s < 4000; s += 10) a.add(ev(), T0 + s);
    const hour = a.top({ nowSec: T0 + 3990, windowSeconds: 3600 });
    expect(hour.total).toBe(360);
    const more = a.top({ nowSec: T0 + 3990, windowSeconds: 99_999 });
    expect(more.windowSeconds).toBe(3600);
    expect(more.total).toBe(360);
    expect(a.secondSize(T0)).toBeUndefined();
    a.add(ev(), T0 + 10); // older than the retention: dropped, counted as such
    expect(a.counters.dropped).toBe(1);
  });
});

describe('folding without a sort', () => {
  it('kthLargest is the k-th value of a descending sort, ties and all', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 300 }),
        fc.nat(),
        (values, pick) => {
          const k = 1 + (pick % values.length);
          const sorted = [...values].sort((a, b) => b - a);
          expect(kthLargest(Float64Array.from(values), values.length, k)).toBe(sorted[k - 1]);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('keeps exactly the keys a stable sort by count would keep, per direction, the rest in "other"', () => {
    // The former fold, as the reference: entries of one direction sorted by count (stable), the first kept.
    const reference = (
      m: Map<string, number>,
      keep: number,
    ): { kept: Map<string, number>; other: number[] } => {
      const kept = new Map(m);
      const other = [0, 0];
      for (const [di, prefix] of [
        [0, 's'],
        [1, 'r'],
      ] as const) {
        const entries = [...kept].filter(([k]) => k[0] === prefix);
        if (entries.length <= keep) continue;
        entries.sort((x, y) => y[1] - x[1]);
        for (let i = keep; i < entries.length; i++) {
          other[di]! += entries[i]![1];
          kept.delete(entries[i]![0]);
        }
      }
      return { kept, other };
    };
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.constantFrom('s', 'r'),
            fc.integer({ min: 0, max: 400 }),
            fc.integer({ min: 1, max: 5 }),
          ),
          {
            maxLength: 400,
          },
        ),
        fc.integer({ min: 1, max: 50 }),
        (entries, keep) => {
          const m = new Map<string, number>();
          for (const [d, key, c] of entries) m.set(`${d}${key}`, (m.get(`${d}${key}`) ?? 0) + c);
          const want = reference(m, keep);
          // The aggregator keeps one map per direction, keys without the prefix: dimension 0 is at 0 (sent)
          // and 1 (received).
          const agg = new Aggregator({ topK: 10, retentionSeconds: 3600 });
          const of = (mm: Map<string, number>, d: string) =>
            [...mm].filter(([k]) => k[0] === d).map(([k, c]): [string, number] => [k.slice(1), c]);
          const bucket = { other: [[0, 0]], live: [new Map(of(m, 's')), new Map(of(m, 'r'))] };
          const fold = (agg as unknown as { fold(b: unknown, at: number, keep: number): void }).fold.bind(
            agg,
          );
          fold(bucket, 0, keep);
          fold(bucket, 1, keep);
          expect([...bucket.live[0]!]).toEqual(of(want.kept, 's'));
          expect([...bucket.live[1]!]).toEqual(of(want.kept, 'r'));
          expect(bucket.other[0]).toEqual(want.other);
        },
      ),
      { numRuns: 1000 },
    );
  });
  it('selecting the top entries gives what sorting every entry gives (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.oneof(fc.integer({ min: 0, max: 70_000 }), fc.string({ maxLength: 6 })),
            fc.integer({ min: 1, max: 8 }),
          ),
          { maxLength: 300 },
        ),
        fc.integer({ min: 1, max: 70 }),
        (entries, limit) => {
          const m = new Map<string | number, number>();
          for (const [k, c] of entries) m.set(k, (m.get(k) ?? 0) + c);
          const sorted = [...m]
            .map(([k, c]): [string, number] => [String(k), c])
            .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
            .slice(0, limit)
            .map(([key, count]) => ({ key, count }));
          // Keys whose text collides (7 and "7") make the order between them arbitrary: compare counts.
          const got = selectTop(m, limit);
          expect(got.map((e) => e.count)).toEqual(sorted.map((e) => e.count));
          if (new Set([...m.keys()].map(String)).size === m.size) expect(got).toEqual(sorted);
        },
      ),
      { numRuns: 500 },
    );
  });
});
