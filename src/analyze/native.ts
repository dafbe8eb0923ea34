/**
 * The native analysis engine (native/engine.c, a Node-API addon built by scripts/build-native.mjs): the hot
 * path of the analysis — classic pcap records, the common frames (Ethernet, IPv4/IPv6, TCP) and the flow
 * table with its per-segment processing — in one pass in C, on the same records (flow-record.ts) the
 * TypeScript flow table uses. Everything else stays here: the reader's handling of formats and errors, the
 * frames the engine does not decode (decodeFrameAt, then fed in with observe()), the capture-wide context,
 * the classification and the report — so that the result is the same, byte for byte, as with the
 * TypeScript flow table (test/unit/native-engine.test.ts). The engine takes the flow worker's place: the
 * connections leave it as they leave the worker (flow-worker.ts), as attempts and held connections.
 *
 * Why (docs/benchmarks.md, part 7, round 4): tracking every segment in JavaScript cost ~3 s of CPU on the
 * 1 GB benchmark capture; the speed targets need a fraction of it.
 *
 * When the addon is missing (no compiler when the package was installed) or was built for another record
 * layout, `nativeEngine()` is undefined and the TypeScript flow table does the work: same result, slower.
 */

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { workerThreads } from '../internal/builtins.js';
import type { BulkReader, ReadAheadSource } from '../packet/parser.js';
import type { DecodedTcp } from '../packet/types.js';
import { AddressNames } from './addr-cache.js';
import { BoundedCounter, type RstTallies, type RstTally, SecondsHistogram } from './aggregate.js';
import type { ClassifyWorkerData, ClassifyWorkerMessage, ClassifyWorkerOptions } from './classify-worker.js';
import { ConnectionSide, type FlowAnalysisOptions, type FlowResult } from './flow-analysis.js';
import { word32 } from './flow-key.js';
import {
  D_FRESH,
  D_STRIDE,
  DE_PAYLOAD,
  E_LAST_HAS_TS,
  F_NRESETS,
  FlowStore,
  HIST_CAP,
  I_FRESH,
  I_STRIDE,
} from './flow-record.js';
import type { FlowSink } from './flow-sink.js';
import { attemptFromWords, ItemConsumer } from './flow-sink.js';
import {
  CLOSE_DELAY_SEC,
  DEFAULT_CHALLENGE_ACK_SEC,
  DEFAULT_CLOSED_TIMEOUT_SEC,
  DEFAULT_ESTABLISHED_IDLE_TIMEOUT_SEC,
  DEFAULT_IDLE_TIMEOUT_SEC,
  DEFAULT_MAX_FLOWS,
  SERVER_PORTS,
} from './flows.js';
import { CLOSED_BY, HeldConnections, serializeFlowFrom } from './held.js';
import {
  ITEM_ATTEMPT,
  ITEM_END,
  ITEM_HELD,
  Item,
  ItemReader,
  type ItemRingBuffers,
  ItemWriter,
  newItemRingBuffers,
} from './item-ring.js';
import {
  type ClassifierApi,
  classifierResult,
  nativeClassifierFits,
  newClassifier,
} from './native-classify.js';
import { CLASSIFY_RING_WORDS, CLASSIFY_URL, takePrestarted } from './prestart.js';
import { QuietView } from './records.js';
import {
  MAX_POOL_ENTRIES,
  MAX_RESETS_PER_SIDE,
  R_KEEPALIVE,
  R_STRIDE,
  RD_PREV_PACKETS,
  RD_STRIDE,
  ResetPool,
} from './reset-pool.js';

/** The record layout the engine must have been built for (checked by the engine: native/engine.c LAYOUT). */
const LAYOUT = Int32Array.of(
  I_STRIDE,
  D_STRIDE,
  HIST_CAP,
  R_STRIDE,
  RD_STRIDE,
  F_NRESETS,
  E_LAST_HAS_TS,
  DE_PAYLOAD,
  R_KEEPALIVE,
  RD_PREV_PACKETS,
  MAX_RESETS_PER_SIDE,
  MAX_POOL_ENTRIES,
  12,
);

