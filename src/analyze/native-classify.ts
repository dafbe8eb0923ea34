/**
 * The classification worker's native path: the connection side (flow-analysis.ts ConnectionSide) run by
 * native/classify.c on the item ring, then its result made into the same FlowResult as TypeScript's — the
 * text (causes' examples, findings, the listed connections with their evidence) made here from what the
 * classifier hands back.
 *
 * Why (docs/benchmarks.md, part 7, round 7): the worker spent most of its time moving each connection out of
 * the ring into objects; the classifier reads them where they lie. The same report either way
 * (test/unit/native-engine.test.ts compares them on random captures with tiny bounds).
 */

import { AddressNames } from './addr-cache.js';
import { byCauseOrder, type CauseSummary, type FindingGroup, topGroupsOf, topPortsOf } from './aggregate.js';
import {
  type BackscatterPair,
  CAUSE_TITLE,
  CAUSE_TOPIC,
  CAUSES,
  type ClassifiedReset,
  type ClassifyContext,
  type Confidence,
  type FloodTarget,
  fmtEp,
  type ScanSource,
} from './causes.js';
import { findings, reportConnections } from './findings.js';
import {
  DEFAULT_MAX_HELD_CONNECTIONS,
  explainHeld,
  type FlowAnalysisOptions,
  type FlowResult,
} from './flow-analysis.js';
import { HeldConnections } from './held.js';
import { Item, ItemCursor, type ItemRingBuffers } from './item-ring.js';
import { ResetPool } from './reset-pool.js';
import { newClassifiedReset } from './rules.js';
import type { Connection } from './types.js';

/** What native/engine.c exports for the classifier (native/classify.c). */
export interface ClassifierApi {
  classifier(options: Float64Array, serverPorts: Uint8Array): object;
  classifierRun(classifier: object, words: Int32Array, control: Int32Array): boolean;
  classifierExport(classifier: object, which: number): Float64Array;
  classifierDestroy(classifier: object): void;
  /** The engine classifies the connections leaving its table itself, in its thread. */
  classifierAttach(engine: object, classifier: object): void;
  /** One item (flow-worker.ts ITEM_*) written by TypeScript: a connection whose history spilled, the end. */
  classifierTake(classifier: object, kind: number, words: Int32Array, length: number): void;
}

const CONFIDENCES: readonly Confidence[] = ['certain', 'likely', 'possible'];
/** Default bounds as the TypeScript classes have them (causes.ts ContextBuilder.MAX_KEYS, ResetTally). */
const DEFAULT_CONTEXT_KEYS = 50_000;
const DEFAULT_FINDING_GROUPS = 4096;

/** The bounds the classifier takes: whole numbers, as the TypeScript comparisons see them (else undefined). */
function bounds(opts: FlowAnalysisOptions): Float64Array | undefined {
  const b = Float64Array.of(
    Math.max(0, opts.maxConnections ?? 1000),
    Math.max(1, opts.maxHeldConnections ?? DEFAULT_MAX_HELD_CONNECTIONS),
    opts.maxContextKeys ?? DEFAULT_CONTEXT_KEYS,
    opts.maxFindingGroups ?? DEFAULT_FINDING_GROUPS,
  );
  // The listed may be none; the held, the context's keys and the groups are at least one in native code.
  for (let i = 0; i < b.length; i++) {
    const x = b[i]!;
    if (!Number.isInteger(x) || x < (i === 0 ? 0 : 1) || x > 2 ** 30) return undefined;
  }
  return b;
}

/** Whether the classifier can take these options (else the TypeScript consumer does). */
export function nativeClassifierFits(opts: FlowAnalysisOptions): boolean {
  return bounds(opts) !== undefined;
}

/** A classifier for these options (nativeClassifierFits), to be destroyed by the caller. */
export function newClassifier(
  api: ClassifierApi,
  opts: FlowAnalysisOptions,
  serverPorts: Uint8Array,
): object {
  const b = bounds(opts);
  if (b === undefined) throw new Error('the native classifier takes whole-number bounds only');
  return api.classifier(b, serverPorts);
}

/**
 * Takes the ring's items until the END item with the native classifier (blocking this thread, the
 * worker's), and returns the connection side's result. Throws when the ring is closed before the end.
 */
export function classifyNatively(
  api: ClassifierApi,
  ring: ItemRingBuffers,
  opts: FlowAnalysisOptions,
  serverPorts: Uint8Array,
): FlowResult {
  const k = newClassifier(api, opts, serverPorts);
  try {
    api.classifierRun(k, new Int32Array(ring.words), new Int32Array(ring.control));
    return classifierResult(api, k, opts);
  } finally {
    api.classifierDestroy(k);
  }
}

/**
 * The listed connections of export 7 (each its length, then its item words), made into connections and
 * classified with their evidence against `ctx`.
 */
function explain(
  listed: Float64Array,
  names: AddressNames,
  ctx: ClassifyContext,
): { conns: Connection[]; classified: ClassifiedReset[] } {
  const store = new HeldConnections(new ResetPool(), names);
  const item = new Item();
  const cursor = new ItemCursor();
  const conns: Connection[] = [];
  const classified: ClassifiedReset[] = [];
  const scratch = newClassifiedReset();
  for (let at = 0; at < listed.length; ) {
    const n = listed[at]!;
    // Copied by set() into one array: V8 converts the doubles in C++ (Int32Array.from of a view went through
    // the iterator, ~12 ms for 1000 connections; a loop here, run cold, ~17 ms).
    if (item.words.length < n) item.words = new Int32Array(Math.max(n, 2 * item.words.length));
    item.words.set(listed.subarray(at + 1, at + 1 + n));
    item.length = n;
    at += 1 + n;
    explainHeld(store, store.deserialize(cursor.reset(item)), ctx, scratch, conns, classified);
  }
  return { conns, classified };
}

