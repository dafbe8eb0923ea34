/**
 * The connection side of the analysis: every decoded TCP segment goes through the flow table; connections
 * leaving it feed the capture-wide context (scans, floods, backscatter), and those with resets are
 * classified — the first `maxConnections` by id with their evidence, the rest only counted, early when more
 * than maxConnections + maxHeldConnections wait (bounded memory; `classifiedEarly`).
 *
 * It runs in the analyzing thread or in a worker (flow-worker.ts); either way `finish()` returns plain data.
 */

import type { DecodedTcp } from '../packet/types.js';
import { type CauseSummary, type Counted, ResetTally } from './aggregate.js';
import { type ClassifiedReset, type ClassifyContext, ContextBuilder } from './causes.js';
import { findings, reportConnections } from './findings.js';
import { DEFAULT_MAX_FLOWS, FlowTable, type QuietConnection } from './flows.js';
import type { HeldConnections } from './held.js';
import type { Finding, ReportedConnection } from './report-types.js';
import { MAX_RESETS_PER_SIDE } from './reset-pool.js';
import { classifyConnection, newClassifiedReset } from './rules.js';
import type { Connection } from './types.js';

/**
 * Connections with resets held for classification at the end, beyond the `maxConnections` listed in full.
 * Past this, the older half (by id) is classified at once against the capture-wide context known so far (the
 * newer half and everything before, refreshed every CONTEXT_REFRESH connections: see `classifiedEarly`) and
 * only its counts are kept. A held connection is a ~600-byte copy of its flow record (held.ts).
 */
export const DEFAULT_MAX_HELD_CONNECTIONS = 4096;
/** Connections between two rebuilds of the context used for early classification. */
const CONTEXT_REFRESH = 16_384;

export interface FlowAnalysisOptions {
  maxFlows?: number;
  /** Length of the findings and top-port lists (default 10). */
  top?: number;
  /** Most connections listed in full (default 1000); the rest are counted. */
  maxConnections?: number;
  /** Connections with resets held for classification at the end (default DEFAULT_MAX_HELD_CONNECTIONS). */
  maxHeldConnections?: number;
  /** Sources, receivers and pairs the capture-wide context keeps (default ContextBuilder.MAX_KEYS). */
  maxContextKeys?: number;
  /** Finding groups kept before the smallest are dropped (default ResetTally's 4096). */
  maxFindingGroups?: number;
}

/** What the connection side contributes to the report (plain data: it may come from a worker). */
export interface FlowResult {
  connections: number;
  connectionsWithResets: number;
  flowsEvicted: number;
  rstFromOrig: number;
  rstFromResp: number;
  classifiedEarly: number;
  /** Finding groups or context keys were dropped to stay bounded. */
  approximate: boolean;
  causes: CauseSummary[];
  ports: Counted[];
  findings: Finding[];
  listed: ReportedConnection[];
  connectionsOmitted: number;
}

/** A classified reset the tally may keep (classifyConnection hands out one reused object). */
const copyOf = (r: ClassifiedReset): ClassifiedReset => ({ ...r });

/**
 * The connection side: the capture-wide context, the listing, holding and classification of connections
 * leaving a flow table, and the tallies of their resets. Fed by the table in the same thread (FlowAnalysis),
 * or by the reading thread from what the flow worker hands back (analyze.ts).
 */
export class ConnectionSide {
  private readonly top: number;
  private readonly maxListed: number;
  private readonly maxHeld: number;
  private readonly ctxb: ContextBuilder;
  private readonly tally: ResetTally;
  /**
   * Connections with resets: the `maxListed` of lowest id (listed in full, sorted), and the others held
   * until the end or until `maxHeld` of them make the older half be classified early (bounded memory). Both
   * are indices into the flow table's held store (held.ts): a Connection object is made only for the listed
   * ones, at the end, and for the first reset of each finding group.
   */
  private readonly store: HeldConnections;
  private readonly listed: number[] = [];
  private waiting: number[] = [];
  private withResets = 0;
  private classifiedEarly = 0;
  /** RSTs counted but not recorded (past MAX_RESETS_PER_SIDE on a side of a connection). */
  private dropped = 0;
  private connections = 0;
  /**
   * The context for early classification, rebuilt only after CONTEXT_REFRESH more connections (building it
   * walks every recorded attempt: rebuilding it per batch cost seconds on a scan of millions of probes).
   */
  private early: ClassifyContext | undefined;
  private earlyAt = 0;
  private readonly scratch = newClassifiedReset();
  /** The held connection being classified, and its Connection once the tally wanted one of its resets. */
  private current = -1;
  private currentConn: Connection | undefined;
  private readonly keepHeld = (r: ClassifiedReset): ClassifiedReset => {
    this.currentConn ??= this.store.materialize(this.current);
    return { ...r, conn: this.currentConn, reset: this.currentConn.resets[r.index]! };
  };
  private readonly countOnly = (r: ClassifiedReset) => this.tally.addOne(r, this.keepHeld);
  private readonly byHeldId = (x: number, y: number) => this.store.id(x) - this.store.id(y);

