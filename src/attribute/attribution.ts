/**
 * Live attribution: the agent's tracefs instance, read through the per-CPU binary ring buffers.
 *
 * Why `trace_pipe_raw` and not the text `trace_pipe`: the text pipe makes the kernel format every event
 * (`%pISpc`, symbolic names) inside the reader's read(2), merges the CPUs one event at a time, and hands
 * ~200 bytes per event to a regex; the raw pipe hands over whole pages of ~90-byte records that a few
 * DataView reads decode with offsets taken from the `format` files. docs/attribution.md has the numbers.
 *
 * Files are opened O_NONBLOCK and drained on a timer (every `pollMs`, sooner while pages keep coming), so
 * no libuv thread is parked in a blocking read. Before reading a CPU's pipe, its `stats` file (kept open,
 * read again at offset 0) says how many unread events it holds: an idle CPU costs one small read, not a
 * failed read and the exception Node builds for EAGAIN (~2× cheaper when cold; issue 5's idle cost), and
 * the same text carries the CPU's loss counters.
 */

import { closeSync, constants, openSync, readFileSync, readSync } from 'node:fs';
import { cpus as osCpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { errorMessage, RstwatchError, sysCode } from '../internal/errors.js';
import type { Logger } from '../internal/log.js';
import { Aggregator } from './aggregate.js';
import { makeDecoder, type ResetDecoder } from './decode.js';
import { type EventFormat, type PageHeader, parseEventFormat, parseHeaderPage } from './format.js';
import { ProcessMap } from './procmap.js';
import { walkPage } from './ringbuf.js';
import {
  defaultBufferKiB,
  type FindOptions,
  findTracefs,
  INSTANCE_PREFIX,
  permissionError,
  removeStaleInstances,
  statsField,
  TraceInstance,
} from './tracefs.js';
import type { Attribution, AttributionQuery, AttributionStatus, AttributionTop, RstEvent } from './types.js';

export interface AttributionOptions {
  log: Logger;
  /** 'linux' or 'freebsd' (the agent's Os). */
  os: string;
  /** Keys kept per second and dimension (setting `attribution top k`). */
  topK?: number;
  retentionSeconds?: number;
  tracefs?: FindOptions;
  /** For the process map (listening ports). */
  procRoot?: string;
  pollMs?: number;
  /** Seconds between checks that the instance is still there and switched on. */
  checkEverySeconds?: number;
  bufferKiB?: number;
  instanceName?: string;
  /** Wall clock in ms (the agent's clock). */
  wallMs?: () => number;
  /** Every decoded event, after it is counted (tests, benchmarks). */
  onEvent?: (ev: RstEvent, sec: number) => void;
}

const MAX_PAGES_PER_CPU_PER_DRAIN = 64;
/** A drain that read fewer pages than this is a trickle: the next one comes at the idle pace. */
const TRICKLE_PAGES = 8;
/** The slowest pace of an idle reader, when the buffers are large enough to allow it (idlePollMs). */
const IDLE_POLL_MS = 1000;
/**
 * How late a pulse may be before the reader's own timer polls instead (pulsedBy). With the default buffer on
 * this machine (20 MiB per CPU, filled in 1.13 s at the design rate) a missing pulse makes the longest gap
 * between two polls 1.05 s: 93 % of the fill time instead of idlePollMs's 90 %.
 */
const PULSE_GRACE_MS = 50;

/**
 * Events per second on ONE CPU that a storm starting while the agent is idle must not overflow: twice the
 * issue's highest storm (100k RST/s, issue 5). One CPU, because a storm's events are written on the CPU
 * whose softirq handles its packets (on loopback, the sender's: dev_queue_xmit → netif_rx → the softirq at
 * local_bh_enable), so a single sender fills a single per-CPU buffer.
 */
export const DESIGN_EVENTS_PER_CPU_PER_SECOND = 200_000;

/**
 * Bytes one event takes in a ring-buffer page: its 4-byte header word plus the record (the format's last
 * field end), rounded up to 4 (kernel/trace/ring_buffer.c, rb_calculate_event_length; records of ≤ 112
 * bytes keep their length in the header's type_len, so no length word is added).
 */
export function recordBytes(format: EventFormat): number {
  let end = 0;
  for (const f of format.fields.values()) end = Math.max(end, f.offset + f.size);
  return 4 + (end + 3 - ((end + 3) % 4)) + (end > 112 ? 4 : 0);
}

/**
 * How long an idle reader may sleep between polls: 90 % of the time one per-CPU buffer takes to fill at
 * DESIGN_EVENTS_PER_CPU_PER_SECOND (so a storm at twice issue 5's highest rate finds the buffer not yet
 * full at the first poll, and one at that rate finds it less than half full), never longer than IDLE_POLL_MS nor shorter than the busy pace. The
 * buffer (buffer_size_kb) holds ceil(KiB·1024 / page data bytes) pages (ring_buffer_resize rounds up to
 * whole pages) of floor(page data / record) events. With `overwrite` off the kernel drops what does not
 * fit, so a storm that fills a buffer before the first poll after an idle spell loses events: with the
 * former fixed 1-s idle pace and 8 MiB per CPU (90,508 events of 92 bytes), a storm of 200k/s lost
 * ~108,000 events in its first second (docs/benchmarks.md part 4).
 */
export function idlePollMs(o: {
  bufferKiB: number;
  pageDataBytes: number;
  recordBytes: number;
  pollMs: number;
}): number {
  const pages = Math.ceil((o.bufferKiB * 1024) / o.pageDataBytes);
  const capacity = pages * Math.floor(o.pageDataBytes / o.recordBytes);
  const fillMs = (1000 * capacity) / DESIGN_EVENTS_PER_CPU_PER_SECOND;
  // It was half the fill time (226 ms on 8 MiB): 4.4 wake-ups a second on an idle machine, a third of the
  // agent's idle CPU with attribution on (issue 5); 90 % keeps the guarantee above with 2.5.
  return Math.max(o.pollMs, Math.min(IDLE_POLL_MS, Math.floor(fillMs * 0.9)));
}

/** Attribution that could not start: answers every query with nothing and says why. */
class Unavailable implements Attribution {
  constructor(
    private readonly why: string,
    private readonly layout: AttributionStatus['layout'] = null,
  ) {}
  status(): AttributionStatus {
    return { enabled: false, layout: this.layout, reason: this.why, events: 0, lost: 0 };
  }
  top(q: AttributionQuery): AttributionTop {
    return emptyTop(q.windowSeconds);
  }
  async close(): Promise<void> {}
}

export function emptyTop(windowSeconds: number): AttributionTop {
  return {
    windowSeconds,
    total: 0,
    other: 0,
    peers: [],
    localPorts: [],
    remotePorts: [],
    reasons: [],
    states: [],
    tuples: [],
    scope: 'all-namespaces',
  };
}

/** A disabled attribution (setting `attribution = no`). */
export function disabledAttribution(): Attribution {
  return new Unavailable('disabled by the setting attribution = no');
}

/** One sentence on what a working attribution sees, per layout. */
export function coverageSentence(layout: ResetDecoder['layout']): string {
  return layout === 'sockaddr-reason'
    ? 'sees every RST the kernel sends (with its reason) and every RST a full socket accepts, in all network namespaces together (events carry no namespace)'
    : 'kernel before 6.10: RSTs sent without a full socket (closed ports, TIME_WAIT, half-open) are not traced and no reason is given (OutRsts still counts them); all network namespaces together';
}

function readFormat(root: string, event: string): EventFormat {
  const file = join(root, 'events', 'tcp', event, 'format');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = sysCode(err);
    if (code === 'EACCES' || code === 'EPERM') throw permissionError(`read ${file}`, err);
    throw new RstwatchError(
      'E_ATTR_NO_EVENTS',
      `this kernel has no tcp:${event} tracepoint (${file}: ${code ?? errorMessage(err)}); Linux 4.15 and later have it`,
    );
  }
  return parseEventFormat(text, file);
}

