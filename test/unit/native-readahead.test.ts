/**
 * The read-ahead thread's decoding (native/readahead.c): for the engine, a classic pcap file's Ethernet records
 * are decoded on that thread and js_pcap takes them in place of decoding them itself. The report must be the
 * TypeScript engine's, byte for byte, wherever the chunks end (headers and records cut by a chunk's end,
 * records longer than several chunks, chunks denser than the thread keeps); and the thread must decode
 * exactly the records js_pcap can take — every Ethernet record wholly inside a chunk after the first (which the
 * reader copies) — and none of a file it cannot read the same way (pcapng, Kuznetzov's records, old versions
 * whose lengths may be swapped, another link type).
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { analyzeCapture } from '../../src/analyze/analyze.js';
import { NativeFlows, nativeEngine, nativeEngineError } from '../../src/analyze/native.js';
import { readCapture, setChunkBytes } from '../../src/packet/reader.js';
import { bytes, epb, ether, idb, ipv4, type PcapRecord, pcap, shb, tcp } from '../fixtures/pcap/build.js';
import { arbPackets, mixedCapture } from './analyze-streams.js';

const dir = mkdtempSync(join(tmpdir(), 'rstwatch-ahead-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => setChunkBytes(1 << 20));

let files = 0;
function file(data: Uint8Array): string {
  const path = join(dir, `c${files++}.pcap`);
  writeFileSync(path, data);
  return path;
}

function engine(): NonNullable<ReturnType<typeof nativeEngine>> {
  const api = nativeEngine();
  expect(api, `native engine unavailable: ${nativeEngineError()}`).toBeDefined();
  return api!;
}

/** The reports of the TypeScript engine and of the native one (reading ahead) on the file at `path`. */
async function reports(path: string): Promise<{ js: string; native: string }> {
  const run = async (e: 'js' | 'native') =>
    JSON.stringify(await analyzeCapture(path, { engine: e, parallel: false, name: 'x' }));
  return { js: await run('js'), native: await run('native') };
}

/** How many records js_pcap took decoded ahead, reading `path` with the native engine. */
async function decodedAhead(path: string): Promise<number> {
  const flows = new NativeFlows(engine(), { maxConnections: 10 }, { maxTalkers: 100, maxSeconds: 100 });
  await readCapture(path, () => undefined, { bulk: flows });
  const n = flows.counts().decodedAhead;
  await flows.finish();
  return n;
}

/**
 * The records a classic pcap file (16-byte record headers, after its 24-byte header) has wholly inside a chunk
 * of `chunk` bytes other than the first, at most `cap` of them per chunk (in file order), among those `take`
 * says js_pcap takes; `capped`: whether a chunk held more than that.
 */
function expectedAhead(
  data: Uint8Array,
  chunk: number,
  take: (frame: Uint8Array) => boolean,
): { n: number; capped: boolean } {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const cap = Math.floor(chunk / 64) + 1;
  const perChunk = new Map<number, number>();
  let n = 0;
  let capped = false;
  for (let at = 24; at + 16 <= data.length; ) {
    const caplen = view.getUint32(at + 8, true);
    const end = at + 16 + caplen;
    const c = Math.floor(at / chunk);
    if (end <= data.length && Math.floor((end - 1) / chunk) === c) {
      const k = (perChunk.get(c) ?? 0) + 1;
      perChunk.set(c, k);
      if (c > 0 && k > cap) capped = true;
      if (c > 0 && k <= cap && take(data.subarray(at + 16, end))) n++;
    }
    at = end;
  }
  return { n, capped };
}

const isTcpOverIp = (f: Uint8Array) =>
  f.length >= 14 && ((f[12] === 0x08 && f[13] === 0x00) || f[12] === 0x86);