/** What native/engine.c exports (with native/classify.c's classifier). */
interface EngineApi extends ClassifierApi {
  layoutVersion: number;
  create(
    layout: Int32Array,
    I: Int32Array,
    D: Float64Array,
    H: Uint8Array,
    XI: Int32Array,
    XD: Float64Array,
    S: Float64Array,
    T: Float64Array,
    options: Float64Array,
    onHeld: (before: number, slot: number, why: number, n: number) => void,
    onAttempt: (before: number, slot: number) => void,
    onSpill: (slot: number, code: number) => void,
    freshI: Int32Array,
    freshD: Float64Array,
    serverPorts: Uint8Array,
  ): object;
  pcap(
    engine: object,
    buf: Uint8Array,
    off: number,
    end: number,
    le: number,
    nsec: number,
    snaplen: number,
    linkType: number,
    maxPacketBytes: number,
    frame: number,
  ): number;
  pcapng(
    engine: object,
    buf: Uint8Array,
    off: number,
    end: number,
    le: number,
    ifaces: Float64Array,
    maxPacketBytes: number,
    frame: number,
  ): number;
  observe(engine: object, P: Int32Array, tsSec: number, tsNsec: number, frame: number): void;
  drain(engine: object): void;
  ring(engine: object, words: Int32Array, control: Int32Array, onFull: () => void): void;
  destroy(engine: object): void;
  /** A RST TypeScript decoded (RstTally's arguments). */
  tally(engine: object, ...rst: Parameters<RstTally>): void;
  /** Tally `which` (0 senders, 1 receivers, 2 pairs, 3 seconds) into `out`; without it, its length. */
  tallies(engine: object, which: number, out?: Float64Array): number;
  /**
   * A thread that reads regular file `fd` into `buffers` in turn (native/readahead.c); given the engine, it
   * decodes a classic pcap file's records ahead for that engine's pcap().
   */
  readAhead(fd: number, buffers: Uint8Array[], engine?: object): object;
  /** The next chunk's length (0: the end; negative: −errno), in the next buffer in turn. */
  readAheadNext(reader: object): number;
  readAheadStop(reader: object): void;
  /** The offset of the first 2 MiB boundary in `bytes` (0: none): where readAhead's buffers start. */
  hugeAlign(bytes: Uint8Array): number;
}

/**
 * Buffers the read-ahead thread fills in turn: two are the reader's (the chunk and the one before), so it
 * runs up to six chunks ahead — with four (two ahead) the reading thread waited for it in spells
 * (docs/benchmarks.md, part 7, round 9).
 */
const READ_AHEAD_BUFFERS = 8;
const HUGE_PAGE = 2 << 20;

// Bulk statistics (engine.c S_*) and table statistics (T_*).
const S_TCP = 0;
const S_FIRST = 1;
const S_LAST = 2;
const S_TRUNCATED = 3;
const S_MALFORMED = 4;
const S_RSTS = 5;
const S_RST4 = 6;
const S_RST6 = 7;
const S_RST_ACK = 8;
const S_RST_BARE = 9;
const S_PACKETS = 10;
const S_BYTES = 11;
const S_AHEAD = 13;
const S_N = 14;
const T_EVICTED = 2;
const T_LEFT = 7;
const T_N = 8;

/**
 * Where scripts/build-native.mjs puts the addon (the same from src/ and from dist/), unless the environment
 * names another file (RSTWATCH_NATIVE_ENGINE: a packager's build, or a missing file to try the fallback).
 */
export const ENGINE_PATH =
  process.env.RSTWATCH_NATIVE_ENGINE ||
  fileURLToPath(new URL('../../build/native/engine.node', import.meta.url));

let api: EngineApi | null | undefined;
let loadError: string | undefined;