  /** `store`: where the held connections passed to held() live. */
  constructor(store: HeldConnections, opts: FlowAnalysisOptions = {}) {
    this.store = store;
    this.top = opts.top ?? 10;
    this.maxListed = Math.max(0, opts.maxConnections ?? 1000);
    this.maxHeld = Math.max(1, opts.maxHeldConnections ?? DEFAULT_MAX_HELD_CONNECTIONS);
    this.ctxb = new ContextBuilder(opts.maxContextKeys);
    this.tally = new ResetTally(opts.maxFindingGroups);
  }

  /**
   * Connections without resets only count and feed the scan context: the table hands them over as a view,
   * without building a Connection (most connections of a capture have no reset).
   */
  quiet(q: QuietConnection): void {
    this.connections++;
    this.ctxb.addQuiet(q);
  }

  /** A connection without resets that was a failed attempt (addQuiet's test, made by the flow worker). */
  quietAttempt(origAddr: string, respAddr: string, respPort: number, startTime: number): void {
    this.connections++;
    this.ctxb.addAttempt(origAddr, respAddr, respPort, startTime);
  }

  /**
   * Catches the connection count up with the flow worker: `n` connections had left its table before the one
   * handed over next (the others left without resets and without being attempts).
   */
  catchUp(n: number): void {
    this.connections = n;
  }

  /** A connection with resets, held at index `h` of the store. */
  held(h: number): void {
    const store = this.store;
    this.connections++;
    this.ctxb.add(store.contextView(h));
    this.withResets++;
    const id = store.id(h);
    const listed = this.listed;
    const lastListed = listed[listed.length - 1];
    if (listed.length < this.maxListed || (lastListed !== undefined && id < store.id(lastListed))) {
      let i = listed.length;
      while (i > 0 && store.id(listed[i - 1]!) > id) i--;
      listed.splice(i, 0, h);
      if (listed.length > this.maxListed) this.hold(listed.pop()!);
    } else {
      this.hold(h);
    }
  }

  private hold(h: number): void {
    const held = this.waiting;
    held.push(h);
    if (held.length < this.maxHeld) return;
    this.sortById(held);
    const older = held.slice(0, held.length >> 1);
    this.waiting = held.slice(older.length);
    if (this.early === undefined || this.connections - this.earlyAt >= CONTEXT_REFRESH) {
      this.early = this.ctxb.build();
      this.earlyAt = this.connections;
    }
    for (const x of older) this.classifyHeld(x, this.early);
    this.classifiedEarly += older.length;
  }

  /**
   * Sorts held indices by connection id, in place: as numbers id · 2^21 + index in a Float64Array (a native
   * numeric sort; a comparator that looks ids up was ~5 % of the time on a 1 GB capture). Ids below 2^32 and
   * indices below 2^21 keep the product exact; past that, the comparator.
   */
  private sortById(list: number[]): number[] {
    const span = 2 ** 21;
    const keys = new Float64Array(list.length);
    for (let i = 0; i < list.length; i++) {
      const h = list[i]!;
      const id = this.store.id(h);
      if (h >= span || id >= 2 ** 32) return list.sort(this.byHeldId);
      keys[i] = id * span + h;
    }
    keys.sort();
    for (let i = 0; i < list.length; i++) list[i] = keys[i]! % span;
    return list;
  }

  /** Classifies and counts held connection `h`, then lets it go. */
  private classifyHeld(h: number, ctx: ClassifyContext): void {
    const store = this.store;
    this.current = h;
    this.currentConn = undefined;
    const c = store.view(h);
    const dropO = store.dropped(h, true);
    const dropR = store.dropped(h, false);
    if (dropO + dropR === 0) {
      classifyConnection(c, ctx, false, this.scratch, this.countOnly);
    } else {
      // RSTs past what a side records count with that side's last recorded one (its first is always kept).
      this.dropped += dropO + dropR;
      let lastO: ClassifiedReset | undefined;
      let lastR: ClassifiedReset | undefined;
      classifyConnection(c, ctx, false, this.scratch, (r) => {
        this.countOnly(r);
        if (r.reset.side === 'orig') lastO = { ...r };
        else lastR = { ...r };
      });
      if (dropO > 0 && lastO !== undefined) this.tally.addCount(lastO, dropO, this.keepHeld);
      if (dropR > 0 && lastR !== undefined) this.tally.addCount(lastR, dropR, this.keepHeld);
    }
    store.release(h);
  }