class LiveAttribution implements Attribution {
  private readonly agg: Aggregator;
  private readonly procs: ProcessMap;
  private fds: number[] = [];
  /** Per CPU: its `stats` file, or -1 when it could not be opened (then its pipe is always read). */
  private statFds: number[] = [];
  /** Per CPU: overrun + dropped events, from its last `stats` read. */
  private cpuLost: number[] = [];
  private readonly statsBuf = Buffer.alloc(512);
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private events = 0;
  private missedInPages = 0;
  private lostBase = 0;
  private lostCache = { atMs: Number.NEGATIVE_INFINITY, value: 0, seen: -1 };
  private stoppedReason: string | undefined;
  private lastCheckMs: number;
  private checking = false;
  private readonly page: Buffer;
  private readonly wallMs: () => number;
  /** Pages the last drain read over all CPUs (the pace: a trickle is read at the idle pace). */
  private lastDrainPages = 0;
  /** The period of the pulse source (the agent's sample), 0 when none: see pulsedBy(). */
  private pulseMs = 0;
  /** performance.now() of the last pulse. */
  private lastPulse = Number.NEGATIVE_INFINITY;
  /** The pending timer is an idle poll (a pulse may take its place), not the busy pace. */
  private idleTimer = false;

  constructor(
    private readonly opts: AttributionOptions,
    private readonly instance: TraceInstance,
    private readonly decoder: ResetDecoder,
    private readonly header: PageHeader,
    private readonly bufferKiB: number,
    /** The idle pace (idlePollMs): short enough that a storm cannot fill a buffer between two polls. */
    private readonly idleMs: number,
  ) {
    this.wallMs = opts.wallMs ?? Date.now;
    this.agg = new Aggregator({
      topK: opts.topK ?? 10,
      retentionSeconds: Math.max(3600, opts.retentionSeconds ?? 3600),
    });
    this.procs = new ProcessMap(opts.procRoot !== undefined ? { procRoot: opts.procRoot } : {});
    this.page = Buffer.alloc(Math.max(4096, header.dataOffset + header.dataSize));
    this.lastCheckMs = performance.now();
  }