/** The engine, or undefined when it is not built or not usable here (loadError says why). */
export function nativeEngine(): EngineApi | undefined {
  if (api === undefined) {
    api = null;
    if (!existsSync(ENGINE_PATH)) loadError = `${ENGINE_PATH} is not built (npm run build)`;
    else {
      try {
        const m = createRequire(import.meta.url)(ENGINE_PATH) as EngineApi;
        if (m.layoutVersion !== LAYOUT[LAYOUT.length - 1]) loadError = 'built for another record layout';
        else api = m;
      } catch (err) {
        loadError = err instanceof Error ? err.message : String(err);
      }
    }
  }
  return api ?? undefined;
}

/** Why nativeEngine() is undefined (for --engine native's error). */
export function nativeEngineError(): string | undefined {
  nativeEngine();
  return loadError;
}

/** How many keys the RST tallies keep (analyze.ts maxTalkers), and how many seconds. */
export interface TallyBounds {
  maxTalkers: number;
  maxSeconds: number;
}

/** What the frames decoded by the engine add to analyze.ts's own counts. */
export interface BulkCounts {
  tcp: number;
  first: number;
  last: number;
  truncated: number;
  malformed: number;
  rsts: number;
  rstIpv4: number;
  rstIpv6: number;
  rstAck: number;
  rstBare: number;
  /** Records the read-ahead thread decoded for pcap() (native/readahead.c), of those counted in tcp and the rest. */
  decodedAhead: number;
}

/**
 * The flow sink and the reader's bulk path in one: the reader hands it whole runs of pcap records
 * (BulkReader), analyze.ts the segments it decoded itself (observe).
 */
export class NativeFlows implements FlowSink, BulkReader {
  packets = 0;
  bytes = 0;
  private readonly engine: object;
  private readonly S = new Float64Array(S_N);
  private readonly T = new Float64Array(T_N);
  private readonly P = new Int32Array(24);
  private readonly finishSide: (left: number, evicted: number) => Promise<FlowResult>;
  private readonly abortSide: () => void;
  /** The RST tallies, read from the engine when the analysis ends (finish). */
  tallies: RstTallies | undefined;

  /**
   * Counts a RST that TypeScript decoded (analyze.ts) in the engine's tallies, in its place among the
   * engine's own: the tallies are kept by the engine since it counts most RSTs itself.
   */
  readonly tallyRst: RstTally = (v, a0, a1, a2, a3, b0, b1, b2, b3, tsSec) =>
    this.api.tally(this.engine, v, a0, a1, a2, a3, b0, b1, b2, b3, tsSec);