/** The classifier's export `which` (native/classify.c js_classifier_export) read as records of `n` numbers. */
function* records(x: Float64Array, n: number): Generator<number> {
  for (let at = 0; at + n <= x.length; at += n) yield at;
}

/** The connection side's result, once the classifier took the END item (its text made here). */
export function classifierResult(api: ClassifierApi, k: object, opts: FlowAnalysisOptions): FlowResult {
  const names = new AddressNames();
  const addr = (x: Float64Array, at: number): string =>
    names.name(x[at]!, x[at + 1]!, x[at + 2]!, x[at + 3]!, x[at + 4]!);
  const top = opts.top ?? 10;
  const [
    connections = 0,
    withResets = 0,
    flowsEvicted = 0,
    fromOrig = 0,
    resets = 0,
    classifiedEarly = 0,
    dropped = 0,
    groupsDropped = 0,
    contextEvicted = 0,
  ] = api.classifierExport(k, 0);

  // The capture-wide context, as ContextBuilder.build() makes it.
  const ctx: ClassifyContext = { scanners: new Map(), floods: new Map(), backscatter: new Map() };
  const sc = api.classifierExport(k, 4);
  for (const at of records(sc, 12)) {
    const a = addr(sc, at);
    const s: ScanSource = {
      addr: a,
      targets: sc[at + 5]!,
      rstProbes: sc[at + 6]!,
      ports: sc[at + 7]!,
      hosts: sc[at + 8]!,
      peakTargetsInWindow: sc[at + 9]!,
      firstTime: sc[at + 10]!,
      lastTime: sc[at + 11]!,
    };
    ctx.scanners.set(a, s);
  }
  const fl = api.classifierExport(k, 5);
  for (const at of records(fl, 9)) {
    const a = addr(fl, at);
    const f: FloodTarget = {
      addr: a,
      rsts: fl[at + 5]!,
      sources: fl[at + 6]!,
      firstTime: fl[at + 7]!,
      lastTime: fl[at + 8]!,
    };
    ctx.floods.set(a, f);
  }
  const bs = api.classifierExport(k, 6);
  for (const at of records(bs, 12)) {
    const p: BackscatterPair = {
      sender: addr(bs, at),
      receiver: addr(bs, at + 5),
      packets: bs[at + 10]!,
      ports: bs[at + 11]!,
    };
    ctx.backscatter.set(`${p.sender}|${p.receiver}`, p);
  }

  // Causes, with their examples' labels (aggregate.ts connLabel).
  const causes: CauseSummary[] = [];
  const cs = api.classifierExport(k, 1);
  for (let at = 0; at < cs.length; ) {
    const cause = CAUSES[cs[at]!]!;
    const examples: string[] = [];
    const nex = cs[at + 5]!;
    for (let e = 0, x = at + 6; e < nex; e++, x += 13)
      examples.push(`${fmtEp(addr(cs, x + 1), cs[x + 6]!)} → ${fmtEp(addr(cs, x + 7), cs[x + 12]!)}`);
    causes.push({
      cause,
      title: CAUSE_TITLE[cause],
      topic: CAUSE_TOPIC[cause],
      count: cs[at + 1]!,
      byConfidence: { certain: cs[at + 2]!, likely: cs[at + 3]!, possible: cs[at + 4]! },
      examples,
    });
    at += 6 + nex * 13;
  }
  causes.sort(byCauseOrder);

  const ps = api.classifierExport(k, 2);
  const ports: [number, number][] = [];
  for (const at of records(ps, 2)) ports.push([ps[at]!, ps[at + 1]!]);

  // The finding groups, each with what findings.ts reads of its first reset.
  const gs = api.classifierExport(k, 3);
  const groups: FindingGroup[] = [];
  for (const at of records(gs, 27)) {
    const cause = CAUSES[gs[at]!]!;
    groups.push({
      count: gs[at + 1]!,
      conns: gs[at + 2]!,
      conf: CONFIDENCES[gs[at + 3]!]!,
      first: {
        cause,
        topic: CAUSE_TOPIC[cause],
        index: gs[at + 5]!,
        sender: addr(gs, at + 17),
        receiver: addr(gs, at + 22),
        conn: {
          id: gs[at + 4]!,
          origAddr: addr(gs, at + 6),
          respAddr: addr(gs, at + 11),
          respPort: gs[at + 16]!,
        },
      },
    });
  }

  // The listed connections, classified again here for their evidence (the tally counted them already).
  const { conns: listedConns, classified } = explain(api.classifierExport(k, 7), names, ctx);

  return {
    connections,
    connectionsWithResets: withResets,
    flowsEvicted,
    rstFromOrig: fromOrig,
    rstFromResp: resets - fromOrig,
    classifiedEarly,
    approximate: groupsDropped + contextEvicted + dropped > 0,
    causes,
    ports: topPortsOf(ports, top),
    findings: findings(topGroupsOf(groups, top), ctx),
    listed: reportConnections(listedConns, classified),
    connectionsOmitted: withResets - listedConns.length,
  };
}