  open(): void {
    for (const c of this.instance.cpus()) {
      const file = join(this.instance.dir, 'per_cpu', `cpu${c}`, 'trace_pipe_raw');
      try {
        this.fds.push(openSync(file, constants.O_RDONLY | constants.O_NONBLOCK));
      } catch (err) {
        const code = sysCode(err);
        if (code === 'EACCES' || code === 'EPERM') throw permissionError(`open ${file}`, err);
        throw new RstwatchError('E_ATTR_INSTANCE', `cannot open ${file}: ${errorMessage(err)}`);
      }
    }
    if (this.fds.length === 0)
      throw new RstwatchError('E_ATTR_INSTANCE', `no per-CPU buffers in ${this.instance.dir}`);
    this.statFds = this.instance.cpus().map((c) => {
      try {
        return openSync(join(this.instance.dir, 'per_cpu', `cpu${c}`, 'stats'), constants.O_RDONLY);
      } catch {
        return -1;
      }
    });
    if (this.statFds.length !== this.fds.length) {
      for (const fd of this.statFds) if (fd >= 0) closeSync(fd);
      this.statFds = [];
    }
    this.cpuLost = this.statFds.map(() => 0);
  }

  /**
   * Unread events in CPU `i`'s buffer from its `stats` file ("entries: N", the kernel's
   * ring_buffer_entries_cpu: written − overwritten − read), noting its loss counters on the way; -1 when
   * unknown (then the pipe is read anyway).
   */
  private unread(i: number): number {
    const fd = this.statFds[i];
    if (fd === undefined || fd < 0) return -1;
    let n: number;
    try {
      n = readSync(fd, this.statsBuf, 0, this.statsBuf.length, 0);
    } catch {
      return -1;
    }
    const b = this.statsBuf.subarray(0, n);
    const entries = statsField(b, 'entries:');
    if (entries < 0) return -1;
    const overrun = statsField(b, '\noverrun:');
    const dropped = statsField(b, '\ndropped events:');
    this.cpuLost[i] = Math.max(0, overrun) + Math.max(0, dropped);
    return entries;
  }

  start(): void {
    this.schedule(this.opts.pollMs ?? 200);
  }

  private schedule(ms: number): void {
    if (this.closed || this.stoppedReason !== undefined) return;
    this.timer = setTimeout(() => this.cycle(), ms);
    // Paced by the agent's pulse, the idle timer is a fallback that each pulse clears and sets again. An
    // unref'd Node timer, cleared, still wakes the process at its old expiry (Node keeps the emptied list of
    // unref'd timers scheduled; a ref'd one's list is dropped on clearTimeout): one wasted wake-up a second,
    // 50 ms after every sample (strace, issue 2). The agent's process lives on its sampler anyway, and
    // close()/stop() clear the timer; unpaced readers (tests, tools) stay unref'd.
    if (this.pulseMs === 0) this.timer.unref();
  }

