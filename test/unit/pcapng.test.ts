import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readCapture } from '../../src/packet/reader.js';
import type { PacketRecord, ReadSummary } from '../../src/packet/types.js';
import { block, bytes, epb, ether, idb, ipv4, ipv6, isb, pb, shb, spb, tcp } from '../fixtures/pcap/build.js';

async function read(
  b: Uint8Array,
  chunk = 0,
): Promise<{ s: ReadSummary; pkts: Omit<PacketRecord, 'data' | 'buf' | 'dataOffset'>[]; data: number[][] }> {
  const pkts: Omit<PacketRecord, 'data' | 'buf' | 'dataOffset'>[] = [];
  const data: number[][] = [];
  const parts: Buffer[] = [];
  if (chunk === 0) parts.push(Buffer.from(b));
  else for (let i = 0; i < b.length; i += chunk) parts.push(Buffer.from(b.subarray(i, i + chunk)));
  const s = await readCapture(Readable.from(parts, { objectMode: false }), (p) => {
    const { data: d, buf, dataOffset, ...rest } = p;
    // The record's range of the reader's buffer is exactly its data (what decodeFrameAt reads).
    expect([...buf.subarray(dataOffset, dataOffset + p.caplen)]).toEqual([...d]);
    pkts.push({ ...rest });
    data.push([...d]);
  });
  return { s, pkts, data };
}

const rst4 = ether(0x0800, ipv4(tcp({ flags: 0x04 })));
const rst6raw = ipv6(tcp({ flags: 0x14 }));

