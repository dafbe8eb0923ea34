/**
 * The flow worker: runs the connection side of an analysis (flow-analysis.ts) on the segments the reading
 * thread decodes into a shared ring (packet-ring.ts), then posts the result back as plain data.
 *
 * Started by analyze.ts with workerData { ring, options }; answers one message, { ok: true, result } or
 * { ok: false, error } (a bug here must reach the caller as an error, not hang it: the ring is marked
 * failed first).
 */

import { parentPort, workerData } from 'node:worker_threads';
import { newDecodedTcp } from '../packet/types.js';
import { FlowAnalysis, type FlowAnalysisOptions, type FlowResult } from './flow-analysis.js';
import { type RingBuffers, RingReader } from './packet-ring.js';

export interface FlowWorkerData {
  ring: RingBuffers;
  options: FlowAnalysisOptions;
}

export type FlowWorkerMessage = { ok: true; result: FlowResult } | { ok: false; error: string };

function run(data: FlowWorkerData): FlowWorkerMessage {
  const reader = new RingReader(data.ring);
  try {
    const flows = new FlowAnalysis(data.options);
    reader.drain(newDecodedTcp(), flows.key, (pkt, tsSec, tsNsec, frame) =>
      flows.observeKeyed(pkt, tsSec, tsNsec, frame),
    );
    return { ok: true, result: flows.finish() };
  } catch (err) {
    reader.fail();
    return { ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
  }
}

if (parentPort !== null) parentPort.postMessage(run(workerData as FlowWorkerData));
