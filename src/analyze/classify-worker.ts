/**
 * The classification worker: with the native engine (native.ts), the reading thread reads, decodes and
 * tracks every segment in C, and hands each connection that leaves the table to this thread through the item
 * ring (item-ring.ts; the flow worker's items, flow-worker.ts ITEM_*), which keeps the capture-wide context
 * and classifies the resets (flow-analysis.ts ConnectionSide) — the other half of the work, on the other
 * core. The result is the same as in one thread (test/unit/native-engine.test.ts).
 *
 * Started by native.ts with workerData { classifyItems, opts, claim } — or ahead of the analysis by prestart.ts,
 * without `opts`, which then come in a message — claims the items before it takes any, then,
 * after the END item, posts { ok: true, result } (the connection side's plain-data result), or
 * { ok: false, error } after closing the ring (a producer waiting for room gives up instead of hanging).
 */

import { parentPort, workerData } from 'node:worker_threads';
import type { FlowAnalysisOptions, FlowResult } from './flow-analysis.js';
import { ItemConsumer } from './flow-sink.js';
import { SERVER_PORTS } from './flows.js';
import { ItemReader, type ItemRingBuffers } from './item-ring.js';
import { nativeEngine } from './native.js';
import { classifyNatively, nativeClassifierFits } from './native-classify.js';

export interface ClassifyWorkerData {
  classifyItems: ItemRingBuffers;
  opts: FlowAnalysisOptions;
  /**
   * One int32, claimed by compare-and-exchange (0 → 1) before this thread takes any item; the reading
   * thread claims it (0 → 2) when it gives up waiting, and then takes them itself (native.ts).
   */
  claim: SharedArrayBuffer;
}

export type ClassifyWorkerMessage = { ok: true; result: FlowResult } | { ok: false; error: string };

/** What a worker started ahead without options (prestart.ts) waits for before it claims the ring. */
export interface ClassifyWorkerOptions {
  opts: FlowAnalysisOptions;
}

function run(data: ClassifyWorkerData): ClassifyWorkerMessage {
  const reader = new ItemReader(data.classifyItems);
  try {
    const claim = new Int32Array(data.claim);
    if (Atomics.compareExchange(claim, 0, 0, 1) !== 0)
      return { ok: false, error: 'the reading thread took the connections (this worker started too late)' };
    // At once: a reading thread waiting for room in the ring looks this thread up (a worker that dies).
    reader.registerThread();
    Atomics.notify(claim, 0);
    // In native code when the engine loads here too (native-classify.ts): the same result, a fraction of the
    // time; else in TypeScript.
    const api = nativeEngine();
    if (api !== undefined && nativeClassifierFits(data.opts))
      return { ok: true, result: classifyNatively(api, data.classifyItems, data.opts, SERVER_PORTS) };
    const items = new ItemConsumer(reader, data.opts);
    // The engine does not wake this thread (native code cannot notify V8's waiters): it polls every
    // millisecond while the ring is empty — the table fills before connections leave it.
    while (items.end === undefined) if (!items.drain()) reader.wait(1);
    return { ok: true, result: items.result() };
  } catch (err) {
    // Only when this thread had claimed the items (it had, to get here past the claim).
    reader.close();
    return { ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
  }
}

// Only as the classification worker itself (this module may be imported elsewhere for its types).
const started = workerData as Partial<ClassifyWorkerData> | null | undefined;
if (parentPort !== null && started?.classifyItems !== undefined && started.claim !== undefined) {
  const port = parentPort;
  if (started.opts !== undefined) {
    port.postMessage(run(workerData as ClassifyWorkerData));
  } else {
    // Started ahead (prestart.ts): its modules are loaded by now; the options come when the analysis starts.
    port.once('message', (m: ClassifyWorkerOptions) => {
      port.postMessage(run({ ...(workerData as ClassifyWorkerData), opts: m.opts }));
    });
  }
}
