/**
 * The native analysis engine (native/engine.c through src/analyze/native.ts) against the TypeScript flow
 * tracker, the reference: the whole report must be the same, byte for byte, on random captures (tiny tables,
 * sequence numbers around 2^31 and 2^32, clocks stepping back and past every timeout, frames the engine leaves
 * to TypeScript mixed in), on every file of tcpdump's test corpus and on the scenario fixtures — and in both
 * byte orders, with micro- and nanosecond timestamps, through a stream and from a file.
 *
 * The engine is built by `npm run build` (scripts/build-native.mjs), which `npm test` runs first: when it is
 * missing these tests fail and say why, they do not skip.
 */
import {
  closeSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AnalyzeOptions, analyzeCapture } from '../../src/analyze/analyze.js';
import { CONTROL_CLOSED } from '../../src/analyze/item-ring.js';
import { nativeEngine, nativeEngineError } from '../../src/analyze/native.js';
import { MAX_RESETS_PER_SIDE } from '../../src/analyze/reset-pool.js';
import { setInLineYieldMs } from '../../src/packet/reader.js';
import { ether, ipv4, type PcapRecord, pcap, tcp, vlan } from '../fixtures/pcap/build.js';
import { FIXTURES, SHARED } from '../helpers/paths.js';
import { arbPackets, maxRstsPerSide, mixedCapture, type Pkt } from './analyze-streams.js';

