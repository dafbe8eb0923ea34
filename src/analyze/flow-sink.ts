/**
 * Where analyze.ts sends the decoded TCP segments: the flow table and connection side in this thread
 * (`localSink`), or the flow worker (`workerSink`): the table then runs in the worker (flow-worker.ts) while
 * this thread keeps reading and decoding, and takes the connections leaving the table back through the item
 * ring to classify them (flow-analysis.ts ConnectionSide) — the same result either way
 * (test/unit/analyze-parallel.test.ts).
 */

import type { Worker } from 'node:worker_threads';
import { workerThreads } from '../internal/builtins.js';
import type { DecodedTcp } from '../packet/types.js';
import { AddressNames } from './addr-cache.js';
import { ConnectionSide, FlowAnalysis, type FlowAnalysisOptions, type FlowResult } from './flow-analysis.js';
import type { FlowWorkerData, FlowWorkerMessage } from './flow-worker.js';
import { HeldConnections } from './held.js';
import { ITEM_ATTEMPT, ITEM_END, ITEM_HELD, ItemReader, newItemRingBuffers } from './item-ring.js';
import { newRingBuffers, RingWriter } from './packet-ring.js';
import { ResetPool } from './reset-pool.js';

export interface FlowSink {
  observe(pkt: DecodedTcp, tsSec: number, tsNsec: number, frame: number): void;
  /** No more segments: the connection side's result. */
  finish(): Promise<FlowResult>;
  /** Reading failed: stop the worker, if any. */
  abort(): void;
}

export function localSink(opts: FlowAnalysisOptions): FlowSink {
  const flows = new FlowAnalysis(opts);
  return {
    observe: (pkt, tsSec, tsNsec, frame) => flows.observe(pkt, tsSec, tsNsec, frame),
    finish: async () => flows.finish(),
    abort: () => undefined,
  };
}

/** Segments between two looks at the item ring while reading. */
const DRAIN_EVERY = 1024;

/**
 * The worker sink once its worker is running (`url`: the compiled flow-worker.js); the local sink when the
 * worker cannot start (nothing is lost but the second core). `ringRecords`: the packet ring's size
 * (default RING_RECORDS; tests use a small ring so that a small capture wraps it many times).
 */
export async function workerSink(
  url: URL,
  opts: FlowAnalysisOptions,
  ringRecords?: number,
): Promise<FlowSink> {
  const ring = newRingBuffers(ringRecords);
  const itemBuffers = newItemRingBuffers();
  const data: FlowWorkerData = { ring, items: itemBuffers, maxFlows: opts.maxFlows };
  let worker: Worker | undefined;
  let ready: () => void = () => undefined;
  let gone: Error | undefined;
  const done = new Promise<void>((resolve, reject) => {
    try {
      worker = new (workerThreads().Worker)(url, { workerData: data });
    } catch (err) {
      reject(err);
      return;
    }
    worker.on('message', (m: FlowWorkerMessage) => {
      if ('ready' in m) ready();
      else if (m.ok) resolve();
      else reject(new Error(`the flow worker failed: ${m.error}`));
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the flow worker exited (code ${code}) early`)));
  });
  done.catch((err: unknown) => {
    gone = err instanceof Error ? err : new Error(String(err));
  });
  // Until its modules are loaded, a worker that cannot start says so: then this thread does the work itself.
  const started = await Promise.race([
    new Promise<boolean>((resolve) => {
      ready = () => resolve(true);
    }),
    done.then(
      () => false,
      () => false,
    ),
  ]);
  if (!started || worker === undefined) {
    void worker?.terminate();
    return localSink(opts);
  }
  const w = worker;

  const items = new ItemConsumer(new ItemReader(itemBuffers), opts);
  const drain = (): boolean => items.drain();
  const reader = items.reader;

  const writer = new RingWriter(ring, drain);
  let sinceDrain = 0;
  return {
    observe: (pkt, tsSec, tsNsec, frame) => {
      writer.write(pkt, tsSec, tsNsec, frame);
      if (++sinceDrain === DRAIN_EVERY) {
        sinceDrain = 0;
        drain();
      }
    },
    finish: async () => {
      writer.close();
      try {
        // The worker empties its table now: take its connections until it says it is done.
        while (items.end === undefined) {
          if (drain()) continue;
          if (gone !== undefined) throw gone;
          if (writer.failed()) await done;
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
        await done;
        return items.result();
      } finally {
        reader.close();
        void w.terminate();
      }
    },
    abort: () => {
      writer.close();
      reader.close();
      void w.terminate();
    },
  };
}

/**
 * The connection side fed by items (flow-worker.ts ITEM_*): connections that left a flow table in another
 * thread — the flow worker's, for this thread, or this thread's native engine's, for the classification
 * worker (classify-worker.ts).
 */
export class ItemConsumer {
  private readonly names = new AddressNames();
  private readonly store: HeldConnections;
  private readonly side: ConnectionSide;
  private readonly words = new Int32Array(8);
  /** Set by the END item: how many connections left the table, how many were evicted. */
  end: { connections: number; evicted: number } | undefined;

  constructor(
    readonly reader: ItemReader,
    opts: FlowAnalysisOptions,
  ) {
    this.store = new HeldConnections(new ResetPool(), this.names);
    this.side = new ConnectionSide(this.store, opts);
  }

  /** Takes every item waiting; true if there was any. */
  drain(): boolean {
    const { reader, store, side, names, words } = this;
    let any = false;
    for (let kind = reader.next(); kind >= 0; kind = reader.next()) {
      any = true;
      if (kind === ITEM_HELD) {
        const before = reader.last();
        const h = store.deserialize(reader);
        reader.done();
        side.catchUp(before);
        side.held(h);
      } else if (kind === ITEM_ATTEMPT) {
        const before = reader.int();
        const v = reader.int();
        reader.ints(words, 0, 8);
        const respPort = reader.int();
        const startTime = reader.double();
        reader.done();
        side.catchUp(before);
        attemptFromWords(side, names, v, words, respPort, startTime);
      } else {
        if (kind === ITEM_END) this.end = { connections: reader.int(), evicted: reader.double() };
        reader.done();
      }
    }
    return any;
  }

  /** The result, once the END item came. */
  result(): FlowResult {
    if (this.end === undefined) throw new Error('the flow table has not ended');
    return this.side.finish(this.end.connections, this.end.evicted);
  }
}

/**
 * A failed attempt handed over as address words (originator's in words 0–3, responder's in 4–7): the item
 * of flow-worker.ts, or the native engine's record (native.ts).
 */
export function attemptFromWords(
  side: ConnectionSide,
  names: AddressNames,
  v: number,
  words: Int32Array,
  respPort: number,
  startTime: number,
): void {
  side.quietAttempt(
    names.name(v, words[0]!, words[1]!, words[2]!, words[3]!),
    names.name(v, words[4]!, words[5]!, words[6]!, words[7]!),
    respPort,
    startTime,
  );
}