  /**
   * Let a periodic caller (the agent, after each sample: one wake-up a second) drive the idle polls: an
   * idle reader then polls in the caller's wake-up, plus, when the idle pace is shorter than the period, at
   * evenly spaced phases between two pulses; the busy pace (pages keep coming) keeps its own timer. A
   * missing pulse is covered by a timer PULSE_GRACE_MS after it was due, and after two missing periods the
   * reader goes back to its own idle timer: the guarantee of idlePollMs never rests on the caller.
   * Each wake-up of an idle Node process costs ~0.02 % of a core on this project's machine; the reader's
   * own 407-ms timer was 2.5 of them a second (issue 2).
   */
  pulsedBy(periodMs: number): void {
    this.pulseMs = Number.isFinite(periodMs) && periodMs > 0 ? periodMs : 0;
  }

  /** The periodic caller's beat (see pulsedBy): an idle reader polls now. */
  pulse(): void {
    if (this.pulseMs === 0 || this.closed || this.stoppedReason !== undefined) return;
    this.lastPulse = performance.now();
    if (!this.idleTimer) return; // the busy pace goes on
    if (this.timer) clearTimeout(this.timer);
    this.cycle();
  }

  /** Milliseconds until the next idle poll. */
  private idleDelay(): number {
    if (this.pulseMs === 0) return this.idleMs;
    const since = performance.now() - this.lastPulse;
    // No pulse for two periods (none yet, or the caller stopped): the reader's own idle pace.
    if (!(since <= 2 * this.pulseMs)) return this.idleMs;
    // Polls at `phases` evenly spaced times per period, one of them the pulse itself (times from the last
    // pulse). A phase that falls on a pulse is left to the pulse, the timer set just after it in case the
    // pulse does not come; a pulse that does come takes the timer's place (pulse()).
    const phases = Math.max(1, Math.ceil(this.pulseMs / this.idleMs));
    const step = this.pulseMs / phases;
    const next = step * (Math.floor(since / step) + 1);
    const nearestPulse = this.pulseMs * Math.round(next / this.pulseMs);
    const target = Math.abs(next - nearestPulse) < step / 4 ? nearestPulse + PULSE_GRACE_MS : next;
    return Math.max(1, Math.min(this.idleMs + PULSE_GRACE_MS, Math.ceil(target - since)));
  }

  private cycle(): void {
    let more = false;
    try {
      more = this.drain();
      this.maybeCheck();
    } catch (err) {
      this.stop(`reading the trace buffers failed: ${errorMessage(err)}`, 'E_ATTR_READ');
      return;
    }
    // While pages keep coming, come back at once (after other callbacks); at the busy pace while several
    // pages came; otherwise — nothing, or a trickle of a few pages — at the idle pace, which already keeps a
    // storm at the design rate from filling a buffer (idlePollMs). A trickle at the busy pace had bought
    // only fresher top lists, at 5 wake-ups a second (issue 2's bench load: 120 resets/s, ~3 pages/s);
    // alert context drains first anyway (flush()).
    const pollMs = this.opts.pollMs ?? 200;
    this.idleTimer = !more && this.lastDrainPages < TRICKLE_PAGES;
    this.schedule(more ? 0 : this.idleTimer ? this.idleDelay() : pollMs);
  }