const dir = mkdtempSync(join(tmpdir(), 'rstwatch-native-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function source(bytes: Uint8Array): Readable {
  return Readable.from([Buffer.from(bytes)], { objectMode: false });
}

/** Both engines' reports on the same bytes, as JSON text. */
async function both(
  bytes: Uint8Array | string,
  opts: AnalyzeOptions = {},
): Promise<{ js: string; native: string }> {
  const run = async (engine: 'js' | 'native') => {
    const src = typeof bytes === 'string' ? bytes : source(bytes);
    return JSON.stringify(await analyzeCapture(src, { ...opts, engine, parallel: false, name: 'x' }));
  };
  return { js: await run('js'), native: await run('native') };
}

describe('native analysis engine', () => {
  it('is built (npm run build compiles native/engine.c with a C compiler)', () => {
    expect(nativeEngine(), `native engine unavailable: ${nativeEngineError()}`).toBeDefined();
  });

  it('refuses bad arguments to each entry point with its name (a TypeError, E_NATIVE), never a crash', () => {
    const api = nativeEngine();
    expect(api, `native engine unavailable: ${nativeEngineError()}`).toBeDefined();
    // Untyped on purpose: wrong counts and kinds of arguments, as a caller's bug would pass them.
    const raw = api as unknown as Record<string, (...args: unknown[]) => unknown>;
    const notAnEngine = {};
    const calls: [string, unknown[]][] = [
      ['create', []],
      ['pcap', [notAnEngine, new Uint8Array(8), 0, 8, 0, 0, 0, 0, 0, 0]],
      ['pcap', []],
      ['pcapng', [notAnEngine, new Uint8Array(8), 0, 8, 1, new Float64Array(4), 0, 0]],
      ['pcapng', []],
      ['observe', [notAnEngine, new Int32Array(24), 0, 0, 0]],
      ['drain', [notAnEngine]],
      ['drain', []],
      ['ring', [notAnEngine, new Int32Array(4096), new Int32Array(32), () => {}]],
      ['tally', [notAnEngine, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
      ['tallies', [notAnEngine, 0]],
      ['destroy', [notAnEngine]],
      ['classifier', []],
      ['classifier', [Float64Array.of(1000, 4096, 1.5, 4096), new Uint8Array(65536)]],
      ['classifier', [Float64Array.of(1000, 4096, 50_000, 4096), new Uint8Array(10)]],
      ['classifierRun', [notAnEngine, new Int32Array(4096), new Int32Array(32)]],
      ['classifierExport', [notAnEngine, 0]],
      ['classifierDestroy', [notAnEngine]],
    ];
    // A classifier that has not seen its END item exports nothing; its ring must be a power of two.
    const k = raw.classifier!(Float64Array.of(1000, 4096, 50_000, 4096), new Uint8Array(65536));
    calls.push(
      ['classifierExport', [k, 0]],
      ['classifierExport', [k, 8]],
      ['classifierRun', [k, new Int32Array(5000), new Int32Array(32)]],
    );
    // One kind of native object is never taken for another (each starts with a tag of its kind).
    const file = join(dir, 'kinds.bin');
    writeFileSync(file, new Uint8Array(10));
    const fd = openSync(file, 'r');
    const reader = raw.readAhead!(fd, [new Uint8Array(8), new Uint8Array(8), new Uint8Array(8)]);
    calls.push(
      ['drain', [k]],
      ['tallies', [k, 0]],
      ['destroy', [k]],
      ['classifierExport', [reader, 7]],
      ['classifierDestroy', [reader]],
      ['readAheadNext', [k]],
      ['readAheadStop', [k]],
      ['hugeAlign', [new Float64Array(4)]],
      ['hugeAlign', [k]],
      ['hugeAlign', []],
    );
    for (const [name, args] of calls) {
      let thrown: unknown;
      try {
        raw[name]!(...args);
      } catch (err) {
        thrown = err;
      }
      expect(thrown, name).toBeInstanceOf(TypeError);
      expect((thrown as Error).message, name).toBe(`${name}: bad arguments`);
      expect((thrown as { code?: string }).code, name).toBe('E_NATIVE');
    }
    raw.classifierDestroy!(k);
    // Destroyed: refused from then on, never freed twice.
    expect(() => raw.classifierDestroy!(k)).toThrow('classifierDestroy: bad arguments');
    expect(() => raw.classifierExport!(k, 7)).toThrow('classifierExport: bad arguments');
    raw.readAheadStop!(reader);
    closeSync(fd);
  });

  it('reports what the TypeScript tracker reports on random captures (tiny tables, mixed frames, both byte orders)', async () => {
    await fc.assert(
      fc.asyncProperty(
        arbPackets(200),
        fc.array(fc.constantFrom(0, 0, 0, 1, 2, 3), { minLength: 1, maxLength: 7 }),
        fc.record({
          le: fc.boolean(),
          nsec: fc.boolean(),
          snaplen: fc.constantFrom(undefined, 60, 262144),
        }),
        fc.record({
          maxFlows: fc.constantFrom(1, 2, 8, 1000),
          maxConnections: fc.constantFrom(0, 3, 1000),
          maxHeldConnections: fc.constantFrom(1, 4, 4096),
          // The RST tallies, kept by the engine: with tiny bounds, its pruning and widening show.
          maxTalkers: fc.constantFrom(1, 2, 50_000),
          maxSeconds: fc.constantFrom(1, 2, 1 << 17),
          maxBuckets: fc.constantFrom(2, 600),
          top: fc.constantFrom(1, 10),
        }),
        async (pkts, other, format, opts) => {
          const bytes = mixedCapture(pkts, other, format);
          const { js, native } = await both(bytes, opts);
          expect(native).toBe(js);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps the RST tallies as TypeScript does past thousands of talkers and seconds (tables grow, prune, widen)', async () => {
    // 6,000 RSTs from 3,000 senders to 600 receivers over 1,500 seconds: more keys than the engine's first
    // tables hold, more than the smaller bounds allow; a third as VLAN frames (decoded by TypeScript, counted
    // by the engine in their place), the counts uneven so that pruning has a median to cut at.
    const recs: PcapRecord[] = [];
    for (let i = 0; i < 6000; i++) {
      const s = (i * 7919) % 3000;
      const from = [10, (s >> 8) & 0xff, s & 0xff, 1 + (i % 3)];
      const to = [192, 0, 2 + ((i * 31) % 3), (i * 13) % 200];
      const ip = ipv4(tcp({ sport: 1024 + (i % 5000), dport: 80, flags: 0x14, seq: i }), {
        src: from,
        dst: to,
      });
      const data = i % 3 === 0 ? vlan([9], 0x0800, ip) : ether(0x0800, ip);
      recs.push({ data, sec: 1_700_000_000 + Math.floor(i / 4), frac: i % 1000 });
    }
    const bytes = pcap(recs);
    for (const [maxTalkers, maxSeconds] of [
      [50_000, 1 << 17],
      [1000, 1 << 17],
      [100, 50],
      [7, 3],
    ] as const) {
      const { js, native } = await both(bytes, { maxTalkers, maxSeconds, top: 50, maxBuckets: 40 });
      expect(native).toBe(js);
      const report = JSON.parse(native) as { summary: { rsts: number; topApproximate: boolean } };
      expect(report.summary.rsts).toBe(6000);
      // Keys dropped only past the bound: at most 6,000 of any kind, so 50,000 drops none.
      expect(report.summary.topApproximate).toBe(maxTalkers !== 50_000);
    }
  }, 60_000);

  it('keeps more than MAX_RESETS_PER_SIDE RSTs per side counted, as TypeScript does', async () => {
    await fc.assert(
      fc.asyncProperty(arbPackets(300), async (pkts) => {
        // The random streams rarely pass the limit: repeat each RST so that many do.
        const more: Pkt[] = [];
        for (const p of pkts) {
          more.push(p);
          if (p.flags & 4) for (let i = 0; i < 12; i++) more.push({ ...p, stepMicros: 1 });
        }
        const bytes = mixedCapture(more, [0]);
        const { js, native } = await both(bytes, { maxFlows: 4 });
        expect(native).toBe(js);
        return maxRstsPerSide(more) > MAX_RESETS_PER_SIDE || true;
      }),
      { numRuns: 60 },
    );
  });

  it('stops where the TypeScript reader stops: a record cut short, a record too large', async () => {
    const pkts = fc.sample(arbPackets(60), { numRuns: 5, seed: 7 }).flat();
    const whole = mixedCapture(pkts, [0]);
    for (const cut of [whole.length - 1, whole.length - 30, Math.floor(whole.length / 2)]) {
      const { js, native } = await both(whole.subarray(0, cut));
      expect(JSON.parse(native).capture.partial).toBe(true);
      expect(native).toBe(js);
    }
    // A record claiming more than maxPacketBytes in the middle.
    const bad = whole.slice();
    const second = 24 + 16 + ((bad[24 + 8]! | (bad[24 + 9]! << 8)) >>> 0);
    bad[second + 11] = 0x7f;
    const r = await both(bad);
    expect(JSON.parse(r.native).capture.problems[0].code).toBe('E_CAPTURE_CAPLEN');
    expect(r.native).toBe(r.js);
  });

  it('gives the same report on random bytes after a pcap header (and never throws)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.uint8Array({ minLength: 0, maxLength: 3000 }),
        fc.array(fc.nat(3000), { maxLength: 8 }),
        async (le, noise, pokes) => {
          // Valid records with random bytes poked into them, then the noise: every path of the bulk loop.
          const pkts = fc.sample(arbPackets(20), { numRuns: 1, seed: noise.length })[0]!;
          const good = mixedCapture(pkts, [0], { le });
          const bytes = new Uint8Array(good.length + noise.length);
          bytes.set(good);
          bytes.set(noise, good.length);
          for (const at of pokes)
            if (24 + at < bytes.length) bytes[24 + at] = noise[at % (noise.length || 1)] ?? 0xff;
          const { js, native } = await both(bytes, { maxFlows: 3 });
          expect(native).toBe(js);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('frees each engine when its analysis ends, even without a turn of the event loop', async () => {
    // A full default table is ~11 MB of records: 200 analyses left to Node-API's finalizers (which may wait
    // for the event loop; the fuzzer never yields to it) held ~2 GB before destroy().
    const bytes = mixedCapture(fc.sample(arbPackets(30), { numRuns: 1, seed: 3 })[0]!, [0]);
    async function* once(): AsyncGenerator<Uint8Array> {
      yield bytes;
    }
    const before = process.memoryUsage().arrayBuffers;
    let peak = 0;
    for (let i = 0; i < 200; i++) {
      await analyzeCapture(once() as unknown as NodeJS.ReadableStream, { engine: 'native', name: 'x' });
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - before);
    }
    expect(peak).toBeLessThan(400 * 1024 * 1024);
  });

  it('reads a regular file in line: progress per chunk, turns of the event loop, an abort stops it', async () => {
    // The records of one capture repeated (its clock starts over each time: the analysis takes that).
    const one = mixedCapture(fc.sample(arbPackets(200), { numRuns: 20, seed: 13 }).flat(), [0]);
    const repeated = (size: number): Uint8Array => {
      const copies = Math.ceil(size / (one.length - 24));
      const out = new Uint8Array(24 + (one.length - 24) * copies);
      out.set(one.subarray(0, 24));
      for (let i = 0; i < copies; i++) out.set(one.subarray(24), 24 + i * (one.length - 24));
      return out;
    };
    // ~3 MiB: three 1 MiB chunks, the first one's progress aborts the analysis.
    const bytes = repeated(3 * 1024 * 1024);
    const path = join(dir, 'inline.pcap');
    writeFileSync(path, bytes);
    const seen: number[] = [];
    const whole = await analyzeCapture(path, {
      engine: 'native',
      name: 'x',
      onProgress: (n) => seen.push(n),
    });
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(seen.at(-1)).toBe(bytes.length);
    expect(whole.capture.partial).toBe(false);
    const ac = new AbortController();
    const cut = await analyzeCapture(path, {
      engine: 'native',
      name: 'x',
      signal: ac.signal,
      onProgress: () => ac.abort(),
    });
    expect(cut.capture.partial).toBe(true);
    expect(cut.capture.problems.map((p) => p.code)).toEqual(['E_CAPTURE_INTERRUPTED']);
    expect(cut.summary.packets).toBeGreaterThan(0);
    expect(cut.summary.packets).toBeLessThan(whole.summary.packets);
    // While a large file is read, timers still run (the event loop gets its turns).
    const big = join(dir, 'inline-big.pcap');
    writeFileSync(big, repeated(70 * 1024 * 1024));
    setInLineYieldMs(0); // a turn after every chunk here (200 ms in use)
    let ticks = 0;
    const atProgress: number[] = [];
    const timer = setInterval(() => ticks++, 0);
    try {
      await analyzeCapture(big, {
        engine: 'native',
        name: 'x',
        maxFlows: 1000,
        onProgress: () => atProgress.push(ticks),
      });
    } finally {
      clearInterval(timer);
      setInLineYieldMs(200);
    }
    // Between the first chunk and the last one, timers ran: reading yielded.
    expect(atProgress.length).toBeGreaterThan(64);
    expect(atProgress.at(-1)! - atProgress[0]!).toBeGreaterThan(10);
  }, 60_000);

  it('finds the first 2 MiB boundary in an array (hugeAlign): the same address from any view of it', () => {
    const { hugeAlign } = nativeEngine() as unknown as { hugeAlign(b: Uint8Array): number };
    const H = 2 << 20;
    const area = new Uint8Array(3 * H);
    const at = hugeAlign(area);
    expect(at).toBeGreaterThanOrEqual(0);
    expect(at).toBeLessThan(H);
    for (const k of [1, 4096, at, at + 1, at + 12345])
      expect(hugeAlign(area.subarray(k)), String(k)).toBe((at - k + H) % H);
    // None in the array: 0.
    expect(hugeAlign(area.subarray(at + 1, at + 1000))).toBe(0);
    expect(hugeAlign(new Uint8Array(0))).toBe(0);
  });

  it('reads a file ahead on its own thread: every byte in order, the last two chunks kept, any size, an early stop', () => {
    const api = nativeEngine() as unknown as {
      readAhead(fd: number, bufs: Uint8Array[]): object;
      readAheadNext(r: object): number;
      readAheadStop(r: object): void;
    };
    const chunk = 4096;
    // As native.ts lends them: views one after the other in one area, from its first 2 MiB boundary.
    const area = new Uint8Array(8 * chunk + (2 << 20));
    const at = (nativeEngine() as unknown as { hugeAlign(b: Uint8Array): number }).hugeAlign(area);
    const views = Array.from({ length: 8 }, (_, i) => area.subarray(at + i * chunk, at + (i + 1) * chunk));
    for (const [size, bufs] of [
      [0, views],
      [1, views],
      [10 * chunk + 17, views],
    ] as const) {
      const bytes = new Uint8Array(size).map((_, i) => (i * 5 + (i >> 11)) & 0xff);
      const path = join(dir, `ahead-views-${size}.bin`);
      writeFileSync(path, bytes);
      const fd = openSync(path, 'r');
      const r = api.readAhead(fd, [...bufs]);
      const got: number[] = [];
      for (let k = 0; ; k++) {
        const n = api.readAheadNext(r);
        if (n <= 0) break;
        got.push(...bufs[k % bufs.length]!.subarray(0, n));
        if (n < chunk) break;
      }
      api.readAheadStop(r);
      closeSync(fd);
      expect(Uint8Array.from(got)).toEqual(bytes);
    }
    for (const size of [0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk, 10 * chunk + 17]) {
      const bytes = new Uint8Array(size).map((_, i) => (i * 7 + (i >> 12)) & 0xff);
      const path = join(dir, `ahead-${size}.bin`);
      writeFileSync(path, bytes);
      const fd = openSync(path, 'r');
      const bufs = Array.from({ length: 4 }, () => new Uint8Array(chunk));
      const r = api.readAhead(fd, bufs);
      const got: number[] = [];
      let prev: Uint8Array | undefined;
      let prevCopy: Uint8Array | undefined;
      for (let k = 0; ; k++) {
        const n = api.readAheadNext(r);
        expect(n).toBeGreaterThanOrEqual(0);
        // The chunk before is still intact (the reader's framer may hold its end): not refilled yet.
        if (prev !== undefined) expect(prev).toEqual(prevCopy);
        if (n === 0) break;
        const view = bufs[k % 4]!.subarray(0, n);
        got.push(...view);
        prev = view;
        prevCopy = view.slice();
        if (n < chunk) break;
      }
      api.readAheadStop(r);
      closeSync(fd);
      expect(Uint8Array.from(got)).toEqual(bytes);
    }
    // Stopped after one chunk of many: the thread ends (stop joins it), nothing hangs.
    const path = join(dir, 'ahead-big.bin');
    writeFileSync(path, new Uint8Array(64 * chunk));
    const fd = openSync(path, 'r');
    const r = api.readAhead(
      fd,
      Array.from({ length: 3 }, () => new Uint8Array(chunk)),
    );
    expect(api.readAheadNext(r)).toBe(chunk);
    api.readAheadStop(r);
    api.readAheadStop(r);
    closeSync(fd);
    // A descriptor it cannot read: −errno (EBADF), for the reader to read that chunk itself.
    const wo = openSync(path, 'r+');
    const wfd = openSync(path, 'w');
    const bad = api.readAhead(
      wfd,
      Array.from({ length: 3 }, () => new Uint8Array(chunk)),
    );
    expect(api.readAheadNext(bad)).toBeLessThan(0);
    api.readAheadStop(bad);
    closeSync(wfd);
    closeSync(wo);
    for (const args of [
      [],
      [fd, []],
      [fd, [new Uint8Array(8), new Uint8Array(8)]],
      [-1, [new Uint8Array(8)]],
    ]) {
      expect(() => (api.readAhead as (...a: unknown[]) => object)(...args)).toThrow(
        'readAhead: bad arguments',
      );
    }
  });

  it('reports the same read error with or without the read-ahead thread (a descriptor opened for writing)', async () => {
    const bytes = mixedCapture(fc.sample(arbPackets(50), { numRuns: 1, seed: 9 })[0]!, [0]);
    const path = join(dir, 'write-only.pcap');
    writeFileSync(path, bytes);
    const reports: string[] = [];
    for (const engine of ['js', 'native'] as const) {
      const fd = openSync(path, 'a');
      const report = await analyzeCapture(fd, { engine, parallel: false, name: 'x' });
      closeSync(fd);
      expect(report.capture.problems[0]?.message).toMatch(/^error reading descriptor \d+: EBADF/);
      reports.push(JSON.stringify(report).replace(/descriptor \d+/, 'descriptor N'));
    }
    expect(reports[1]).toBe(reports[0]);
  });

  it('reads a file as it reads a stream', async () => {
    const pkts = fc.sample(arbPackets(200), { numRuns: 3, seed: 11 }).flat();
    const path = join(dir, 'file.pcap');
    writeFileSync(path, mixedCapture(pkts, [0, 0, 1]));
    const fromFile = await both(path);
    expect(fromFile.native).toBe(fromFile.js);
    expect(JSON.parse(fromFile.native).summary.tcpSegments).toBeGreaterThan(0);
  });

  it('reports what TypeScript reports on every capture of the tcpdump corpus and every fixture', async () => {
    const files: string[] = [];
    for (const d of [`${SHARED}/corpus/tcpdump-tests`, `${FIXTURES}/pcap/scenarios`]) {
      for (const f of readdirSync(d)) {
        const p = join(d, f);
        if (statSync(p).isFile() && /\.(pcap|pcapng|cap|gz)$/.test(f)) files.push(p);
      }
    }
    expect(files.length).toBeGreaterThan(800);
    let withTcp = 0;
    const differ: string[] = [];
    for (const f of files) {
      const { js, native } = await both(f, { maxConnections: 50 });
      if (native !== js) differ.push(f);
      if (JSON.parse(js).summary.tcpSegments > 0) withTcp++;
      // The engine must have seen the file too (no silent fallback): the bytes are read once, by either.
      expect(readFileSync(f).length).toBeGreaterThan(0);
    }
    expect(differ).toEqual([]);
    expect(withTcp).toBeGreaterThan(100);
  }, 300_000);
});

type AnalyzeModule = typeof import('../../src/analyze/analyze.js');
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The classification worker exists only in the compiled build: these tests run dist/ (npm test builds it
 * first), after checking that it is not older than the sources.
 */
describe('native engine with the classification worker (dist/)', () => {
  let dist: AnalyzeModule['analyzeCapture'];
  beforeAll(async () => {
    const built = statSync(join(ROOT, 'dist/analyze/classify-worker.js')).mtimeMs;
    for (const d of ['src/analyze', 'src/packet'])
      for (const f of readdirSync(join(ROOT, d)))
        if (statSync(join(ROOT, d, f)).mtimeMs > built)
          throw new Error(`dist/ is older than ${d}/${f}: run \`npm run build\` before this test`);
    const m = (await import(pathToFileURL(join(ROOT, 'dist/analyze/analyze.js')).href)) as AnalyzeModule;
    dist = m.analyzeCapture;
  });

  async function viaWorker(bytes: Uint8Array, opts: AnalyzeOptions): Promise<string> {
    return JSON.stringify(
      await dist(source(bytes), { ...opts, engine: 'native', parallel: true, name: 'x' }),
    );
  }

  it('reports what TypeScript reports, through a small ring that wraps and fills', async () => {
    await fc.assert(
      fc.asyncProperty(
        arbPackets(300),
        fc.array(fc.constantFrom(0, 0, 1, 2), { minLength: 1, maxLength: 5 }),
        fc.record({
          maxFlows: fc.constantFrom(1, 3, 1000),
          maxConnections: fc.constantFrom(0, 1000),
          // The engine keeps the RST tallies (native.ts): tiny bounds make its pruning matter (lightest keys
          // dropped),
          maxTalkers: fc.constantFrom(2, 50_000),
          // and few seconds make the timeline's buckets widen, merging neighbours.
          maxSeconds: fc.constantFrom(1, 3, 1 << 17),
          maxBuckets: fc.constantFrom(3, 600),
          top: fc.constantFrom(1, 10),
        }),
        async (pkts, other, opts) => {
          const bytes = mixedCapture(pkts, other);
          const js = JSON.stringify(
            await analyzeCapture(source(bytes), { ...opts, engine: 'js', parallel: false, name: 'x' }),
          );
          expect(await viaWorker(bytes, { ...opts, classifyWorker: { ringWords: 4096 } })).toBe(js);
        },
      ),
      { numRuns: 60 },
    );
  }, 120_000);

  // The worker classifies in C (native/classify.c) when the engine loads there: its context (scans, floods,
  // backscatter), early classification, listing, tallies and every pruning must give TypeScript's report.
  it('classifies in C as TypeScript does: early, listed, tiny context and finding-group bounds', async () => {
    await fc.assert(
      fc.asyncProperty(
        arbPackets(400),
        fc.record({
          maxFlows: fc.constantFrom(2, 1000),
          maxConnections: fc.constantFrom(0, 1, 3, 1000),
          maxHeldConnections: fc.constantFrom(1, 2, 5, 4096),
          maxContextKeys: fc.constantFrom(1, 2, 3, 50_000),
          maxFindingGroups: fc.constantFrom(1, 2, 4096),
          top: fc.constantFrom(1, 10),
        }),
        async (pkts, opts) => {
          const bytes = mixedCapture(pkts, [0]);
          const js = JSON.stringify(
            await analyzeCapture(source(bytes), { ...opts, engine: 'js', parallel: false, name: 'x' }),
          );
          expect(await viaWorker(bytes, { ...opts, classifyWorker: { ringWords: 4096 } })).toBe(js);
        },
      ),
      { numRuns: 80 },
    );
  }, 180_000);

  it('classifies in C as TypeScript does: RSTs past what a side records, scans and floods that win', async () => {
    // One connection with more RSTs per side than it records, then storms big enough to be a scan (10+
    // targets in 60 s), a flood (50+ RST-only flows to one receiver) and backscatter (5+ unsolicited).
    const pkts = fc.sample(arbPackets(200), { numRuns: 4, seed: 11 }).flat();
    const many: Pkt[] = [];
    for (let i = 0; i < 2 * (MAX_RESETS_PER_SIDE + 5); i++)
      many.push({
        ...pkts[0]!,
        v6: false,
        src: i % 2,
        dst: 1 - (i % 2),
        sport: i % 2 === 0 ? 40000 : 80,
        dport: i % 2 === 0 ? 80 : 40000,
        seq: 1000 + i,
        ack: 0,
        flags: 0x04,
        len: 0,
        stepMicros: 1000,
      });
    // Each storm once over IPv4 at its threshold and once over IPv6 one below it (THRESHOLDS in causes.ts):
    // lone RSTs to 10 / 9 targets (an RST scan), RST+ACKs to one receiver from 50 / 49 ports (a flood),
    // RST+ACKs from one sender to another's 5 / 4 ports (backscatter).
    const storms: Pkt[] = [];
    const base = { ...pkts[0]!, ack: 0, len: 0, stepMicros: 10_000 };
    for (const v6 of [false, true]) {
      const below = v6 ? 1 : 0;
      for (let i = 0; i < 10 - below; i++)
        storms.push({
          ...base,
          v6,
          src: 0,
          dst: 1 + (i % 2),
          sport: 50000,
          dport: 1000 + i,
          seq: 9 * i,
          flags: 0x04,
        });
      for (let i = 0; i < 50 - below; i++)
        storms.push({ ...base, v6, src: 2, dst: 0, sport: 3000 + i, dport: 80, seq: 7 * i, flags: 0x14 });
      for (let i = 0; i < 5 - below; i++)
        storms.push({ ...base, v6, src: 1, dst: 2, sport: 443, dport: 20000 + i, seq: 5 * i, flags: 0x14 });
    }
    expect(maxRstsPerSide(many)).toBeGreaterThan(MAX_RESETS_PER_SIDE);
    const bytes = mixedCapture([...many, ...storms], [0]);
    for (const opts of [{}, { maxConnections: 2, maxHeldConnections: 3 }, { maxContextKeys: 2 }]) {
      const js = JSON.stringify(
        await analyzeCapture(source(bytes), { ...opts, engine: 'js', parallel: false, name: 'x' }),
      );
      const report = JSON.parse(js) as { causes: { cause: string }[]; findings: unknown[] };
      // The storms made their causes (else this test would prove little).
      if (Object.keys(opts).length === 0)
        for (const c of ['scan', 'rst-flood', 'backscatter'])
          expect(report.causes.map((x) => x.cause)).toContain(c);
      expect(await viaWorker(bytes, { ...opts, classifyWorker: { ringWords: 4096 } })).toBe(js);
    }
  }, 60_000);

  it('classifies a connection whose history spilled past the record (TypeScript writes its item) as TypeScript does', async () => {
    // Retransmissions and zero windows from both sides, 11,000 each: Zeek's scaled letters (T, W) at 1, 10,
    // 100, 1,000 and 10,000 make a history longer than the record's 24 letters; then an abort.
    const base = {
      ...fc.sample(arbPackets(5), { numRuns: 1, seed: 3 })[0]![0]!,
      v6: false,
      ack: 0,
      stepMicros: 100,
    };
    const a = { ...base, src: 0, dst: 1, sport: 40000, dport: 80, win: 65535, len: 0 };
    const b = { ...base, src: 1, dst: 0, sport: 80, dport: 40000, win: 65535, len: 0 };
    const pkts: Pkt[] = [
      { ...a, seq: 1000, flags: 0x02 },
      { ...b, seq: 5000, ack: 1001, flags: 0x12 },
      { ...a, seq: 1001, ack: 5001, flags: 0x10 },
    ];
    for (let i = 0; i < 11_000; i++) {
      pkts.push(
        { ...a, seq: 1001, ack: 5001, flags: 0x18, len: 10 },
        { ...b, seq: 5001, ack: 1001, flags: 0x18, len: 10 },
      );
      pkts.push(
        { ...a, seq: 1011, ack: 5011, flags: 0x10, win: 0 },
        { ...b, seq: 5011, ack: 1011, flags: 0x10, win: 0 },
      );
    }
    pkts.push({ ...a, seq: 1011, ack: 5011, flags: 0x14 });
    const bytes = mixedCapture(pkts, [0]);
    const { js, native } = await both(bytes);
    const conn = (JSON.parse(js) as { connections: { history: string }[] }).connections[0]!;
    expect(conn.history.length).toBeGreaterThan(24);
    expect(native).toBe(js);
    expect(await viaWorker(bytes, { classifyWorker: { ringWords: 4096 } })).toBe(js);
  }, 60_000);

  it('classifies in the reading thread when the worker cannot start (same report)', async () => {
    const pkts = fc.sample(arbPackets(300), { numRuns: 6, seed: 5 }).flat();
    const bytes = mixedCapture(pkts, [0, 1]);
    const js = JSON.stringify(await analyzeCapture(source(bytes), { maxFlows: 2, engine: 'js', name: 'x' }));
    const missing = pathToFileURL(join(dir, 'no-such-worker.js'));
    for (const ringWords of [4096, undefined])
      expect(await viaWorker(bytes, { maxFlows: 2, classifyWorker: { workerUrl: missing, ringWords } })).toBe(
        js,
      );
  }, 60_000);

  it('fails with an error, not a hang, when the worker stops after it started', async () => {
    const bad = join(dir, 'bad-worker.mjs');
    writeFileSync(
      bad,
      `import { parentPort, workerData } from 'node:worker_threads';
Atomics.compareExchange(new Int32Array(workerData.claim), 0, 0, 1);
Atomics.store(new Int32Array(workerData.classifyItems.control), ${CONTROL_CLOSED}, 1); // closed, as ItemReader.close()
parentPort.postMessage({ ok: false, error: 'a test worker that gives up' });
`,
    );
    const pkts = fc.sample(arbPackets(300), { numRuns: 6, seed: 5 }).flat();
    for (const many of [false, true]) {
      // Few connections: the END item fits and the worker's failure is the answer; many: the ring fills.
      const bytes = mixedCapture(many ? [...pkts, ...pkts, ...pkts] : pkts.slice(0, 20), [0]);
      await expect(
        viaWorker(bytes, { maxFlows: 1, classifyWorker: { workerUrl: pathToFileURL(bad), ringWords: 4096 } }),
      ).rejects.toThrow(/classification worker/);
    }
  }, 60_000);

  it('stops a worker classifying in C when the analysis is abandoned (a closed ring, not terminate())', async () => {
    const native = (await import(pathToFileURL(join(ROOT, 'dist/analyze/native.js')).href)) as {
      startClassifyWorker: (
        opts: object,
        test: { ringWords?: number },
      ) => { buffers: { control: SharedArrayBuffer }; result(): Promise<unknown>; abort(): void };
    };
    const ch = native.startClassifyWorker({}, { ringWords: 4096 });
    // The worker names its thread in the control words (C_CONSUMER_TID, 19) before it waits in C for items.
    const ctl = new Int32Array(ch.buffers.control);
    const until = Date.now() + 20_000;
    while (Atomics.load(ctl, 19) === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    expect(Atomics.load(ctl, 19)).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    ch.abort();
    await expect(ch.result()).rejects.toThrow(/classification worker/);
    expect(Date.now() - t0).toBeLessThan(5_000);
  }, 60_000);

  it('takes the worker the CLI started ahead, or does without one that died before it was taken', async () => {
    const prestart = (await import(pathToFileURL(join(ROOT, 'dist/analyze/prestart.js')).href)) as {
      prestartClassifyWorker: (parallel: boolean | 'auto', test?: { workerUrl?: URL }) => void;
      prestartState: () => 'none' | 'waiting' | 'ended' | 'taken' | 'discarded';
    };
    const native = (opts: AnalyzeOptions) =>
      dist(source(bytes), { maxFlows: 2, engine: 'native', name: 'x', ...opts }).then((r) =>
        JSON.stringify(r),
      );
    const pkts = fc.sample(arbPackets(300), { numRuns: 6, seed: 5 }).flat();
    const bytes = mixedCapture([...pkts, ...pkts], [0, 1]);
    const js = JSON.stringify(await analyzeCapture(source(bytes), { maxFlows: 2, engine: 'js', name: 'x' }));
    // Taken: the analysis sends it its options, and it classifies (same report).
    prestart.prestartClassifyWorker(true);
    expect(prestart.prestartState()).toBe('waiting');
    expect(await native({ parallel: true })).toBe(js);
    expect(prestart.prestartState()).toBe('taken');
    // Not wanted (one thread): stopped, and the analysis ends.
    prestart.prestartClassifyWorker(true);
    expect(await native({ parallel: false })).toBe(js);
    expect(prestart.prestartState()).toBe('discarded');
    // Ended before it was taken: the reading thread classifies itself (same report).
    const dying = join(dir, 'dies-at-once.mjs');
    writeFileSync(dying, 'process.exit(5);\n');
    prestart.prestartClassifyWorker(true, { workerUrl: pathToFileURL(dying) });
    for (let i = 0; i < 500 && prestart.prestartState() === 'waiting'; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(prestart.prestartState()).toBe('ended');
    expect(await native({ parallel: true })).toBe(js);
    expect(prestart.prestartState()).toBe('taken');
  }, 60_000);

  it('fails with an error, not a hang, when the worker dies without closing the ring', async () => {
    // As a worker killed by its heap limit: it claimed the items and named its thread (as the real one
    // does, through the compiled ItemReader), then it ends without a word. The reading thread, blocked in
    // the engine with a full ring, must notice the thread is gone.
    const dead = join(dir, 'dying-worker.mjs');
    const ring = pathToFileURL(join(ROOT, 'dist/analyze/item-ring.js')).href;
    writeFileSync(
      dead,
      `import { workerData } from 'node:worker_threads';
import { ItemReader } from '${ring}';
Atomics.compareExchange(new Int32Array(workerData.claim), 0, 0, 1);
new ItemReader(workerData.classifyItems).registerThread();
process.exit(7);
`,
    );
    const pkts = fc.sample(arbPackets(300), { numRuns: 6, seed: 5 }).flat();
    const bytes = mixedCapture([...pkts, ...pkts, ...pkts], [0]);
    const started = Date.now();
    await expect(
      viaWorker(bytes, { maxFlows: 1, classifyWorker: { workerUrl: pathToFileURL(dead), ringWords: 4096 } }),
    ).rejects.toThrow(/classification worker (ended without a word|exited)/);
    // Noticed within a few of the engine's looks at the thread (every ~0.1 s), not at some long timeout.
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 60_000);
});
