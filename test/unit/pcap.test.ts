import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { readCapture } from '../../src/packet/reader.js';
import type { PacketRecord, ReadSummary } from '../../src/packet/types.js';
import { ether, ipv4, pcap, tcp } from '../fixtures/pcap/build.js';

const dir = mkdtempSync(join(tmpdir(), 'rstwatch-pcap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(b: Uint8Array): string {
  const p = join(dir, `f${n++}.pcap`);
  writeFileSync(p, b);
  return p;
}

interface Got {
  s: ReadSummary;
  pkts: Omit<PacketRecord, 'data' | 'buf' | 'dataOffset'>[];
  data: number[][];
}

async function read(
  src: string | number | NodeJS.ReadableStream,
  opts?: { maxPacketBytes?: number; signal?: AbortSignal },
): Promise<Got> {
  const pkts: Omit<PacketRecord, 'data' | 'buf' | 'dataOffset'>[] = [];
  const data: number[][] = [];
  const s = await readCapture(
    src,
    (p) => {
      const { data: d, buf, dataOffset, ...rest } = p;
      // The record's range of the reader's buffer is exactly its data (what decodeFrameAt reads).
      expect([...buf.subarray(dataOffset, dataOffset + p.caplen)]).toEqual([...d]);
      pkts.push({ ...rest });
      data.push([...d]);
    },
    opts,
  );
  return { s, pkts, data };
}

/** A Readable that delivers the bytes `size` at a time. */
function chunked(b: Uint8Array, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < b.length; i += size) parts.push(Buffer.from(b.subarray(i, i + size)));
  return Readable.from(parts, { objectMode: false });
}

const rst = ether(0x0800, ipv4(tcp({ flags: 0x04 })));
const syn = ether(0x0800, ipv4(tcp({ flags: 0x02, payload: [1, 2, 3, 4, 5] })));
const three = [
  { data: rst, sec: 1_700_000_000, frac: 123_456 },
  { data: syn, sec: 1_700_000_001, frac: 999_999 },
  { data: rst, sec: 1_700_000_002, frac: 0 },
];