  /** Read every CPU's available pages (bounded per call); true when some CPU had more. */
  drain(): boolean {
    const wallNow = this.wallMs();
    // Event times are CLOCK_MONOTONIC ns (trace_clock mono); hrtime is the same clock (libuv uv_hrtime).
    const offsetMs = wallNow - Number(process.hrtime.bigint()) / 1e6;
    const readSec = Math.floor(wallNow / 1000);
    const mono = this.instance.monoClock;
    let more = false;
    this.lastDrainPages = 0;
    const sink = (page: Buffer, off: number, len: number, tsNs: number) => {
      const ev = this.decoder.decode(page, off, len);
      if (!ev) return;
      const sec = mono ? Math.floor((tsNs / 1e6 + offsetMs) / 1000) : readSec;
      this.events++;
      this.agg.add(ev, sec);
      this.opts.onEvent?.(ev, sec);
    };
    for (let i = 0; i < this.fds.length; i++) {
      const fd = this.fds[i]!;
      // What the CPU's stats count as unread is read, and no further: no failed read to find the end.
      let left = this.unread(i);
      if (left === 0) continue;
      let pages = 0;
      for (; pages < MAX_PAGES_PER_CPU_PER_DRAIN; pages++) {
        let n: number;
        try {
          n = readSync(fd, this.page, 0, this.page.length, null);
        } catch (err) {
          if (sysCode(err) === 'EAGAIN') break;
          throw err;
        }
        if (n === 0) break;
        const r = walkPage(this.page, n, this.header, sink);
        this.lastDrainPages++;
        this.missedInPages += r.missed;
        if (r.problem)
          this.opts.log.once('attr-page', 'warn', `a trace page could not be read in full: ${r.problem}`, {
            code: 'E_TRACE_PAGE',
          });
        if (left > 0) {
          left -= r.records;
          if (left <= 0) break;
        }
      }
      if (pages === MAX_PAGES_PER_CPU_PER_DRAIN) more = true;
    }
    // Close seconds only after a pass that drained every CPU: with pages left, older events may still come.
    if (!more) this.agg.tick(readSec);
    return more;
  }

  private maybeCheck(): void {
    const every = (this.opts.checkEverySeconds ?? 15) * 1000;
    if (this.checking || performance.now() - this.lastCheckMs < every) return;
    this.lastCheckMs = performance.now();
    // Read on libuv's threads (checkAsync): a tracefs read can wait on a lock another process holds.
    this.checking = true;
    void this.instance
      .checkAsync()
      .then((wrong) => {
        if (wrong !== undefined && !this.closed && this.stoppedReason === undefined) this.restore(wrong);
      })
      .finally(() => {
        this.checking = false;
      });
  }

  /** Overrun + dropped events of every CPU, as their `stats` files said at the last drain. */
  private statsLost(): number {
    let lost = 0;
    for (const l of this.cpuLost) lost += l;
    return lost;
  }

  /** Switch the instance back on, or make it again; stop attribution when that fails. */
  private restore(wrong: string): void {
    this.opts.log.warn(`attribution: ${wrong}; setting it up again`, {
      code: 'E_ATTR_INSTANCE_GONE',
      instance: this.instance.dir,
    });
    try {
      if (!this.instance.exists()) {
        // The kernel refuses rmdir while our files are open, so only an unmount or a fake tree gets here.
        const lostSoFar = this.statFds.length > 0 ? this.statsLost() : this.lostCache.value;
        this.closeFds();
        this.lostBase += lostSoFar;
        this.lostCache = { atMs: Number.NEGATIVE_INFINITY, value: 0, seen: -1 }; // the new instance's counters
        this.instance.create({ bufferKiB: this.bufferKiB });
        this.open();
      } else {
        this.instance.configure({ bufferKiB: this.bufferKiB });
      }
      this.opts.log.info('attribution: tracefs instance restored', { instance: this.instance.dir });
    } catch (err) {
      this.stop(`${wrong}, and restoring it failed: ${errorMessage(err)}`, 'E_ATTR_INSTANCE_GONE');
    }
  }

  private stop(why: string, code: string): void {
    this.stoppedReason = why;
    if (this.timer) clearTimeout(this.timer);
    this.closeFds();
    this.opts.log.error(`attribution stopped: ${why}`, { code });
  }