  constructor(
    private readonly api: EngineApi,
    opts: FlowAnalysisOptions,
    private readonly bounds: TallyBounds,
    classify?: ClassifyChannel,
  ) {
    const max = Math.max(1, Math.floor(opts.maxFlows ?? DEFAULT_MAX_FLOWS));
    const store = new FlowStore(max);
    const names = new AddressNames();
    const quiet = new QuietView(store, names);
    const words = new Int32Array(8);
    const XI = new Int32Array(2 * MAX_RESETS_PER_SIDE * R_STRIDE);
    const XD = new Float64Array(2 * MAX_RESETS_PER_SIDE * RD_STRIDE);
    this.S[S_FIRST] = Number.POSITIVE_INFINITY;
    this.S[S_LAST] = Number.NEGATIVE_INFINITY;
    let onHeld: (before: number, slot: number, why: number, n: number) => void;
    let onAttempt: (before: number, slot: number) => void;
    // The flow worker's items (flow-worker.ts), written here: for the classification worker, or the native
    // classifier in this thread, the connections whose history spilled into a string, and the END item.
    const item = new Item();
    const heldItem = (before: number, slot: number, why: number, n: number): Item => {
      serializeFlowFrom(store, slot, why, XI, XD, n, item);
      return item.int(before);
    };
    const attemptItem = (before: number, slot: number): Item => {
      const q = quiet.at(slot);
      q.addressWords(true, words, 0);
      q.addressWords(false, words, 4);
      return item.clear().int(before).int(q.ipVersion).ints(words, 0, 8).int(q.respPort).double(q.startTime);
    };
    let classifier: object | undefined;
    if (classify === undefined && nativeClassifierFits(opts)) {
      // Classified in this thread by the native classifier (native/classify.c), which the engine feeds itself.
      const k = newClassifier(api, opts, SERVER_PORTS);
      classifier = k;
      let destroyed = false;
      const destroy = () => {
        if (!destroyed) api.classifierDestroy(k);
        destroyed = true;
      };
      onHeld = (before, slot, why, n) => {
        const x = heldItem(before, slot, why, n);
        api.classifierTake(k, ITEM_HELD, x.words, x.length);
      };
      onAttempt = (before, slot) => {
        const x = attemptItem(before, slot);
        api.classifierTake(k, ITEM_ATTEMPT, x.words, x.length);
      };
      this.finishSide = async (left, evicted) => {
        try {
          item.clear().int(left).double(evicted);
          api.classifierTake(k, ITEM_END, item.words, item.length);
          return classifierResult(api, k, opts);
        } finally {
          destroy();
        }
      };
      this.abortSide = destroy;
    } else if (classify === undefined) {
      // Classified in this thread: as flow-sink.ts does with the flow worker's items, from memory.
      const held = new HeldConnections(new ResetPool(), names);
      const side = new ConnectionSide(held, opts);
      onHeld = (before, slot, why, n) => {
        side.catchUp(before);
        side.held(held.addFrom(store, slot, CLOSED_BY[why]!, XI, XD, n));
      };
      onAttempt = (before, slot) => {
        const q = quiet.at(slot);
        q.addressWords(true, words, 0);
        q.addressWords(false, words, 4);
        side.catchUp(before);
        attemptFromWords(side, names, q.ipVersion, words, q.respPort, q.startTime);
      };
      this.finishSide = async (left, evicted) => side.finish(left, evicted);
      this.abortSide = () => undefined;
    } else {
      // Classified by the classification worker; the engine writes the items itself (ring below).
      const out = classify.writer;
      onHeld = (before, slot, why, n) => {
        const x = heldItem(before, slot, why, n);
        out.sync();
        out.push(ITEM_HELD, x);
      };
      onAttempt = (before, slot) => {
        const x = attemptItem(before, slot);
        out.sync();
        out.push(ITEM_ATTEMPT, x);
      };
      this.finishSide = async (left, evicted) => {
        out.sync();
        item.clear().int(left).double(evicted);
        while (!out.fits(item)) classify.onFull();
        out.push(ITEM_END, item);
        return classify.result();
      };
      this.abortSide = () => classify.abort();
    }
    this.engine = api.create(
      LAYOUT,
      store.I,
      store.D,
      store.H,
      XI,
      XD,
      this.S,
      this.T,
      Float64Array.of(
        max,
        DEFAULT_IDLE_TIMEOUT_SEC,
        DEFAULT_ESTABLISHED_IDLE_TIMEOUT_SEC,
        DEFAULT_CLOSED_TIMEOUT_SEC,
        DEFAULT_CHALLENGE_ACK_SEC,
        CLOSE_DELAY_SEC,
        bounds.maxTalkers,
        bounds.maxSeconds,
      ),
      onHeld,
      onAttempt,
      // History letters past HIST_CAP (a string, as FlowStore keeps them); −1: the slot is free again.
      (slot, code) => {
        store.spill[slot] = code < 0 ? undefined : (store.spill[slot] ?? '') + String.fromCharCode(code);
      },
      I_FRESH,
      D_FRESH,
      SERVER_PORTS,
    );
    if (classifier !== undefined) api.classifierAttach(this.engine, classifier);
    if (classify !== undefined)
      api.ring(
        this.engine,
        new Int32Array(classify.buffers.words),
        new Int32Array(classify.buffers.control),
        () => classify.onFull(),
      );
  }