  /** A listed connection: classified with its evidence; RSTs it did not record counted and said. */
  private classifyListed(
    h: number,
    ctx: ClassifyContext,
    listedConns: Connection[],
    classified: ClassifiedReset[],
  ): void {
    this.dropped += explainHeld(this.store, h, ctx, this.scratch, listedConns, classified, this.tally);
  }

  /**
   * Ends the analysis once every connection has left the table (`connections` of them; `flowsEvicted` pushed
   * out of it): every held reset is classified.
   */
  finish(connections: number, flowsEvicted: number): FlowResult {
    this.connections = connections;
    const ctx = this.ctxb.build();
    const store = this.store;
    const tally = this.tally;
    // The listed connections (with their evidence) and those still held (counted only), against the
    // capture-wide context, fed to the tally in id order.
    const listedConns: Connection[] = [];
    const classified: ClassifiedReset[] = [];
    const listed = this.listed;
    const held = this.sortById(this.waiting);
    for (let i = 0, j = 0; i < listed.length || j < held.length; ) {
      if (j >= held.length || (i < listed.length && store.id(listed[i]!) < store.id(held[j]!))) {
        this.classifyListed(listed[i++]!, ctx, listedConns, classified);
      } else {
        this.classifyHeld(held[j++]!, ctx);
      }
    }
    this.listed.length = 0;
    this.waiting = [];
    return {
      connections: this.connections,
      connectionsWithResets: this.withResets,
      flowsEvicted,
      rstFromOrig: tally.fromOrig,
      rstFromResp: tally.resets - tally.fromOrig,
      classifiedEarly: this.classifiedEarly,
      approximate: tally.groupsDropped + this.ctxb.evicted + this.dropped > 0,
      causes: tally.causeSummaries(),
      ports: tally.topPorts(this.top),
      findings: findings(tally.topGroups(this.top), ctx),
      listed: reportConnections(listedConns, classified),
      connectionsOmitted: this.withResets - listedConns.length,
    };
  }
}

/**
 * Held connection `h` of `store` as a listed connection: made a Connection (into `conns`) and let go, its
 * resets classified with their evidence (explainListed). Returns the RSTs it counted but did not record.
 */
export function explainHeld(
  store: HeldConnections,
  h: number,
  ctx: ClassifyContext,
  scratch: ClassifiedReset,
  conns: Connection[],
  classified: ClassifiedReset[],
  tally?: ResetTally,
): number {
  const c = store.materialize(h);
  const dropO = store.dropped(h, true);
  const dropR = store.dropped(h, false);
  store.release(h);
  conns.push(c);
  explainListed(c, dropO, dropR, ctx, scratch, classified, tally);
  return dropO + dropR;
}

/**
 * Classifies a listed connection's resets with their evidence into `classified` (and counts them in `tally`,
 * when given); the RSTs a side counted but did not record (`dropO`, `dropR`) are counted with that side's
 * last recorded one, whose evidence says so.
 */
function explainListed(
  c: Connection,
  dropO: number,
  dropR: number,
  ctx: ClassifyContext,
  scratch: ClassifiedReset,
  classified: ClassifiedReset[],
  tally?: ResetTally,
): void {
  const from = classified.length;
  classifyConnection(c, ctx, true, scratch, (r) => {
    const kept = copyOf(r);
    classified.push(kept);
    tally?.addOne(kept);
  });
  if (dropO + dropR === 0) return;
  for (const [side, n] of [
    ['orig', dropO],
    ['resp', dropR],
  ] as const) {
    if (n === 0) continue;
    let last: ClassifiedReset | undefined;
    for (let i = from; i < classified.length; i++)
      if (classified[i]!.reset.side === side) last = classified[i];
    if (last === undefined) continue;
    tally?.addCount(last, n);
    last.evidence.push(
      `${n} more RST(s) from the same side were counted with this one, not recorded (a connection records at most ${MAX_RESETS_PER_SIDE} per side)`,
    );
  }
}

/** The connection side fed by a flow table in the same thread. */
export class FlowAnalysis {
  private readonly table: FlowTable;
  private readonly side: ConnectionSide;

  constructor(opts: FlowAnalysisOptions = {}) {
    const table = new FlowTable({
      maxFlows: opts.maxFlows ?? DEFAULT_MAX_FLOWS,
      onQuietConnection: (q: QuietConnection) => side.quiet(q),
      onHeldConnection: (h: number) => side.held(h),
    });
    const side = new ConnectionSide(table.held, opts);
    this.table = table;
    this.side = side;
  }

  /** Feeds one decoded TCP segment (`pkt` may be reused after the call). */
  observe(pkt: DecodedTcp, tsSec: number, tsNsec: number, frame: number): void {
    this.table.observe(pkt, tsSec, tsNsec, frame);
  }

  /** Ends the analysis: the connections still tracked leave, every held reset is classified. */
  finish(): FlowResult {
    this.table.drain();
    return this.side.finish(this.table.stats.flows, this.table.stats.evicted);
  }
}
