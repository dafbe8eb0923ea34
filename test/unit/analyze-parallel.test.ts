/**
 * The worker path of analyzeCapture (connection tracking in flow-worker.ts, fed through the shared ring of
 * packet-ring.ts) against the in-process path: the same report, on random captures and on one large enough
 * to wrap the ring many times. The worker exists only in the compiled build, so this file runs the analysis
 * from dist/ (`npm run build`; `npm test` builds first) and fails when dist/ is missing or older than the
 * sources. The ring itself is tested from the sources: records round-trip, a consumer that failed stops the
 * producer.
 */
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { autoParallel, PARALLEL_MIN_BYTES } from '../../src/analyze/analyze.js';
import { flowKey, KEY_INTS } from '../../src/analyze/flow-key.js';
import { localSink, workerSink } from '../../src/analyze/flow-sink.js';
import {
  CONTROL_CONSUMER_TID,
  consumerGone,
  currentThreadId,
  ITEM_RING_WORDS,
  Item,
  ItemCursor,
  ItemReader,
  type ItemSource,
  ItemWriter,
  newItemRingBuffers,
} from '../../src/analyze/item-ring.js';
import {
  newRingBuffers,
  RING_CONSUMER_TID,
  RING_RECORDS,
  RingReader,
  RingWriter,
} from '../../src/analyze/packet-ring.js';
import { decodeFrameAt } from '../../src/packet/decode.js';
import { newDecodedTcp, TCP } from '../../src/packet/types.js';
import { ether, ipv4, type PcapRecord, pcap, tcp } from '../fixtures/pcap/build.js';
import { arbPackets, capture, frame, times } from './analyze-streams.js';

type AnalyzeModule = typeof import('../../src/analyze/analyze.js');

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIST_ANALYZE = join(ROOT, 'dist/analyze/analyze.js');

/** dist/analyze must exist and be newer than every source of src/analyze and src/packet. */
function checkDist(): void {
  let built: number;
  try {
    built = statSync(join(ROOT, 'dist/analyze/flow-worker.js')).mtimeMs;
  } catch {
    throw new Error('dist/ has no flow worker: run `npm run build` before this test');
  }
  for (const dir of ['src/analyze', 'src/packet']) {
    for (const f of readdirSync(join(ROOT, dir))) {
      if (statSync(join(ROOT, dir, f)).mtimeMs > built)
        throw new Error(`dist/ is older than ${dir}/${f}: run \`npm run build\` before this test`);
    }
  }
}

let analyzeCapture: AnalyzeModule['analyzeCapture'];