  /** BulkReader: pcapng enhanced packet blocks from `off` on (see native/engine.c js_pcapng). */
  pcapng(
    buf: Uint8Array,
    off: number,
    end: number,
    le: boolean,
    ifaces: Float64Array,
    maxPacketBytes: number,
    frame: number,
  ): number {
    const used = this.api.pcapng(this.engine, buf, off, end, le ? 1 : 0, ifaces, maxPacketBytes, frame);
    this.packets = this.S[S_PACKETS]!;
    this.bytes = this.S[S_BYTES]!;
    return used;
  }

  /** BulkReader: pcap records from `off` on (see native/engine.c js_pcap). */
  pcap(
    buf: Uint8Array,
    off: number,
    end: number,
    le: boolean,
    nsec: boolean,
    snaplen: number,
    linkType: number,
    maxPacketBytes: number,
    frame: number,
  ): number {
    const used = this.api.pcap(
      this.engine,
      buf,
      off,
      end,
      le ? 1 : 0,
      nsec ? 1 : 0,
      snaplen,
      linkType,
      maxPacketBytes,
      frame,
    );
    this.packets = this.S[S_PACKETS]!;
    this.bytes = this.S[S_BYTES]!;
    return used;
  }

  /** BulkReader: a regular file read ahead by the engine's thread (native/readahead.c), eight buffers in turn. */
  readAhead(fd: number, chunk: number): ReadAheadSource | undefined {
    const api = this.api;
    // One area, the buffers one after the other from a 2 MiB boundary: the thread asks for huge pages there
    // (readahead.c js_read_ahead; docs/benchmarks.md, part 7, round 9).
    const area = new Uint8Array(READ_AHEAD_BUFFERS * chunk + HUGE_PAGE);
    const at = api.hugeAlign(area);
    const bufs = Array.from({ length: READ_AHEAD_BUFFERS }, (_, i) =>
      area.subarray(at + i * chunk, at + (i + 1) * chunk),
    );
    let r: object;
    try {
      r = api.readAhead(fd, bufs, this.engine);
    } catch {
      return undefined; // no thread: the reader reads in this thread
    }
    let k = 0;
    let stopped = false;
    return {
      next: () => {
        const n = api.readAheadNext(r);
        if (n <= 0) return n === 0 ? bufs[0]!.subarray(0, 0) : n;
        const b = bufs[k++ % bufs.length]!;
        return n === chunk ? b : b.subarray(0, n);
      },
      // `bufs` stays referenced until then: the thread writes into them.
      stop: () => {
        if (stopped) return;
        stopped = true;
        api.readAheadStop(r);
        bufs.length = 0;
      },
    };
  }

  observe(pkt: DecodedTcp, tsSec: number, tsNsec: number, frame: number): void {
    const P = this.P;
    P[0] = pkt.ipVersion;
    // The key's words, as flow-key.ts reads them (IPv4: words 1–3 are 0).
    const v6 = pkt.ipVersion === 6;
    for (let i = 0; i < 4; i++) {
      P[1 + i] = v6 || i === 0 ? word32(pkt.src, 4 * i) : 0;
      P[5 + i] = v6 || i === 0 ? word32(pkt.dst, 4 * i) : 0;
    }
    P[9] = pkt.srcPort;
    P[10] = pkt.dstPort;
    P[11] = pkt.seq;
    P[12] = pkt.ack;
    P[13] = pkt.flags;
    P[14] = pkt.window;
    P[15] = pkt.payloadLen;
    P[16] = pkt.ttl;
    P[17] = pkt.ipId;
    P[18] = pkt.mss;
    P[19] = pkt.wscale;
    P[20] = pkt.sackPermitted ? 1 : 0;
    P[21] = pkt.hasTimestamps ? 1 : 0;
    P[22] = pkt.tsVal;
    this.api.observe(this.engine, P, tsSec, tsNsec, frame);
  }