describe('pcapng', () => {
  it('reads two sections of different byte orders, each with its own interfaces', async () => {
    // 1_700_000_000.123456789 s in ns is above 2^53: the parser must not go through a double.
    const tsNs = 1_700_000_000n * 1_000_000_000n + 123_456_789n;
    const hi = Number(tsNs >> 32n);
    const lo = Number(tsNs & 0xffffffffn);
    // 2^-10 s units: 1_700_000_001 s + 512/1024 s.
    const ts2 = 1_700_000_001 * 1024 + 512;
    const b = bytes(
      shb(true),
      idb(true, 1, { tsresol: 9, name: 'eth0' }),
      idb(true, 101, { tsresol: 0x80 | 10, snaplen: 128, tsoffset: 100 }),
      epb(true, 0, rst4, { tsHi: hi, tsLo: lo, flags: 2 }),
      epb(true, 1, rst6raw, { tsHi: Math.floor(ts2 / 2 ** 32), tsLo: ts2 >>> 0, flags: 1 }),
      shb(false),
      idb(false, 113, {}),
      epb(false, 0, [0, 4, ...new Array(12).fill(0), 8, 0, ...ipv4(tcp())], {
        tsHi: 0,
        tsLo: 1_700_000_002_000_001 % 2 ** 32,
      }),
    );
    const g = await read(b);
    expect(g.s.problems).toEqual([]);
    expect(g.s.format).toBe('pcapng');
    expect(g.s.packets).toBe(3);
    expect(
      g.s.interfaces.map((i) => [i.linkType, i.snaplen, i.tsUnitsPerSecond, i.tsOffsetSec, i.name]),
    ).toEqual([
      [1, 262144, 1e9, 0, 'eth0'],
      [101, 128, 1024, 100, undefined],
      [113, 262144, 1e6, 0, undefined],
    ]);
    expect(g.pkts[0]).toMatchObject({
      frame: 1,
      linkType: 1,
      interfaceId: 0,
      tsSec: 1_700_000_000,
      tsNsec: 123_456_789,
      direction: 2,
    });
    expect(g.pkts[1]).toMatchObject({
      frame: 2,
      linkType: 101,
      interfaceId: 1,
      tsSec: 1_700_000_101,
      tsNsec: 500_000_000,
      direction: 1,
    });
    const us = 1_700_000_002_000_001 % 2 ** 32;
    expect(g.pkts[2]).toMatchObject({
      frame: 3,
      linkType: 113,
      interfaceId: 0,
      tsSec: Math.floor(us / 1e6),
      tsNsec: (us % 1e6) * 1000,
      direction: 0,
    });
    expect(g.data[1]).toEqual(rst6raw);
    for (const size of [1, 3, 13]) expect(await read(b, size)).toEqual(g);
  });

  it('reads simple packet blocks (length from the snap length of interface 0) and obsolete packet blocks', async () => {
    const long = ether(0x0800, ipv4(tcp({ payload: new Array(100).fill(7) })));
    const b = bytes(
      shb(true),
      idb(true, 1, { snaplen: 64 }),
      spb(true, long.slice(0, 64), long.length),
      spb(true, rst4),
      pb(true, 0, rst4, { tsLo: 3_000_000, flags: 2 }),
    );
    const g = await read(b);
    expect(g.s.problems).toEqual([]);
    expect(g.pkts.map((p) => [p.caplen, p.origLen, p.direction])).toEqual([
      [64, long.length, 0],
      [rst4.length, rst4.length, 0],
      [rst4.length, rst4.length, 2],
    ]);
    expect(g.pkts[2]).toMatchObject({ tsSec: 3, tsNsec: 0 });
    expect(g.data[0]).toEqual(long.slice(0, 64));
  });

  it('skips unknown, name-resolution and custom blocks by their length', async () => {
    const b = bytes(
      shb(true),
      block(true, 4, [0, 0, 0, 0]),
      idb(true, 1),
      block(true, 0x40000bad, [1, 2, 3, 4, 5]),
      block(true, 0x1234, []),
      epb(true, 0, rst4),
    );
    const g = await read(b);
    expect(g.s.problems).toEqual([]);
    expect(g.s.packets).toBe(1);
  });

  it('keeps ISB drop statistics on the interface and warns with W_CAPTURE_DROPS', async () => {
    const b = bytes(
      shb(false),
      idb(false, 1, { name: 'eth0' }),
      idb(false, 1),
      epb(false, 0, rst4),
      isb(false, 0, { ifRecv: 1000, ifDrop: 5, osDrop: 2 ** 33 }),
      isb(false, 1, { ifRecv: 10, ifDrop: 0 }),
    );
    const g = await read(b);
    expect(g.s.interfaces[0]).toMatchObject({ ifRecv: 1000, ifDrop: 5, osDrop: 2 ** 33 });
    expect(g.s.interfaces[1]).toMatchObject({ ifRecv: 10, ifDrop: 0 });
    expect(g.s.partial).toBe(false);
    expect(g.s.problems).toHaveLength(1);
    expect(g.s.problems[0]).toMatchObject({ code: 'W_CAPTURE_DROPS', severity: 'warning' });
    expect(g.s.problems[0]!.message).toContain('eth0 lost 8589934597 packet(s)');
  });

  it('warns once about link types it does not decode', async () => {
    const g = await read(
      bytes(shb(true), idb(true, 147), idb(true, 147), epb(true, 0, [1, 2, 3]), epb(true, 1, [1])),
    );
    expect(g.s.problems.map((p) => p.code)).toEqual(['W_CAPTURE_LINKTYPE']);
    expect(g.s.packets).toBe(2);
  });

  describe('absurd blocks stop reading with their byte offset', () => {
    const head = [...shb(true), ...idb(true, 1), ...epb(true, 0, rst4)];
    const cases: [string, number[], string][] = [
      ['length below 12', block(true, 6, [], { length: 8 }), 'E_CAPTURE_BLOCK'],
      ['length not a multiple of 4', block(true, 6, [1, 2, 3, 4], { length: 18 }), 'E_CAPTURE_BLOCK'],
      ['length over 16 MiB', block(true, 6, [1, 2, 3, 4], { length: 32 * 1024 * 1024 }), 'E_CAPTURE_BLOCK'],
      [
        'trailer differing from the header',
        block(true, 6, new Array(20).fill(0), { trailer: 36 }),
        'E_CAPTURE_BLOCK',
      ],
      ['EPB naming a missing interface', epb(true, 3, rst4), 'E_CAPTURE_INTERFACE'],
      ['EPB whose caplen exceeds the block', epb(true, 0, rst4, { caplen: 500 }), 'E_CAPTURE_BLOCK'],
      ['EPB too short', block(true, 6, [0, 0, 0, 0]), 'E_CAPTURE_BLOCK'],
      ['unsupported section version', shb(true, { major: 2 }), 'E_CAPTURE_VERSION'],
    ];
    for (const [name, bad, code] of cases) {
      it(name, async () => {
        const g = await read(bytes(head, bad, epb(true, 0, rst4)));
        expect(g.s.packets).toBe(1);
        expect(g.s.partial).toBe(true);
        expect(g.s.problems).toMatchObject([{ code, offset: head.length, severity: 'error' }]);
        expect(g.s.problems[0]!.message).toContain(`byte offset ${head.length}`);
      });
    }
    it('a file cut inside a block', async () => {
      const b = bytes(head, epb(true, 0, rst4));
      const g = await read(b.subarray(0, b.length - 6));
      expect(g.s.problems).toMatchObject([{ code: 'E_CAPTURE_TRUNCATED', offset: head.length }]);
      expect(g.s.packets).toBe(1);
    });
    it('a packet before any interface (SPB)', async () => {
      const g = await read(bytes(shb(true), spb(true, rst4)));
      expect(g.s.problems.map((p) => p.code)).toEqual(['E_CAPTURE_INTERFACE']);
    });
  });

  it('random mutations never escape as exceptions and give the same result in any chunking', async () => {
    const valid = bytes(
      shb(true),
      idb(true, 1, { tsresol: 9 }),
      epb(true, 0, rst4, { flags: 1 }),
      spb(true, rst4),
      isb(true, 0, { ifDrop: 1 }),
      shb(false),
      idb(false, 229),
      epb(false, 0, rst6raw),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        fc.nat(valid.length),
        fc.integer({ min: 1, max: 40 }),
        async (muts, cut, size) => {
          const b = Uint8Array.from(valid);
          for (const [i, v] of muts) b[i] = v;
          const m = b.subarray(0, cut);
          const whole = await read(m);
          for (const p of whole.s.problems) expect(p.code).toMatch(/^[EW]_CAPTURE_[A-Z]+$/);
          expect(whole.s.bytes).toBeLessThanOrEqual(m.length);
          expect(await read(m, size)).toEqual(whole);
        },
      ),
      { numRuns: 300 },
    );
  });
});