describe('classic pcap', () => {
  for (const le of [true, false]) {
    for (const [magic, name, nsec] of [
      [0xa1b2c3d4, 'µs', false],
      [0xa1b23c4d, 'ns', true],
      [0xa1b2cd34, 'Kuznetzov', false],
    ] as const) {
      it(`reads ${le ? 'little' : 'big'}-endian ${name} files`, async () => {
        const g = await read(file(pcap(three, { le, magic })));
        expect(g.s.problems).toEqual([]);
        expect(g.s.partial).toBe(false);
        expect(g.s.format).toBe('pcap');
        expect(g.s.variant).toBe(
          `pcap-${le ? 'le' : 'be'}${nsec ? '-nsec' : ''}${magic === 0xa1b2cd34 ? '-kuznetzov' : ''}`,
        );
        expect(g.s.packets).toBe(3);
        expect(g.s.bytes).toBe(rst.length * 2 + syn.length);
        expect(g.s.interfaces).toEqual([
          { linkType: 1, snaplen: 262144, tsUnitsPerSecond: nsec ? 1e9 : 1e6, tsOffsetSec: 0 },
        ]);
        expect(g.pkts.map((p) => p.frame)).toEqual([1, 2, 3]);
        expect(g.pkts[1]).toMatchObject({
          tsSec: 1_700_000_001,
          tsNsec: nsec ? 999_999 : 999_999_000,
          caplen: syn.length,
          origLen: syn.length,
          linkType: 1,
          interfaceId: 0,
          direction: 0,
          offset: 24 + (magic === 0xa1b2cd34 ? 24 : 16) + rst.length,
        });
        expect(g.data[1]).toEqual(syn);
      });
    }
  }

  it('masks the FCS bits out of the link-type field', async () => {
    const b = pcap([{ data: rst }], { linkType: 0x14000001 });
    const g = await read(file(b));
    expect(g.pkts[0]!.linkType).toBe(1);
  });

  it('swaps caplen and len for version 2.2 files, and for 2.3 only when caplen > len', async () => {
    const g22 = await read(file(pcap([{ data: rst, caplen: 1500, origLen: rst.length }], { minor: 2 })));
    expect(g22.s.problems).toEqual([]);
    expect(g22.pkts[0]).toMatchObject({ caplen: rst.length, origLen: 1500 });
    const g23 = await read(file(pcap([{ data: rst, caplen: 1500, origLen: rst.length }], { minor: 3 })));
    expect(g23.pkts[0]).toMatchObject({ caplen: rst.length, origLen: 1500 });
    const g23b = await read(file(pcap([{ data: rst, origLen: 1500 }], { minor: 3 })));
    expect(g23b.pkts[0]).toMatchObject({ caplen: rst.length, origLen: 1500 });
  });

  it('refuses version 1 files', async () => {
    const g = await read(file(pcap([{ data: rst }], { major: 1 })));
    expect(g.s.problems.map((p) => p.code)).toEqual(['E_CAPTURE_VERSION']);
    expect(g.s.packets).toBe(0);
  });

  it('cuts a record longer than the snap length to the snap length and goes on (libpcap)', async () => {
    const g = await read(file(pcap([{ data: rst }, { data: syn }], { snaplen: 40 })));
    expect(g.s.problems).toEqual([]);
    expect(g.pkts.map((p) => p.caplen)).toEqual([40, 40]);
    expect(g.data[1]).toEqual(syn.slice(0, 40));
  });

  it('stops at a caplen above the maximum with E_CAPTURE_CAPLEN, keeping the records before it', async () => {
    const b = pcap([{ data: rst }, { data: syn, caplen: 300_000 }]);
    const g = await read(file(b));
    expect(g.s.packets).toBe(1);
    expect(g.s.partial).toBe(true);
    expect(g.s.problems).toMatchObject([
      { code: 'E_CAPTURE_CAPLEN', offset: 24 + 16 + rst.length, severity: 'error' },
    ]);
    const small = await read(file(pcap([{ data: rst }])), { maxPacketBytes: 40 });
    expect(small.s.problems[0]!.code).toBe('E_CAPTURE_CAPLEN');
  });

  it('reports a record cut in its header or its data as E_CAPTURE_TRUNCATED and keeps what came before', async () => {
    const full = pcap(three);
    const second = 24 + 16 + rst.length;
    for (const cut of [second + 5, second + 16 + 3, full.length - 1]) {
      const g = await read(file(full.subarray(0, cut)));
      expect(g.s.partial).toBe(true);
      expect(g.s.problems).toMatchObject([{ code: 'E_CAPTURE_TRUNCATED', severity: 'error' }]);
      expect(g.s.packets).toBe(cut === full.length - 1 ? 2 : 1);
      expect(g.s.problems[0]!.message).toMatch(/byte offset \d+/);
    }
    const hdr = await read(file(full.subarray(0, 10)));
    expect(hdr.s.problems.map((p) => p.code)).toEqual(['E_CAPTURE_TRUNCATED']);
  });

  it('reports an empty file, an unknown magic and a missing file with their codes', async () => {
    const empty = await read(file(new Uint8Array(0)));
    expect(empty.s.problems.map((p) => p.code)).toEqual(['E_CAPTURE_EMPTY']);
    expect(empty.s.partial).toBe(false);
    const text = await read(file(new TextEncoder().encode('hello, this is not a capture')));
    expect(text.s.problems.map((p) => p.code)).toEqual(['E_CAPTURE_MAGIC']);
    expect(text.s.problems[0]!.message).toContain('68 65 6c 6c');
    expect(text.s.problems[0]!.message).toContain('gzip');
    const navtel = await read(file(pcap([{ data: rst }], { magic: 0xa12b3c4d })));
    expect(navtel.s.problems[0]!.message).toContain('Navtel');
    const missing = await read(join(dir, 'does-not-exist.pcap'));
    expect(missing.s.problems.map((p) => p.code)).toEqual(['E_CAPTURE_READ']);
    expect(missing.s.problems[0]!.message).toContain('ENOENT');
  });

  it('reads gzip-compressed captures whatever their name, and reports corrupt gzip', async () => {
    const plain = pcap(three);
    const gz = gzipSync(plain);
    const want = await read(file(plain));
    const viaName = await read(file(gz)); // named .pcap: found by its magic
    expect(viaName).toEqual(want);
    expect(await read(Readable.from([gz]))).toEqual(want);
    expect(await read(chunked(gz, 1))).toEqual(want);
    const members = Buffer.concat([gzipSync(plain.subarray(0, 50)), gzipSync(plain.subarray(50))]);
    expect(await read(file(members))).toEqual(want); // concatenated members, as `cat a.gz b.gz` makes
    const cut = await read(file(gz.subarray(0, gz.length - 12)));
    expect(cut.s.partial).toBe(true);
    expect(cut.s.problems.map((p) => p.code)).toContain('E_CAPTURE_GZIP');
    const garbage = Uint8Array.from([0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const bad = await read(file(garbage));
    expect(bad.s.problems.map((p) => p.code)).toContain('E_CAPTURE_GZIP');
  });

  it('gives identical results from a stream fed in tiny chunks, and reports progress', async () => {
    const b = pcap(three, { magic: 0xa1b2cd34, le: false });
    const want = await read(file(b));
    for (const size of [1, 2, 3, 7, 16, 17, 1000]) expect(await read(chunked(b, size))).toEqual(want);
    const seen: number[] = [];
    await readCapture(chunked(b, 10), () => undefined, { onProgress: (x) => seen.push(x) });
    expect(seen.at(-1)).toBe(b.length);
    const cut = b.subarray(0, b.length - 3);
    expect(await read(chunked(cut, 5))).toEqual(await read(file(cut)));
  });

  it('reports a failing stream as E_CAPTURE_READ, keeping the packets read', async () => {
    const b = pcap(three);
    const src = new Readable({ read() {} });
    src.push(Buffer.from(b.subarray(0, 24 + 16 + rst.length)));
    setTimeout(() => src.destroy(new Error('disk on fire')), 5);
    const g = await read(src);
    expect(g.s.packets).toBe(1);
    expect(g.s.problems).toMatchObject([{ code: 'E_CAPTURE_READ' }]);
    expect(g.s.partial).toBe(true);
  });

  // A file is read with two 1 MiB buffers in flight (the next read overlaps the parsing of the current chunk)
  // and whole records are parsed by PcapParser.run: both byte orders, records cut by chunk ends, and the same
  // result as a stream cut anywhere else.
  for (const le of [true, false]) {
    it(`handles records that span the 1 MiB read chunks of a file (${le ? 'little' : 'big'}-endian)`, async () => {
      const recs = [];
      for (let i = 0; i < 3000; i++)
        recs.push({
          data: ether(0x0800, ipv4(tcp({ flags: 0x04, payload: new Array(i % 1400).fill(i & 255) }))),
          sec: 1_700_000_000 + i,
          frac: i * 7,
        });
      const b = pcap(recs, { le });
      expect(b.length).toBeGreaterThan(2 << 20);
      const g = await read(file(b));
      expect(g.s.problems).toEqual([]);
      expect(g.s.packets).toBe(3000);
      expect(g.data[2999]).toEqual(recs[2999]!.data);
      expect(g.pkts[2999]).toMatchObject({ frame: 3000, tsSec: 1_700_002_999, tsNsec: 2999 * 7 * 1000 });
      let at = 24;
      const offsets = recs.map((r) => {
        const o = at;
        at += 16 + r.data.length;
        return o;
      });
      expect(g.pkts.map((p) => p.offset)).toEqual(offsets);
      expect(await read(chunked(b, 65536 + 3))).toEqual(g);
    });
  }

  it('reads a FIFO given by path in order (no positional reads, short reads are not the end)', async () => {
    const recs = [];
    for (let i = 0; i < 2000; i++)
      recs.push({
        data: ether(0x0800, ipv4(tcp({ flags: 0x04, payload: new Array(i % 1400).fill(i & 255) }))),
      });
    const b = pcap(recs);
    const fifo = join(dir, `fifo${n++}`);
    execFileSync('mkfifo', [fifo]);
    // The writer delivers the bytes in uneven pieces, so reads of the pipe come back short.
    const writer = (async () => {
      const fh = await open(fifo, 'w');
      for (let i = 0; i < b.length; i += 70_001)
        await fh.write(b.subarray(i, Math.min(b.length, i + 70_001)));
      await fh.close();
    })();
    const g = await read(fifo);
    await writer;
    expect(g.s.problems).toEqual([]);
    expect(g.s.packets).toBe(2000);
    expect(g).toEqual(await read(file(b)));
  });

  it('reads gzip from a FIFO without losing the first chunk (it was read to find the magic)', async () => {
    const b = pcap(three);
    const fifo = join(dir, `fifo${n++}`);
    execFileSync('mkfifo', [fifo]);
    const writer = (async () => {
      const fh = await open(fifo, 'w');
      await fh.write(gzipSync(b));
      await fh.close();
    })();
    // Before: "E_CAPTURE_EMPTY: the capture is empty" (the first chunk was consumed, then the FIFO reopened).
    const g = await read(fifo);
    await writer;
    expect(g.s.problems).toEqual([]);
    expect(g).toEqual(await read(file(b)));
  });

  it('reads an open descriptor: a regular file, a pipe (plain and gzip), one left non-blocking', async () => {
    const recs = [];
    for (let i = 0; i < 3000; i++)
      recs.push({
        data: ether(0x0800, ipv4(tcp({ flags: i % 3 ? 0x10 : 0x04, payload: new Array(i % 900).fill(7) }))),
      });
    const b = pcap(recs);
    const want = await read(file(b));
    expect(want.s.packets).toBe(3000);

    const fd = openSync(file(b), 'r');
    try {
      expect(await read(fd)).toEqual(want);
    } finally {
      closeSync(fd);
    }

    for (const bytes of [b, gzipSync(b)]) {
      const fifo = join(dir, `fifo${n++}`);
      execFileSync('mkfifo', [fifo]);
      // Each open waits (in libuv's thread pool) for the other end.
      const writer = (async () => {
        const fh = await open(fifo, 'w');
        for (let i = 0; i < bytes.length; i += 50_000) await fh.write(bytes.subarray(i, i + 50_000));
        await fh.close();
      })();
      const reader = await open(fifo, 'r');
      try {
        const g = await read(reader.fd);
        expect(g.s.problems).toEqual([]);
        expect(g).toEqual(want);
      } finally {
        await writer;
        await reader.close();
      }
    }

    // A non-blocking read end (as a parent that made its standard input non-blocking leaves it): reads that
    // find the pipe empty fail with EAGAIN, and the reader waits for the data instead of stopping.
    const fifo = join(dir, `fifo${n++}`);
    execFileSync('mkfifo', [fifo]);
    const nb = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const w = await open(fifo, 'w');
    const slow = (async () => {
      for (let i = 0; i < b.length; i += 200_000) {
        await w.write(b.subarray(i, i + 200_000));
        await new Promise((r) => setTimeout(r, 30));
      }
      await w.close();
    })();
    try {
      const g = await read(nb);
      expect(g.s.problems).toEqual([]);
      expect(g).toEqual(want);
    } finally {
      await slow;
      closeSync(nb);
    }
  });

  it('an abort signal stops reading a FIFO whose writer never closes: E_CAPTURE_INTERRUPTED, records kept', async () => {
    const b = pcap(three);
    const fifo = join(dir, `fifo${n++}`);
    execFileSync('mkfifo', [fifo]);
    const opened = open(fifo, 'w');
    const controller = new AbortController();
    const got = read(fifo, { signal: controller.signal });
    const w = await opened;
    await w.write(b);
    // The three records are read, then the reader waits for more that never comes.
    await new Promise((r) => setTimeout(r, 300));
    controller.abort();
    const g = await got;
    expect(g.pkts).toHaveLength(3);
    expect(g.s.partial).toBe(true);
    expect(g.s.problems.map((p) => p.code)).toEqual(['E_CAPTURE_INTERRUPTED']);
    expect(g.s.problems[0]!.offset).toBe(b.length);
    await w.close(); // the abandoned read returns (end of file) and the FIFO is closed
  });

  it('lets a throwing callback reject (a programmer error, not a capture problem)', async () => {
    await expect(
      readCapture(file(pcap(three)), () => {
        throw new Error('bug');
      }),
    ).rejects.toThrow('bug');
    await expect(readCapture(Readable.from(['text']), () => undefined)).rejects.toThrow(TypeError);
  });
});

describe('properties: bad input only ever yields problems', () => {
  const valid = pcap(three);
  const codes =
    /^(E_CAPTURE_(EMPTY|MAGIC|VERSION|TRUNCATED|CAPLEN|BLOCK|INTERFACE|GZIP)|W_CAPTURE_(LINKTYPE|DROPS))$/;
  const check = (s: ReadSummary, len: number) => {
    for (const p of s.problems) expect(p.code).toMatch(codes);
    expect(s.bytes).toBeLessThanOrEqual(len);
  };

  it('random bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (b) => {
        check((await read(Readable.from([Buffer.from(b)]))).s, b.length);
      }),
      { numRuns: 300 },
    );
  });

  it('random mutations and cuts of a valid file, read from a stream in random chunk sizes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        fc.nat(valid.length),
        fc.integer({ min: 1, max: 64 }),
        async (muts, cut, size) => {
          const b = Uint8Array.from(valid);
          for (const [i, v] of muts) b[i] = v;
          const m = b.subarray(0, cut);
          const a = await read(chunked(m, size));
          check(a.s, m.length);
          expect(a).toEqual(await read(Readable.from([Buffer.from(m)])));
        },
      ),
      { numRuns: 300 },
    );
  });
});