  /** What the frames the engine decoded add to the per-packet counts. */
  counts(): BulkCounts {
    const S = this.S;
    return {
      tcp: S[S_TCP]!,
      first: S[S_FIRST]!,
      last: S[S_LAST]!,
      truncated: S[S_TRUNCATED]!,
      malformed: S[S_MALFORMED]!,
      rsts: S[S_RSTS]!,
      rstIpv4: S[S_RST4]!,
      rstIpv6: S[S_RST6]!,
      rstAck: S[S_RST_ACK]!,
      rstBare: S[S_RST_BARE]!,
      decodedAhead: S[S_AHEAD]!,
    };
  }

  async finish(): Promise<FlowResult> {
    try {
      this.api.drain(this.engine);
    } catch (err) {
      this.abort();
      throw err;
    }
    const left = this.T[T_LEFT]!;
    const evicted = this.T[T_EVICTED]!;
    this.tallies = this.readTallies();
    // Everything has left the engine: its memory goes now, not when the collector gets to it.
    this.api.destroy(this.engine);
    return this.finishSide(left, evicted);
  }

  /** The engine's RST tallies as analyze.ts's own (aggregate.ts), addresses named as it names them. */
  private readTallies(): RstTallies {
    const { api, engine } = this;
    const read = (which: number): Float64Array => {
      const out = new Float64Array(api.tallies(engine, which));
      api.tallies(engine, which, out);
      return out;
    };
    const names = new AddressNames();
    const counter = (which: number): BoundedCounter => {
      const t = read(which);
      const pair = which === 2;
      const stride = pair ? 10 : 6;
      const entries: [string, number][] = [];
      for (let at = 0; at + stride < t.length; at += stride) {
        const v = t[at]!;
        const a = names.name(v, t[at + 1]!, t[at + 2]!, t[at + 3]!, t[at + 4]!);
        entries.push([
          pair ? `${a} → ${names.name(v, t[at + 5]!, t[at + 6]!, t[at + 7]!, t[at + 8]!)}` : a,
          t[at + stride - 1]!,
        ]);
      }
      return BoundedCounter.of(this.bounds.maxTalkers, entries, t[t.length - 1]!);
    };
    const s = read(3);
    const buckets: [number, number][] = [];
    for (let at = 0; at + 2 < s.length; at += 2) buckets.push([s[at]!, s[at + 1]!]);
    return {
      senders: counter(0),
      receivers: counter(1),
      pairs: counter(2),
      perSecond: SecondsHistogram.of(this.bounds.maxSeconds, buckets, s[s.length - 1]!),
    };
  }

  /** Reading failed: the engine's memory is freed and the classification worker, if any, stops. */
  abort(): void {
    this.api.destroy(this.engine);
    this.abortSide();
  }
}

/**
 * The classification worker's end of things (classify-worker.ts), as NativeFlows uses it. The worker is
 * started without waiting for it: reading begins at once and the items wait in the ring (a table fills before
 * its first connection leaves). Should the worker never start, this thread takes the items itself (`fallback`)
 * — nothing was consumed yet, so nothing is lost but the second core.
 */
export interface ClassifyChannel {
  buffers: ItemRingBuffers;
  writer: ItemWriter;
  /** Called when an item does not fit: waits for the worker to start, or takes the items here. */
  onFull(): void;
  /** After the END item: the result, from the worker or from this thread. */
  result(): Promise<FlowResult>;
  abort(): void;
}

/** How long a full ring waits for the worker to start before this thread takes the items itself. */
const WORKER_START_MS = 3_000;
/** Who takes the items (the `claim` word): nobody yet, the worker, this thread. */
const CLAIM_NONE = 0;
const CLAIM_WORKER = 1;
const CLAIM_HERE = 2;