const tmp = mkdtempSync(join(tmpdir(), 'rw-parallel-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let files = 0;

/** Many short connections from a few clients, some refused, some aborted, interleaved. */
function bigCapture(connections: number): Uint8Array {
  const recs: PcapRecord[] = [];
  const server = [10, 1, 0, 1];
  let t = 1_700_000_000 * 1e6;
  const open: { client: number[]; port: number; kind: number; step: number; seq: number; sseq: number }[] =
    [];
  for (let i = 0; i < connections || open.length > 0; ) {
    if (i < connections && open.length < 40) {
      open.push({
        client: [10, 2, (i >> 8) & 3, i & 255],
        port: 20000 + (i % 40000),
        kind: i % 5,
        step: 0,
        seq: 1000 * i,
        sseq: 7 * i,
      });
      i++;
      continue;
    }
    const c = open[((t / 7) % open.length) | 0]!;
    t += 13;
    const push = (fromClient: boolean, flags: number, seq: number, ack: number, len = 0) =>
      recs.push({
        data: ether(
          0x0800,
          ipv4(
            tcp({
              sport: fromClient ? c.port : 80,
              dport: fromClient ? 80 : c.port,
              seq,
              ack,
              flags,
              payload: new Array(len).fill(7),
            }),
            {
              src: fromClient ? c.client : server,
              dst: fromClient ? server : c.client,
            },
          ),
        ),
        sec: Math.floor(t / 1e6),
        frac: t % 1e6,
      });
    const s = c.step++;
    if (c.kind === 0) {
      // refused
      if (s === 0) push(true, TCP.SYN, c.seq, 0);
      else push(false, TCP.RST | TCP.ACK, 0, c.seq + 1);
      if (s === 1) open.splice(open.indexOf(c), 1);
      continue;
    }
    const script: [boolean, number, number][] = [
      [true, TCP.SYN, 0],
      [false, TCP.SYN | TCP.ACK, 0],
      [true, TCP.ACK, 0],
      [true, TCP.ACK | TCP.PSH, 40],
      [false, TCP.ACK, 0],
      [false, TCP.ACK | TCP.PSH, 300],
      [true, TCP.ACK, 0],
      c.kind === 1 ? [true, TCP.RST | TCP.ACK, 0] : [true, TCP.FIN | TCP.ACK, 0],
      [false, TCP.FIN | TCP.ACK, 0],
      [true, TCP.ACK, 0],
    ];
    const [fromClient, flags, len] = script[s]!;
    const seq = fromClient
      ? c.seq + (s > 0 ? 1 : 0) + (s > 3 ? 40 : 0) + (s > 8 ? 1 : 0)
      : c.sseq + (s > 1 ? 1 : 0) + (s > 5 ? 300 : 0);
    const ack = fromClient
      ? c.sseq + (s > 1 ? 1 : 0) + (s > 5 ? 300 : 0) + (s > 8 ? 1 : 0)
      : c.seq + 1 + (s > 3 ? 40 : 0) + (s > 7 ? 1 : 0);
    push(fromClient, flags, seq >>> 0, ack >>> 0, len);
    if (c.step === script.length || (c.kind === 1 && c.step === 8)) open.splice(open.indexOf(c), 1);
  }
  return pcap(recs);
}

function file(bytes: Uint8Array): string {
  const f = join(tmp, `c${++files}.pcap`);
  writeFileSync(f, bytes);
  return f;
}

describe('analyzeCapture in a worker thread (compiled build)', () => {
  beforeAll(async () => {
    checkDist();
    ({ analyzeCapture } = (await import(DIST_ANALYZE)) as AnalyzeModule);
  });

  it('gives the same report as in-process on random captures, from a file and from a stream', async () => {
    await fc.assert(
      fc.asyncProperty(
        arbPackets(150),
        fc.record({
          maxFlows: fc.constantFrom(2, 8, 1000),
          maxConnections: fc.constantFrom(0, 3, 1000),
          maxHeldConnections: fc.constantFrom(1, 4, 4096),
        }),
        async (pkts, opts) => {
          const bytes = capture(pkts);
          const f = file(bytes);
          const local = await analyzeCapture(f, { ...opts, engine: 'js', parallel: false });
          expect(await analyzeCapture(f, { ...opts, engine: 'js', parallel: true })).toEqual(local);
          const streamed = await analyzeCapture(Readable.from([Buffer.from(bytes)]), { ...opts, name: f });
          expect(streamed).toEqual(local);
        },
      ),
      { numRuns: 15 },
    );
  });

  it('gives the same report on a capture that wraps the ring many times, with a full flow table', async () => {
    const f = file(bigCapture(12_000));
    const opts = { maxFlows: 500, maxConnections: 100, maxHeldConnections: 512 };
    const local = await analyzeCapture(f, { ...opts, engine: 'js', parallel: false });
    // A ring of 4,096 records: this capture wraps it ~20 times (the default ring, 16× larger, would need a
    // capture 16× as long for the same).
    const ringRecords = 4096;
    expect(local.summary.tcpSegments).toBeGreaterThan(16 * ringRecords);
    expect(local.summary.rsts).toBeGreaterThan(4000);
    expect(local.summary.classifiedEarly).toBeGreaterThan(0);
    const parallel = await analyzeCapture(f, { ...opts, engine: 'js', parallel: true, ringRecords });
    expect(parallel).toEqual(local);
    // And with the default ring, which this capture wraps once.
    expect(local.summary.tcpSegments).toBeGreaterThan(RING_RECORDS);
    expect(await analyzeCapture(f, { ...opts, engine: 'js', parallel: true })).toEqual(local);
  }, 60_000);
});

describe('analyzeCapture in a worker thread, one connection with many RSTs (compiled build)', () => {
  beforeAll(async () => {
    checkDist();
    ({ analyzeCapture } = (await import(DIST_ANALYZE)) as AnalyzeModule);
  });

  it('50,000 RSTs on one 4-tuple: the same report as in-process, bounded', async () => {
    const recs: PcapRecord[] = [];
    for (let i = 0; i < 50_000; i++)
      recs.push({
        data: ether(
          0x0800,
          ipv4(tcp({ sport: 80, dport: 40000, seq: (i * 7919) >>> 0, ack: 1, flags: TCP.RST | TCP.ACK }), {
            src: [10, 0, 0, 1],
            dst: [10, 0, 0, 2],
          }),
        ),
        sec: 1_700_000_000 + Math.floor(i / 10_000),
        frac: i % 10_000,
      });
    const f = file(pcap(recs));
    const local = await analyzeCapture(f, { engine: 'js', parallel: false });
    expect(local.summary.rsts).toBe(50_000);
    expect(local.causes.reduce((n, c) => n + c.count, 0)).toBe(50_000);
    expect(local.connections[0]!.resets).toHaveLength(32);
    expect(await analyzeCapture(f, { engine: 'js', parallel: true })).toEqual(local);
  }, 60_000);
});

describe("parallel: 'auto'", () => {
  it('starts the worker for a stream or a large file, never on one CPU nor for a small file', () => {
    expect(autoParallel(undefined, 2)).toBe(true);
    expect(autoParallel(PARALLEL_MIN_BYTES, 2)).toBe(true);
    expect(autoParallel(PARALLEL_MIN_BYTES - 1, 64)).toBe(false);
    expect(autoParallel(0, 2)).toBe(false);
    // One CPU: the two threads would take turns on it, for ~15–25 % more CPU time.
    expect(autoParallel(undefined, 1)).toBe(false);
    expect(autoParallel(10 * PARALLEL_MIN_BYTES, 1)).toBe(false);
  });
});

/**
 * A thread that writes its kernel thread id into word `index` of a ring's control words — as a ring's
 * reader names itself (registerThread) — then ends without a word; resolves once it has ended.
 */
async function readerThatEnds(control: SharedArrayBuffer, index: number): Promise<void> {
  const worker = new Worker(
    `const { workerData } = require('node:worker_threads');
const tid = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop());
Atomics.store(new Int32Array(workerData), ${index}, tid);`,
    { eval: true, workerData: control },
  );
  await new Promise((resolve) => worker.once('exit', resolve));
}

describe('packet ring', () => {
  it('a writer that finds the ring full gives up at once when the reader thread ended without a word', async () => {
    expect(currentThreadId()).toBeGreaterThan(0); // /proc/thread-self (Linux, where the tests run)
    const buffers = newRingBuffers(512);
    const w = new RingWriter(buffers);
    const pkt = newDecodedTcp();
    for (let i = 0; i < 512; i++) w.write(pkt, 1, 0, i); // full
    // A thread that names itself the reader (as flow-worker.ts does), then ends without fail().
    await readerThatEnds(buffers.control, RING_CONSUMER_TID);
    const started = Date.now();
    expect(() => w.write(pkt, 1, 0, 512)).toThrow(/flow worker ended without a word/);
    expect(Date.now() - started).toBeLessThan(5_000); // not the 120 s stall timeout
  });

  it('hands every field of every record over, in order (addresses and ports as the flow key)', () => {
    const buffers = newRingBuffers();
    const w = new RingWriter(buffers);
    const r = new RingReader(buffers);
    const sent: unknown[] = [];
    const pkt = newDecodedTcp();
    for (let i = 0; i < 1000; i++) {
      pkt.ipVersion = i % 3 === 0 ? 6 : 4;
      for (let b = 0; b < 16; b++) {
        pkt.src[b] = pkt.ipVersion === 6 || b < 4 ? (i * 7 + b) & 255 : 0;
        pkt.dst[b] = pkt.ipVersion === 6 || b < 4 ? (i * 13 + b) & 255 : 0;
      }
      pkt.srcPort = i % 65536;
      pkt.dstPort = 65535 - (i % 65536);
      pkt.seq = (0xfffffff0 + i) >>> 0;
      pkt.ack = (i * 2654435761) >>> 0;
      pkt.flags = i & 0x1ff;
      pkt.window = i % 65536;
      pkt.payloadLen = i * 3;
      pkt.ttl = i & 255;
      pkt.ipId = pkt.ipVersion === 6 ? -1 : i & 0xffff;
      pkt.mss = i % 2 ? 1460 : -1;
      pkt.wscale = i % 4 ? i % 15 : -1;
      pkt.sackPermitted = i % 5 === 0;
      pkt.hasTimestamps = i % 2 === 0;
      pkt.tsVal = pkt.hasTimestamps ? (0xffffffff - i) >>> 0 : 0;
      const tsSec = (0xfffffff0 + i) >>> 0;
      const frame = 2 ** 33 + i;
      w.write(pkt, tsSec, i * 1000, frame);
      const key = new Int32Array(KEY_INTS);
      flowKey(pkt.ipVersion, pkt.src, pkt.dst, pkt.srcPort, pkt.dstPort, key, 0);
      const { src: _s, dst: _d, srcPort: _sp, dstPort: _dp, ...rest } = pkt;
      sent.push({ ...rest, key: [...key], tsSec, tsNsec: i * 1000, frame });
    }
    w.close();
    const got: unknown[] = [];
    const key = new Int32Array(KEY_INTS);
    r.drain(newDecodedTcp(), key, (p, tsSec, tsNsec, frame) => {
      const { src: _s, dst: _d, srcPort: _sp, dstPort: _dp, ...rest } = p;
      got.push({ ...rest, key: [...key], tsSec, tsNsec, frame });
    });
    expect(got).toHaveLength(1000);
    const norm = (x: unknown) => {
      const o = { ...(x as Record<string, unknown>) };
      // Fields the flow table does not read are not carried.
      for (const k of ['tsEcr', 'sackBlocks', 'tunnelDepth', 'direction']) delete o[k];
      return o;
    };
    expect(got.map(norm)).toEqual(sent.map(norm));
  });

  it('a consumer that failed stops a producer waiting for room', () => {
    for (const size of [512, RING_RECORDS]) {
      const buffers = newRingBuffers(size);
      const w = new RingWriter(buffers);
      new RingReader(buffers).fail();
      const pkt = newDecodedTcp();
      pkt.ipVersion = 4;
      let written = 0;
      expect(() => {
        for (let i = 0; i <= size; i++, written++) w.write(pkt, 0, 0, i + 1);
      }).toThrow(/the flow worker failed/);
      // It wrote until the ring was full, not one record more.
      expect(written).toBe(size);
    }
  });

  it('a ring is a power of two of at least 512 records', () => {
    expect(new Int32Array(newRingBuffers().records).length).toBe(RING_RECORDS * 32);
    expect(new Int32Array(newRingBuffers(1024).records).length).toBe(1024 * 32);
    for (const bad of [0, 256, 1000, 1536, 768.5, Number.NaN])
      expect(() => newRingBuffers(bad)).toThrow(RangeError);
  });
});

describe('item ring', () => {
  it('hands variable-length items over in order, across the end of the ring, doubles exact', () => {
    const buffers = newItemRingBuffers();
    const wake = new Int32Array(new SharedArrayBuffer(8));
    const w = new ItemWriter(buffers, wake, 0);
    const r = new ItemReader(buffers);
    const out = new Item();
    const cursor = new ItemCursor();
    let sent = 0;
    let got = 0;
    // Items of 1 to ~80,000 words, ~7 times the ring's size in all, read back between writes.
    let wrong = 0;
    for (let round = 0; round < 200; round++) {
      const item = new Item();
      const n = 1 + ((round * 7919) % 80_000);
      for (let i = 0; i < n; i++) item.int((round * 31 + i) | 0);
      item.double(round + 0.1).double(-(2 ** 40) - round);
      w.push(1 + (round % 3), item);
      sent += n + 4;
      const kind = r.next(out);
      expect(kind).toBe(1 + (round % 3));
      expect(out.length).toBe(n + 4);
      const c = cursor.reset(out);
      for (let i = 0; i < n; i++) if (c.int() !== ((round * 31 + i) | 0)) wrong++;
      expect(c.double()).toBe(round + 0.1);
      expect(c.double()).toBe(-(2 ** 40) - round);
      got += out.length;
    }
    expect(wrong).toBe(0);
    expect(r.next(out)).toBe(-1);
    expect(got).toBe(sent);
    expect(sent).toBeGreaterThan(7 * ITEM_RING_WORDS);
  });

  it('ints, bytes and doubles in bulk, read in place and through a cursor, across the end of the ring', () => {
    const buffers = newItemRingBuffers();
    const w = new ItemWriter(buffers, new Int32Array(new SharedArrayBuffer(8)), 0);
    const r = new ItemReader(buffers);
    const cursor = new ItemCursor();
    const copy = new Item();
    const n = 1000;
    const I = Int32Array.from({ length: n }, (_, i) => (i * 2654435761) | 0);
    const B = Uint8Array.from({ length: n }, (_, i) => (i * 37) & 255);
    const D = Float64Array.from(
      { length: n },
      (_, i) => (i % 2 ? -1 : 1) * (i * 1e9 + 0.125) * 2 ** (i % 60),
    );
    // ~3,003 words an item: 700 items go round the ring twice, each read both ways.
    for (let round = 0; round < 700; round++) {
      const at = round % 7;
      const item = new Item()
        .int(round)
        .ints(I, at, n - 7)
        .bytes(B, at, n - 7)
        .doubles(D, at, n - 7);
      w.push(2, item);
      for (const way of ['ring', 'cursor'] as const) {
        let src: ItemSource;
        if (way === 'ring') {
          expect(r.next()).toBe(2);
          src = r;
        } else src = cursor.reset(item);
        const i2 = new Int32Array(n);
        const b2 = new Uint8Array(n);
        const d2 = new Float64Array(n);
        expect(src.int()).toBe(round);
        src.ints(i2, 3, n - 7);
        src.bytes(b2, 3, n - 7);
        src.doubles(d2, 3, n - 7);
        expect(i2.subarray(3, n - 4)).toEqual(I.subarray(at, at + n - 7));
        expect(b2.subarray(3, n - 4)).toEqual(B.subarray(at, at + n - 7));
        expect(d2.subarray(3, n - 4)).toEqual(D.subarray(at, at + n - 7));
        if (way === 'ring') r.done();
      }
      if (round === 699) {
        // next(into) copies the payload: the same words as the item.
        w.push(3, item);
        expect(r.next(copy)).toBe(3);
        expect(copy.words.subarray(0, copy.length)).toEqual(item.words.subarray(0, item.length));
      }
    }
    expect(r.next()).toBe(-1);
  });

  it('a writer that finds the ring full wakes the reader and gives up once the reader closed', () => {
    const buffers = newItemRingBuffers();
    const wake = new Int32Array(new SharedArrayBuffer(8));
    const w = new ItemWriter(buffers, wake, 0);
    const big = new Item();
    for (let i = 0; i < ITEM_RING_WORDS / 2; i++) big.int(i);
    w.push(1, big);
    new ItemReader(buffers).close();
    expect(() => w.push(1, big)).toThrow(/stopped taking connections/);
  });

  it('a writer that finds the ring full gives up once the reader thread ended without closing it', async () => {
    // /proc/thread-self names this thread (Linux, where the tests run): fails loudly without it.
    expect(currentThreadId()).toBeGreaterThan(0);
    const buffers = newItemRingBuffers();
    const w = new ItemWriter(buffers, new Int32Array(new SharedArrayBuffer(8)), 0);
    const big = new Item();
    for (let i = 0; i < ITEM_RING_WORDS / 2; i++) big.int(i);
    w.push(1, big);
    // A thread that names itself the reader, then ends (as a worker killed by its heap limit would).
    await readerThatEnds(buffers.control, CONTROL_CONSUMER_TID);
    const ctl = new Int32Array(buffers.control);
    expect(Atomics.load(ctl, CONTROL_CONSUMER_TID)).toBeGreaterThan(0);
    expect(consumerGone(ctl)).toBe(true);
    expect(() => w.push(1, big)).toThrow(/ended without a word/);
    // This thread, alive, is never taken for dead.
    new ItemReader(buffers).registerThread();
    expect(consumerGone(ctl)).toBe(false);
  });
});

describe('flow sinks', () => {
  it('a worker that cannot start leaves the work to the reading thread, with the same result', async () => {
    const missing = new URL('file:///nonexistent-rstwatch/flow-worker.js');
    const sink = await workerSink(missing, { maxFlows: 8 });
    const local = localSink({ maxFlows: 8 });
    const pkts = fc.sample(arbPackets(200), { numRuns: 1, seed: 3 })[0]!;
    const ts = times(pkts);
    const p = newDecodedTcp();
    pkts.forEach((x, i) => {
      const bytes = Uint8Array.from(frame(x));
      if (decodeFrameAt(1, bytes, 0, bytes.length, p) !== undefined) return;
      const sec = Math.floor(ts[i]! / 1e6);
      const nsec = (ts[i]! % 1e6) * 1000;
      sink.observe(p, sec, nsec, i + 1);
      local.observe(p, sec, nsec, i + 1);
    });
    const want = await local.finish();
    expect(want.connections).toBeGreaterThan(0);
    expect(await sink.finish()).toEqual(want);
  });
});
