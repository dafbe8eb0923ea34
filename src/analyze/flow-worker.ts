/**
 * The flow worker: runs the flow table (flows.ts) on the segments the reading thread decodes into a shared
 * ring (packet-ring.ts), and hands every connection that leaves the table back through a second ring
 * (item-ring.ts) to the reading thread, which keeps the capture-wide context and classifies the resets
 * (flow-analysis.ts ConnectionSide). Splitting there balances the two threads: the table is most of the
 * work (docs/benchmarks.md, part 7).
 *
 * Items, in the order the connections leave: ATTEMPT (a connection without resets that was a failed
 * attempt: its addresses, port and start), HELD (a connection with resets: its record and RSTs, held.ts),
 * and END (the number of connections and evictions) once the packet ring is closed. Each of the first two
 * starts with the number of connections that had left before it, so that the reading thread counts the
 * others without an item each.
 *
 * Started by analyze.ts (flow-sink.ts) with workerData { ring, items, maxFlows }; posts { ready: true } once
 * its modules are loaded, and one message at the end, { ok: true } or { ok: false, error } (after marking
 * the packet ring failed, so that a waiting reading thread stops instead of hanging).
 */

import { parentPort, workerData } from 'node:worker_threads';
import { newDecodedTcp } from '../packet/types.js';
import { FlowTable, type QuietConnection } from './flows.js';
import { serializeFlow } from './held.js';
import { ITEM_ATTEMPT, ITEM_END, ITEM_HELD, Item, type ItemRingBuffers, ItemWriter } from './item-ring.js';
import { type RingBuffers, RingReader, wakeWord } from './packet-ring.js';

export interface FlowWorkerData {
  ring: RingBuffers;
  items: ItemRingBuffers;
  /** The flow table's size (--max-flows); undefined: the default. */
  maxFlows: number | undefined;
}

/** The first message says the worker's modules loaded; the last one how it ended. */
export type FlowWorkerMessage = { ready: true } | { ok: true } | { ok: false; error: string };

function run(data: FlowWorkerData): FlowWorkerMessage {
  const reader = new RingReader(data.ring);
  reader.registerThread();
  try {
    const [wake, wakeIndex] = wakeWord(data.ring);
    const items = new ItemWriter(data.items, wake, wakeIndex);
    const item = new Item();
    const words = new Int32Array(8);
    let left = 0;
    const table = new FlowTable({
      ...(data.maxFlows !== undefined ? { maxFlows: data.maxFlows } : {}),
      onQuietConnection: (q: QuietConnection) => {
        // ContextBuilder.addQuiet's test, made here: only failed attempts matter to the context.
        if (q.origSyns > 0 && q.connState === 'S0') {
          q.addressWords(true, words, 0);
          q.addressWords(false, words, 4);
          item.clear().int(left).int(q.ipVersion).ints(words, 0, 8).int(q.respPort).double(q.startTime);
          items.push(ITEM_ATTEMPT, item);
        }
        left++;
      },
      onResetFlow: (store, slot, why, pool) => {
        serializeFlow(store, slot, why, pool, item);
        item.int(left);
        items.push(ITEM_HELD, item);
        left++;
      },
    });
    reader.drain(newDecodedTcp(), table.key, (pkt, tsSec, tsNsec, frame) =>
      table.observeKeyed(pkt, tsSec, tsNsec, frame),
    );
    table.drain();
    items.push(ITEM_END, item.clear().int(left).double(table.stats.evicted));
    return { ok: true };
  } catch (err) {
    reader.fail();
    return { ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
  }
}

// Only as the flow worker itself: flow-sink.ts imports this module for its constants, and analyze.ts may be
// imported in any worker thread (an embedding, the fuzzer's workers), whose workerData is someone else's.
const started = workerData as Partial<FlowWorkerData> | null | undefined;
if (parentPort !== null && started?.ring !== undefined && started.items !== undefined) {
  parentPort.postMessage({ ready: true } satisfies FlowWorkerMessage);
  parentPort.postMessage(run(workerData as FlowWorkerData));
}