describe('decoding ahead on the read-ahead thread', () => {
  it('gives the TypeScript engine’s report wherever the chunks end, in both byte orders, µs and ns', async () => {
    engine();
    await fc.assert(
      fc.asyncProperty(
        arbPackets(160),
        fc.array(fc.constantFrom(0, 0, 0, 1, 2, 3), { minLength: 1, maxLength: 7 }),
        fc.boolean(),
        fc.boolean(),
        fc.constantFrom(64, 128, 256, 512, 1024, 4096),
        async (pkts, other, le, nsec, chunk) => {
          setChunkBytes(chunk);
          const path = file(mixedCapture(pkts, other, { le, nsec }));
          const r = await reports(path);
          expect(r.native).toBe(r.js);
        },
      ),
      { numRuns: 60 },
    );
  }, 120_000);

  it('decodes every Ethernet record wholly inside a chunk after the first, no more per chunk than it keeps', async () => {
    engine();
    let capped = false;
    await fc.assert(
      fc.asyncProperty(arbPackets(200), fc.constantFrom(64, 256, 1024, 4096), async (pkts, chunk) => {
        setChunkBytes(chunk);
        // TCP frames, some cut inside the TCP header (decoded: truncated), and frames too short for an
        // Ethernet header (js_pcap leaves them to TypeScript) so that some chunks hold more records than the
        // thread keeps for one (chunk / 64 + 1).
        const data = mixedCapture(pkts, [0]);
        const view = new DataView(data.buffer);
        const recs: PcapRecord[] = [];
        for (let at = 24, i = 0; at + 16 <= data.length; i++) {
          const caplen = view.getUint32(at + 8, true);
          const frame = Array.from(data.subarray(at + 16, at + 16 + caplen));
          const v6 = frame[12] === 0x86;
          const keep = i % 3 !== 0 ? i % 11 : i % 6 === 3 ? (v6 ? 64 : 44) : frame.length;
          recs.push({
            data: frame.slice(0, keep),
            sec: view.getUint32(at, true),
            frac: view.getUint32(at + 4, true),
          });
          at += 16 + caplen;
        }
        const cut = pcap(recs);
        const path = file(cut);
        const want = expectedAhead(cut, chunk, (f) => f.length >= 44);
        capped ||= want.capped;
        expect(await decodedAhead(path)).toBe(want.n);
        const r = await reports(path);
        expect(r.native).toBe(r.js);
      }),
      { numRuns: 40 },
    );
    // Some chunk held more records than the thread keeps: the rest of it was decoded by js_pcap.
    expect(capped).toBe(true);
  }, 120_000);

  it('follows a record header cut by a chunk’s end and records longer than several chunks', async () => {
    engine();
    const chunk = 64;
    setChunkBytes(chunk);
    const seg = (i: number, payload: number) =>
      ether(
        0x0800,
        ipv4(
          tcp({
            sport: 40000 + (i % 7),
            dport: 80,
            flags: i % 5 === 0 ? 0x14 : 0x18,
            seq: i * 1000,
            payload: new Array(payload).fill(i & 0xff),
          }),
          {
            src: [10, 0, 0, 1],
            dst: [10, 0, 0, 2],
          },
        ),
      );
    // Sizes that put record headers across every position of a chunk's end, and a few frames of 3–5 chunks.
    const recs: PcapRecord[] = [];
    for (let i = 0; i < 400; i++) recs.push({ data: seg(i, i % 50 === 7 ? 200 + (i % 3) * 40 : i % 23) });
    const data = pcap(recs);
    const path = file(data);
    expect(await decodedAhead(path)).toBe(expectedAhead(data, chunk, isTcpOverIp).n);
    const r = await reports(path);
    expect(r.native).toBe(r.js);
  });

  it('decodes nothing ahead of a file it cannot read as js_pcap does, and the report is the same', async () => {
    engine();
    setChunkBytes(256);
    const frames = Array.from({ length: 300 }, (_, i) =>
      ether(0x0800, ipv4(tcp({ sport: 1024 + i, dport: 80, flags: i % 4 === 0 ? 0x14 : 0x02, seq: i }))),
    );
    const recs: PcapRecord[] = frames.map((data) => ({ data }));
    const cases: [string, Uint8Array][] = [
      ['pcapng', bytes(shb(true), idb(true, 1), ...frames.map((f, i) => epb(true, 0, f, { tsLo: i })))],
      ['Kuznetzov’s records', pcap(recs, { magic: 0xa1b2cd34 })],
      ['version 2.3 (lengths maybe swapped)', pcap(recs, { major: 2, minor: 3 })],
      ['version 2.2 (lengths swapped)', pcap(recs, { major: 2, minor: 2 })],
      [
        'a raw IP link type',
        pcap(
          frames.map((f) => ({ data: f.slice(14) })),
          { linkType: 101 },
        ),
      ],
    ];
    // The control: the same records as plain Ethernet pcap are decoded ahead.
    const plain = pcap(recs);
    expect(await decodedAhead(file(plain))).toBe(expectedAhead(plain, 256, isTcpOverIp).n);
    expect(expectedAhead(plain, 256, isTcpOverIp).n).toBeGreaterThan(100);
    for (const [what, data] of cases) {
      const path = file(data);
      expect(await decodedAhead(path), what).toBe(0);
      const r = await reports(path);
      expect(r.native, what).toBe(r.js);
    }
  });

  it('stops where js_pcap stops: a record claiming more than the maximum, the end of a cut file', async () => {
    engine();
    setChunkBytes(128);
    const recs: PcapRecord[] = Array.from({ length: 120 }, (_, i) => ({
      data: ether(
        0x0800,
        ipv4(tcp({ sport: 2000 + (i % 9), dport: 443, flags: i % 6 === 0 ? 0x04 : 0x10, seq: i })),
      ),
    }));
    recs[70] = { ...recs[70]!, caplen: 300_000 }; // over DEFAULT_MAX_PACKET_BYTES
    const data = pcap(recs);
    for (const cut of [data, data.subarray(0, 24 + 50 * 70 + 9)]) {
      const r = await reports(file(cut));
      expect(r.native).toBe(r.js);
    }
  });

  it('is linked to one engine at a time, and unlinked when stopped or when the engine goes first', () => {
    const api = engine() as unknown as {
      readAhead(fd: number, bufs: Uint8Array[], engine?: unknown): object;
      readAheadStop(r: object): void;
      destroy(e: object): void;
    };
    const path = file(pcap([{ data: ether(0x0800, ipv4(tcp({ sport: 1, dport: 2, flags: 2 }))) }]));
    const fd = openSync(path, 'r');
    try {
      const bufs = () => Array.from({ length: 3 }, () => new Uint8Array(4096));
      const flows = new NativeFlows(engine(), {}, { maxTalkers: 10, maxSeconds: 10 });
      const e = (flows as unknown as { engine: object }).engine;
      const r1 = api.readAhead(fd, bufs(), e);
      // A second reader for the same engine while the first is linked: refused.
      expect(() => api.readAhead(fd, bufs(), e)).toThrow('readAhead: bad arguments');
      expect(() => api.readAhead(fd, bufs(), {})).toThrow('readAhead: bad arguments');
      api.readAheadStop(r1);
      // Stopped, the first is unlinked: another may be linked; the engine destroyed before it is stopped.
      const r2 = api.readAhead(fd, bufs(), e);
      flows.abort();
      api.readAheadStop(r2);
      expect(() => api.readAhead(fd, bufs(), e)).toThrow('readAhead: bad arguments');
    } finally {
      closeSync(fd);
    }
  });
});