  private closeFds(): void {
    for (const fd of [...this.fds, ...this.statFds]) {
      if (fd < 0) continue;
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
    this.fds = [];
    this.statFds = [];
  }

  status(): AttributionStatus {
    const now = performance.now();
    // The kernel's loss counters (a file per CPU) can only have moved if events came since the last look:
    // a buffer overruns or drops only while events are written to it, and we read what was written. So an
    // idle agent does not read them every second (issue 5: idle cost with attribution on).
    const seen = this.events + this.missedInPages;
    if (this.statFds.length > 0) {
      // Read by every drain from the same files (unread()): no file to read here.
      this.lostCache = { atMs: now, value: this.statsLost(), seen };
    } else if (
      this.stoppedReason === undefined &&
      now - this.lostCache.atMs > 1000 &&
      seen !== this.lostCache.seen
    ) {
      this.lostCache = { atMs: now, value: this.instance.lostEvents(), seen };
    }
    const s: AttributionStatus = {
      enabled: this.stoppedReason === undefined && !this.closed,
      layout: this.decoder.layout,
      reason: this.stoppedReason ?? (this.closed ? 'closed' : coverageSentence(this.decoder.layout)),
      events: this.events,
      lost: this.lostBase + Math.max(this.lostCache.value, this.missedInPages),
    };
    return s;
  }

  top(q: AttributionQuery): AttributionTop {
    this.agg.tick(q.nowSec);
    const t = this.agg.top(q);
    // Naming a port's listener may start a walk of every process's open files: only when ports were asked.
    for (const e of t.localPorts) {
      const p = this.procs.lookup(Number(e.key));
      if (p) e.process = p;
    }
    return t;
  }

  /** Drain what is left, for tests that need every event up to now. */
  flush(): void {
    if (this.stoppedReason === undefined && !this.closed) while (this.drain()) {}
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.closeFds();
    const problem = this.instance.remove();
    if (problem !== undefined) {
      this.opts.log.warn(`cannot remove the tracefs instance ${this.instance.dir}: ${problem}`, {
        code: 'E_ATTR_INSTANCE',
      });
    }
  }
}

export type RunningAttribution = Attribution & { flush(): void };

/**
 * Start attribution. Never throws: when it cannot run (not Linux, not root, no tracefs, no events) it says
 * why once in the log and returns an Attribution whose status carries the same sentence.
 */
export async function startAttribution(opts: AttributionOptions): Promise<RunningAttribution> {
  const unavailable = (why: string, code: string, layout: AttributionStatus['layout'] = null) => {
    opts.log.once('attribution-unavailable', 'warn', `attribution unavailable: ${why}`, { code });
    const u = new Unavailable(why, layout);
    return Object.assign(u, { flush() {} });
  };
  if (opts.os !== 'linux') {
    return unavailable(
      `reset attribution reads Linux tracepoints (tcp:tcp_send_reset); on ${opts.os} only the counters are watched`,
      'E_ATTR_UNSUPPORTED_OS',
    );
  }
  let instance: TraceInstance | undefined;
  try {
    const { root, mounted } = await findTracefs(opts.tracefs ?? {});
    if (mounted) opts.log.info('mounted tracefs for attribution', { at: root });
    const send = readFormat(root, 'tcp_send_reset');
    const receive = readFormat(root, 'tcp_receive_reset');
    const decoder = makeDecoder(send, receive);
    const header = parseHeaderPage(
      readFileSync(join(root, 'events', 'header_page'), 'utf8'),
      join(root, 'events', 'header_page'),
    );
    for (const name of removeStaleInstances(root)) {
      opts.log.info('removed the tracefs instance of an agent that is no longer running', { instance: name });
    }
    instance = new TraceInstance(root, opts.instanceName ?? `${INSTANCE_PREFIX}${process.pid}`);
    const bufferKiB = opts.bufferKiB ?? defaultBufferKiB(osCpus().length, Math.floor(totalmem() / 1024));
    instance.create({ bufferKiB });
    const idleMs = idlePollMs({
      bufferKiB,
      pageDataBytes: header.dataSize,
      recordBytes: Math.max(recordBytes(send), recordBytes(receive)),
      pollMs: opts.pollMs ?? 200,
    });
    const live = new LiveAttribution(opts, instance, decoder, header, bufferKiB, idleMs);
    live.open();
    live.start();
    opts.log.info('attribution started', {
      instance: instance.dir,
      layout: decoder.layout,
      cpus: instance.cpus().length,
      bufferKiB,
      idlePollMs: idleMs,
      clock: instance.monoClock ? 'mono' : 'read time',
      sees: coverageSentence(decoder.layout),
    });
    return live;
  } catch (err) {
    if (instance) instance.remove();
    const e = err instanceof RstwatchError ? err : new RstwatchError('E_ATTR_START', errorMessage(err));
    return unavailable(e.message, e.code);
  }
}