/** Starts the classification worker (undefined: not the compiled build, no worker file to start). */
export function startClassifyWorker(
  opts: FlowAnalysisOptions,
  test: { ringWords?: number; workerUrl?: URL } = {},
): ClassifyChannel | undefined {
  const url = test.workerUrl ?? CLASSIFY_URL;
  if (url === undefined) return undefined;
  // The one the CLI started ahead (prestart.ts), unless a test asks for its own ring or worker.
  const pre = test.workerUrl === undefined && test.ringWords === undefined ? takePrestarted() : undefined;
  const classifyItems = pre?.buffers ?? newItemRingBuffers(test.ringWords ?? CLASSIFY_RING_WORDS);
  // Claimed once, by compare-and-exchange: by the worker when it is ready, or by this thread when it gave
  // up waiting — never both, so no item is taken twice.
  const claim = new Int32Array(pre?.claim ?? new SharedArrayBuffer(4));
  const data: ClassifyWorkerData = { classifyItems, opts, claim: claim.buffer as SharedArrayBuffer };
  let worker: Worker | undefined;
  const done = new Promise<FlowResult>((resolve, reject) => {
    if (pre?.ended !== undefined) {
      reject(pre.ended);
      return;
    }
    try {
      // A larger young generation: the classification allocates short-lived objects per connection, and
      // fewer scavenges took ~0.1 s off the 1 GB benchmark capture (docs/benchmarks.md, part 7, round 4).
      worker =
        pre?.worker ??
        new (workerThreads().Worker)(url, {
          workerData: data,
          resourceLimits: { maxYoungGenerationSizeMb: 48 },
        });
    } catch (err) {
      reject(err);
      return;
    }
    worker.on('message', (m: ClassifyWorkerMessage) => {
      if (m.ok) resolve(m.result);
      else reject(new Error(`the classification worker failed: ${m.error}`));
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the classification worker exited (code ${code}) early`)));
    // Started ahead without its options: they go now (it claims the ring once it has them).
    if (pre !== undefined) worker.postMessage({ opts } satisfies ClassifyWorkerOptions);
  });
  let settled = false;
  done
    .catch(() => {
      // One that had claimed the items closes the ring: a writer waiting for room then throws.
      if (Atomics.load(claim, 0) === CLAIM_WORKER) new ItemReader(classifyItems).close();
    })
    .finally(() => {
      settled = true;
    });
  let local: ItemConsumer | undefined;
  /** This thread takes the items, if the worker has not claimed them. */
  const takeHere = (): boolean => {
    if (local !== undefined) return true;
    if (Atomics.compareExchange(claim, 0, CLAIM_NONE, CLAIM_HERE) !== CLAIM_NONE) return false;
    void worker?.terminate();
    local = new ItemConsumer(new ItemReader(classifyItems), opts);
    return true;
  };
  const writer = new ItemWriter(classifyItems, new Int32Array(new SharedArrayBuffer(4)), 0);
  return {
    buffers: classifyItems,
    writer,
    onFull: () => {
      if (local === undefined && Atomics.load(claim, 0) === CLAIM_NONE) {
        // Blocked in the engine, this thread sees no message from the worker: it waits on shared memory.
        if (!settled) Atomics.wait(claim, 0, CLAIM_NONE, WORKER_START_MS);
        takeHere();
      }
      local?.drain();
    },
    result: async () => {
      try {
        if (local === undefined && Atomics.load(claim, 0) === CLAIM_NONE) {
          // Not started yet: wait for its claim or its end, whichever comes first.
          await new Promise<void>((resolve) => {
            const poll = setInterval(() => {
              if (settled || Atomics.load(claim, 0) !== CLAIM_NONE) {
                clearInterval(poll);
                resolve();
              }
            }, 2);
          });
          takeHere();
        }
        if (local !== undefined) {
          local.drain();
          return local.result();
        }
        return await done;
      } finally {
        void worker?.terminate();
      }
    },
    abort: () => {
      // A worker classifying in native code (native-classify.ts) sees no terminate(): the closed ring stops
      // it (one that claims the ring later finds it closed).
      new ItemReader(classifyItems).close();
      void worker?.terminate();
    },
  };
}
