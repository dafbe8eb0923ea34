/**
 * The analyze pipeline: readCapture → decodeFrame → FlowTable → classifyResets → AnalysisReport.
 *
 * One pass over the capture. Per packet: decode into one reused DecodedTcp and hand it to the connection
 * side (flow-analysis.ts: flow table, context, classification); per RST packet only, count it by IP
 * version, flags, direction, sender, receiver and second. Every per-key tally is bounded
 * (src/analyze/aggregate.ts), so memory does not grow with the capture (limits: docs/benchmarks.md,
 * "Capture analysis (part 7)").
 *
 * On a large input the connection side runs in a worker thread (flow-worker.ts) fed through a shared ring
 * (packet-ring.ts): reading and decoding on one core, connection tracking on the other. The result is the
 * same either way; only the compiled build can start the worker (the TypeScript sources run in-process).
 *
 * The report is plain data; src/report/json.ts and src/report/text.ts render it.
 */

import { fstatSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { v8 } from '../internal/builtins.js';
import { RstwatchError } from '../internal/errors.js';
import { decodeFrameAt } from '../packet/decode.js';
import { readCapture } from '../packet/reader.js';
import { newDecodedTcp, type PacketRecord, TCP } from '../packet/types.js';
import { word } from './addr.js';
import { DEFAULT_MAX_SECONDS, RstTalkers, type RstTallies, type RstTally } from './aggregate.js';
import { DEFAULT_MAX_HELD_CONNECTIONS } from './flow-analysis.js';
import { type FlowSink, localSink, workerSink } from './flow-sink.js';
import { NativeFlows, nativeEngine, nativeEngineError, startClassifyWorker } from './native.js';
import { autoParallel, discardPrestarted, PARALLEL_MIN_BYTES } from './prestart.js';
import type { AnalysisReport } from './report-types.js';

export type { CauseSummary, Counted } from './aggregate.js';
export { DEFAULT_MAX_HELD_CONNECTIONS } from './flow-analysis.js';
export type { AnalysisReport, Finding, ReportedConnection, ReportedReset } from './report-types.js';

/** Distinct keys kept per top-talker list (senders, receivers, pairs) before the smallest are dropped. */
export const DEFAULT_MAX_TALKERS = 50_000;
// When the second thread is worth starting: prestart.ts, where the CLI decides it early too.
export { autoParallel, PARALLEL_MIN_BYTES };

export interface AnalyzeOptions {
  maxFlows?: number;
  /** Length of the top-talker lists (default 10). */
  top?: number;
  /** Most connections listed in full (default 1000); the rest are counted. */
  maxConnections?: number;
  /** Connections with resets held for classification at the end (default DEFAULT_MAX_HELD_CONNECTIONS). */
  maxHeldConnections?: number;
  /** Distinct keys per top-talker list (default DEFAULT_MAX_TALKERS). */
  maxTalkers?: number;
  /**
   * Sources, receivers and pairs the capture-wide context keeps (scans, floods, backscatter; default 50,000),
   * and finding groups (default 4096), before the lightest are dropped: bounds for memory, small in tests.
   */
  maxContextKeys?: number;
  maxFindingGroups?: number;
  /** Distinct seconds the timeline counts before its buckets widen (default DEFAULT_MAX_SECONDS). */
  maxSeconds?: number;
  /** Most timeline buckets (default 600); the bucket width grows to fit. */
  maxBuckets?: number;
  /** Name of the source in the report (default: the path, or "-" for a descriptor or a stream). */
  name?: string;
  /** Bytes read from the source so far (compressed bytes for .gz), at most once per chunk (progress bar). */
  onProgress?: (bytesRead: number) => void;
  /**
   * Track connections in a worker thread: 'auto' (default) for a stream or a file of PARALLEL_MIN_BYTES or
   * more when the process may use two CPUs or more (autoParallel), true/false to force. Only the compiled
   * build has a worker to start; from the TypeScript sources
   * the analysis always runs in-process.
   */
  parallel?: boolean | 'auto';
  /** Size of the ring that feeds the worker, in records (a power of two; default RING_RECORDS): for tests. */
  ringRecords?: number;
  /**
   * For tests of the native engine's classification worker: its ring's size in words (a power of two, at
   * least 4096) and another file to start (one that fails: the reading thread then classifies).
   */
  classifyWorker?: { ringWords?: number; workerUrl?: URL };
  /** Stops reading when aborted; the report covers what was read (E_CAPTURE_INTERRUPTED, partial). */
  signal?: AbortSignal;
  /**
   * Which flow tracker: 'auto' (default) the native engine when it is built (native.ts), else TypeScript;
   * 'native' the engine or an error (E_ENGINE_UNAVAILABLE); 'js' the TypeScript one (the reference: same
   * report, slower). With the native engine, `parallel` does not apply.
   */
  engine?: 'auto' | 'native' | 'js';
}

/**
 * The engine for `engine`: the native one (native.ts) for 'auto' when it is built, always for 'native'
 * (an error when it is not), never for 'js'.
 */
function chooseEngine(
  engine: AnalyzeOptions['engine'],
): NonNullable<ReturnType<typeof nativeEngine>> | undefined {
  if (engine === 'js') return undefined;
  const api = nativeEngine();
  if (api === undefined && engine === 'native')
    throw new RstwatchError(
      'E_ENGINE_UNAVAILABLE',
      `the native analysis engine cannot be used: ${nativeEngineError() ?? 'unknown reason'}; run npm run build (it needs a C compiler), or use --engine js`,
    );
  return api;
}

let heapGrowthLimited = false;
/**
 * Caps how far V8 lets the heap grow past the live data between two full collections (×2, V8's own choice
 * went up to ×4): the default growth made peak RSS 290 MB on a 1 GB capture and 207 MB with this, at the
 * same CPU time (docs/benchmarks.md, part 7). Process-wide and set once; a V8 flag read each time the heap
 * limit is recomputed. Called by analyzeCapture with the TypeScript engine, which runs in the CLI's own process
 * (the agent analyses in a child process: src/capture/manager.ts), never in a long-running one. Not with the
 * native engine: the flow records are native memory and its heap stays small (~25 MB), and loading node:v8
 * for it cost ~4 ms of every run.
 */
function limitHeapGrowth(): void {
  if (heapGrowthLimited) return;
  heapGrowthLimited = true;
  try {
    v8().setFlagsFromString('--heap-growing-percent=100');
  } catch {
    // an embedder that refuses V8 flags: only the peak RSS is higher
  }
}

/** The worker's file next to this one — only when this is the compiled build (a .js file). */
const WORKER_URL = import.meta.url.endsWith('.js') ? new URL('./flow-worker.js', import.meta.url) : undefined;

async function useWorker(
  source: string | number | NodeJS.ReadableStream,
  parallel: AnalyzeOptions['parallel'],
): Promise<boolean> {
  if (WORKER_URL === undefined || parallel === false) return false;
  if (parallel === true) return true;
  if (typeof source === 'object') return autoParallel(undefined, availableParallelism());
  try {
    const st = typeof source === 'string' ? await stat(source) : fstatSync(source);
    // A pipe or a FIFO: its size says nothing, it is a stream.
    return autoParallel(st.isFile() ? st.size : undefined, availableParallelism());
  } catch {
    return false; // the reader reports why it cannot open it
  }
}

/**
 * Reads and analyzes a capture (a path, an open file descriptor such as 0 for standard input, or a binary
 * stream). Never throws on bad input.
 */
export async function analyzeCapture(
  source: string | number | NodeJS.ReadableStream,
  opts: AnalyzeOptions = {},
): Promise<AnalysisReport> {
  const top = opts.top ?? 10;
  const flowOpts = {
    ...(opts.maxFlows !== undefined ? { maxFlows: opts.maxFlows } : {}),
    top,
    maxConnections: opts.maxConnections ?? 1000,
    maxHeldConnections: opts.maxHeldConnections ?? DEFAULT_MAX_HELD_CONNECTIONS,
    ...(opts.maxContextKeys !== undefined ? { maxContextKeys: opts.maxContextKeys } : {}),
    ...(opts.maxFindingGroups !== undefined ? { maxFindingGroups: opts.maxFindingGroups } : {}),
  };
  const maxTalkers = Math.max(1, Math.floor(opts.maxTalkers ?? DEFAULT_MAX_TALKERS));
  const maxSeconds = Math.max(1, Math.floor(opts.maxSeconds ?? DEFAULT_MAX_SECONDS));
  const engine = chooseEngine(opts.engine);
  if (engine === undefined) limitHeapGrowth();
  // With TypeScript's flow table, a second thread (when worth it: useWorker) runs the table (flow-worker.ts).
  // With the native engine it classifies (classify-worker.ts) only when asked (`parallel: true`): the engine
  // classifies in C in this thread as fast as two threads do, with less CPU and memory (docs/benchmarks.md,
  // part 7, round 7: 1 GB in 1.10 s against 1.14 s, 1.25 s of CPU against 1.60 s).
  const second =
    WORKER_URL !== undefined &&
    (engine !== undefined ? opts.parallel === true : await useWorker(source, opts.parallel));
  const native =
    engine !== undefined
      ? new NativeFlows(
          engine,
          flowOpts,
          { maxTalkers, maxSeconds },
          second ? startClassifyWorker(flowOpts, opts.classifyWorker) : undefined,
        )
      : undefined;
  // A worker the CLI started ahead (prestart.ts) that this analysis did not take: stopped.
  discardPrestarted();
  // The top talkers and the timeline: kept by the native engine (it sees most RSTs itself, and is told of
  // those TypeScript decodes), else here.
  const talkers = native === undefined ? new RstTalkers(maxTalkers, maxSeconds) : undefined;
  const tallyRst: RstTally = talkers?.add ?? (native as NativeFlows).tallyRst;
  const sink: FlowSink =
    native ??
    (second && WORKER_URL !== undefined
      ? await workerSink(WORKER_URL, flowOpts, opts.ringRecords)
      : localSink(flowOpts));
  const pkt = newDecodedTcp();
  const skips: Record<string, number> = {};
  let tcp = 0;
  // First and last packet time in an object, not in two `let`s: a double stored in a closure's variable is a
  // new heap number per packet, a double field of an object is updated in place.
  const span = { first: Number.POSITIVE_INFINITY, last: Number.NEGATIVE_INFINITY };
  const s = {
    rsts: 0,
    rstIpv4: 0,
    rstIpv6: 0,
    rstAck: 0,
    rstBare: 0,
    rstInbound: 0,
    rstOutbound: 0,
    rstDirectionUnknown: 0,
  };

  const onPacket = (rec: PacketRecord): void => {
    const t = rec.tsSec + rec.tsNsec / 1e9;
    if (t < span.first) span.first = t;
    if (t > span.last) span.last = t;
    const skip = decodeFrameAt(rec.linkType, rec.buf, rec.dataOffset, rec.dataOffset + rec.caplen, pkt);
    if (skip !== undefined) {
      skips[skip] = (skips[skip] ?? 0) + 1;
      return;
    }
    tcp++;
    sink.observe(pkt, rec.tsSec, rec.tsNsec, rec.frame);
    if ((pkt.flags & TCP.RST) === 0) return;
    s.rsts++;
    if (pkt.ipVersion === 6) s.rstIpv6++;
    else s.rstIpv4++;
    if ((pkt.flags & TCP.ACK) !== 0) s.rstAck++;
    else s.rstBare++;
    const dir = pkt.direction || rec.direction;
    if (dir === 1) s.rstInbound++;
    else if (dir === 2) s.rstOutbound++;
    else s.rstDirectionUnknown++;
    const a = pkt.src;
    const b = pkt.dst;
    tallyRst(
      pkt.ipVersion,
      word(a, 0),
      word(a, 4),
      word(a, 8),
      word(a, 12),
      word(b, 0),
      word(b, 4),
      word(b, 8),
      word(b, 12),
      rec.tsSec,
    );
  };
  let summary: Awaited<ReturnType<typeof readCapture>>;
  try {
    summary = await readCapture(source, onPacket, {
      onProgress: opts.onProgress,
      ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
      ...(native !== undefined ? { bulk: native } : {}),
    });
  } catch (err) {
    sink.abort();
    throw err;
  }
  const flow = await sink.finish();
  const talk: RstTallies | undefined = talkers ?? native?.tallies;
  if (talk === undefined) throw new Error('the native engine ended without its RST tallies');
  const { senders, receivers, pairs, perSecond } = talk;
  if (native !== undefined) {
    // The frames the engine decoded itself, counted there as onPacket counts the others.
    const c = native.counts();
    tcp += c.tcp;
    if (c.first < span.first) span.first = c.first;
    if (c.last > span.last) span.last = c.last;
    if (c.truncated > 0) skips.truncated = (skips.truncated ?? 0) + c.truncated;
    if (c.malformed > 0) skips.malformed = (skips.malformed ?? 0) + c.malformed;
    s.rsts += c.rsts;
    s.rstIpv4 += c.rstIpv4;
    s.rstIpv6 += c.rstIpv6;
    s.rstAck += c.rstAck;
    s.rstBare += c.rstBare;
    // Classic pcap over Ethernet says nothing of direction (pcapng's EPB flags and SLL do; the engine
    // leaves those frames to onPacket).
    s.rstDirectionUnknown += c.rsts;
  }

  let drops: number | null = null;
  for (const i of summary.interfaces) {
    if (i.ifDrop !== undefined || i.osDrop !== undefined)
      drops = (drops ?? 0) + (i.ifDrop ?? 0) + (i.osDrop ?? 0);
  }

  const { first, last } = span;
  const hasTime = Number.isFinite(first);
  return {
    source: opts.name ?? (typeof source === 'string' ? source : '-'),
    capture: {
      format: summary.format,
      variant: summary.variant,
      partial: summary.partial,
      bytes: summary.bytes,
      problems: summary.problems,
      interfaces: summary.interfaces.length,
      drops,
    },
    summary: {
      packets: summary.packets,
      tcpSegments: tcp,
      decodeSkips: Object.fromEntries(Object.entries(skips).sort()),
      firstTime: hasTime ? first : null,
      lastTime: hasTime ? last : null,
      durationSec: hasTime ? Math.max(0, last - first) : 0,
      connections: flow.connections,
      connectionsWithResets: flow.connectionsWithResets,
      flowsEvicted: flow.flowsEvicted,
      ...s,
      rstFromOrig: flow.rstFromOrig,
      rstFromResp: flow.rstFromResp,
      classifiedEarly: flow.classifiedEarly,
      topApproximate: senders.dropped + receivers.dropped + pairs.dropped > 0 || flow.approximate,
    },
    causes: flow.causes,
    top: {
      senders: senders.top(top),
      receivers: receivers.top(top),
      ports: flow.ports,
      pairs: pairs.top(top),
    },
    timeline: perSecond.timeline(opts.maxBuckets ?? 600),
    findings: flow.findings,
    connections: flow.listed,
    connectionsOmitted: flow.connectionsOmitted,
  };
}
