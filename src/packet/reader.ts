/**
 * readCapture: stream a pcap or pcapng capture — from a path, a gzip-compressed file or any Readable (stdin
 * for `tcpdump -w - | rstwatch analyze -`) — and hand every record to a callback.
 *
 * Speed: files are read in 1 MiB chunks into one reused buffer; records are handed out as views into it
 * through one reused PacketRecord. Only a record that spans two chunks is copied (into a scratch buffer that
 * grows to the largest such record, bounded by the per-record caps), so the per-packet cost is a header parse
 * and a callback.
 *
 * Robustness: bad input never throws. The format is found from the first bytes (gzip by its magic, not by
 * the file name), every length is bounded before use, and problems come back in the summary with stable
 * codes and byte offsets; a structural error stops reading with `partial: true`, keeping what was read.
 * Only programmer errors (a throwing callback, a non-binary stream) reject.
 */
import { read as fsRead, fstat, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { systemClock } from '../internal/clock.js';
import { errorMessage, sysCode } from '../internal/errors.js';
import type { BulkReader } from './parser.js';
import { CAPTURE, DEFAULT_MAX_PACKET_BYTES, hex, ReadContext, type UnitParser, u32 } from './parser.js';
import { PCAP_MAGIC, PcapParser, pcapMagicKind } from './pcap.js';
import { BLOCK, PcapngParser } from './pcapng.js';
import { pipeChunks } from './pipe-reader.js';
import type { PacketRecord, ReadSummary } from './types.js';

export { CAPTURE, DEFAULT_MAX_PACKET_BYTES } from './parser.js';

export interface ReadOptions {
  /** Largest captured length accepted (default 262144, libpcap's maximum for most link types). */
  maxPacketBytes?: number;
  /** Called after each chunk with the number of bytes read from the source (compressed bytes for .gz). */
  onProgress?: (bytesRead: number) => void;
  /**
   * Stops reading when aborted, even in the middle of a read that waits for a pipe: E_CAPTURE_INTERRUPTED,
   * the records read so far kept (`rstwatch analyze -` after a second Ctrl-C).
   */
  signal?: AbortSignal;
  /**
   * Takes runs of classic pcap records itself instead of one onPacket call each (the native engine,
   * src/analyze/native.ts); the records it leaves go to onPacket as usual.
   */
  bulk?: BulkReader;
}

/** Bytes per read (a chunk); settable for tests (setChunkBytes), to put many chunk ends in a small file. */
let CHUNK = 1 << 20;

/** For tests: the bytes per read of a file or stream (1 MiB in use); a power of two from 64 on. */
export function setChunkBytes(n: number): void {
  if (!Number.isInteger(Math.log2(n)) || n < 64) throw new RangeError(`chunk bytes: ${n}`);
  CHUNK = n;
}

/**
 * Cuts a byte stream into the units a parser asks for. A unit wholly inside the current chunk is passed
 * as (chunk, offset); a unit cut by a chunk boundary is assembled in `carry`.
 */
class Framer {
  private parser: UnitParser | undefined;
  private carry = new Uint8Array(64 * 1024);
  private carryLen = 0;
  /** Absolute offset of the first byte not yet handed to the parser (start of the carried unit). */
  private abs = 0;

  private head: Uint8Array[] | undefined = [];
  private headLen = 0;

  constructor(private readonly ctx: ReadContext) {}

  /** Bytes pushed so far (parsed, carried, or waiting for the format to be known). */
  get received(): number {
    return this.head !== undefined ? this.headLen : this.abs + this.carryLen;
  }

  /** Choose the format from the first bytes (at least 4, or all of a shorter stream). */
  private start(head: Uint8Array): boolean {
    const ctx = this.ctx;
    if (head.length === 0) {
      ctx.summary.problems.push({
        code: CAPTURE.EMPTY,
        message: 'the capture is empty (0 bytes)',
        severity: 'error',
        offset: 0,
      });
      ctx.stopped = true;
      return false;
    }
    if (pcapMagicKind(head)) this.parser = new PcapParser(ctx);
    else if (head.length >= 4 && u32(head, 0, true) === BLOCK.SHB) this.parser = new PcapngParser(ctx);
    else {
      ctx.problem(CAPTURE.MAGIC, describeMagic(head), 0);
      return false;
    }
    return true;
  }

  push(chunk: Uint8Array): void {
    if (this.head !== undefined) {
      // Before the format is known: gather 4 bytes (a pipe may deliver them one at a time).
      if (chunk.length === 0) return;
      this.head.push(chunk.slice()); // the caller may reuse its buffer
      this.headLen += chunk.length;
      if (this.headLen < 4) return;
      const first = concat(this.head, this.headLen);
      this.head = undefined;
      if (this.start(first)) this.feed(first);
      return;
    }
    this.feed(chunk);
  }

  private feed(chunk: Uint8Array): void {
    const parser = this.parser;
    const ctx = this.ctx;
    if (parser === undefined || ctx.stopped) return;
    let pos = 0;
    const n = chunk.length;
    // First finish the unit carried over from the previous chunk(s).
    while (this.carryLen > 0) {
      const need = parser.need(this.carry, 0, this.carryLen, this.abs);
      if (need < 0) return;
      if (need <= this.carryLen) {
        parser.consume(this.carry, 0, need, this.abs);
        this.abs += need;
        this.carryLen = 0;
        if (ctx.stopped) return;
        break;
      }
      if (need > this.carry.length) {
        const bigger = new Uint8Array(Math.max(need, this.carry.length * 2));
        bigger.set(this.carry.subarray(0, this.carryLen));
        this.carry = bigger;
      }
      const take = Math.min(need - this.carryLen, n - pos);
      this.carry.set(chunk.subarray(pos, pos + take), this.carryLen);
      this.carryLen += take;
      pos += take;
      if (this.carryLen < need) return; // chunk exhausted
    }
    // Then every unit that lies wholly in this chunk, without copying: the parser's own loop first.
    for (;;) {
      if (parser.run !== undefined) {
        const used = parser.run(chunk, pos, n, this.abs);
        pos += used;
        this.abs += used;
        if (ctx.stopped) return;
      }
      const avail = n - pos;
      if (avail === 0) return;
      const need = parser.need(chunk, pos, avail, this.abs);
      if (need < 0) return;
      if (need > avail) {
        if (avail > this.carry.length) this.carry = new Uint8Array(Math.max(avail, this.carry.length * 2));
        this.carry.set(chunk.subarray(pos, n), 0);
        this.carryLen = avail;
        return;
      }
      parser.consume(chunk, pos, need, this.abs);
      pos += need;
      this.abs += need;
      if (ctx.stopped) return;
    }
  }

  finish(): void {
    if (this.head !== undefined && !this.ctx.stopped) {
      const first = concat(this.head, this.headLen);
      this.head = undefined;
      if (this.start(first)) this.feed(first);
    }
    if (this.parser === undefined) return;
    if (!this.ctx.stopped) this.parser.finish(this.carryLen, this.abs);
    else this.parser.finish(0, this.abs);
  }
}

function describeMagic(head: Uint8Array): string {
  const first = hex(head, 0, 4);
  let known = '';
  if (head.length >= 4) {
    const le = u32(head, 0, true);
    const be = u32(head, 0, false);
    if (le === PCAP_MAGIC.NAVTEL || be === PCAP_MAGIC.NAVTEL)
      known = ' (Navtel pcap, which libpcap cannot read either)';
    else if (head[0] === 0x73 && head[1] === 0x6e && head[2] === 0x6f && head[3] === 0x6f) known = ' (snoop)';
  }
  return `not a capture file we can read: first bytes ${first}${known}; supported are pcap (any byte order, µs or ns), pcapng and either one compressed with gzip`;
}

/**
 * Read a capture and call `onPacket` for every record. The PacketRecord is reused: its `data` is a view that
 * is only valid during the callback (copy what you keep). `source`: a path, an open file descriptor (read,
 * not closed: 0 for `rstwatch analyze -`), or a binary stream.
 */
export async function readCapture(
  source: string | number | NodeJS.ReadableStream,
  onPacket: (p: PacketRecord) => void,
  opts: ReadOptions = {},
): Promise<ReadSummary> {
  const max = opts.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES;
  if (!Number.isInteger(max) || max < 1)
    throw new RangeError(`maxPacketBytes must be a positive integer, not ${max}`);
  if (typeof onPacket !== 'function') throw new TypeError('readCapture needs an onPacket callback');
  const ctx = new ReadContext(onPacket, max);
  ctx.bulk = opts.bulk;
  const framer = new Framer(ctx);
  const signal = opts.signal;
  if (signal?.aborted !== true) {
    if (typeof source === 'string') await readPath(source, framer, ctx, opts.onProgress, signal);
    else if (typeof source === 'number') await readDescriptor(source, framer, ctx, opts.onProgress, signal);
    else await readStream(source, framer, ctx, opts.onProgress, source.constructor?.name ?? 'stream', signal);
  }
  if (signal?.aborted === true && !ctx.stopped)
    ctx.problem(
      CAPTURE.INTERRUPTED,
      'reading was interrupted: the report covers what was read',
      framer.received,
    );
  framer.finish();
  return ctx.summary;
}

/** What readFrom needs of an open file: a FileHandle (readPath) or a bare descriptor (readDescriptor). */
interface ByteSource {
  name: string;
  /** Its descriptor: a pipe or a FIFO is read by a thread of its own (pipe-reader.ts). */
  fd: number;
  read(b: Uint8Array, length: number, position: number | null): Promise<number>;
  isRegular(): Promise<boolean>;
  close(): Promise<void>;
}

async function readPath(
  path: string,
  framer: Framer,
  ctx: ReadContext,
  onProgress: ((n: number) => void) | undefined,
  signal: AbortSignal | undefined,
): Promise<void> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    ctx.problem(CAPTURE.READ, `cannot open ${path}: ${describeIoError(err)}`, 0);
    return;
  }
  await readFrom(
    {
      name: path,
      fd: fh.fd,
      read: async (b, length, position) => (await fh.read(b, 0, length, position)).bytesRead,
      isRegular: async () => (await fh.stat()).isFile(),
      close: () => fh.close(),
    },
    framer,
    ctx,
    onProgress,
    signal,
  );
}

/**
 * An open descriptor (standard input), read by readFrom: a file as a file, a pipe by the pipe reader's
 * thread — not through process.stdin, whose stream reads a pipe 64 KiB at a time on the main thread between
 * everything else it does (`cat 1GB.pcap | rstwatch analyze -` took twice as long as reading the file:
 * docs/analyze.md, "Limits and performance"). Without that thread (the TypeScript sources), reads go
 * through libuv's thread pool, and a descriptor left non-blocking by whoever shared it (EAGAIN) is polled.
 */
function readDescriptor(
  fd: number,
  framer: Framer,
  ctx: ReadContext,
  onProgress: ((n: number) => void) | undefined,
  signal: AbortSignal | undefined,
): Promise<void> {
  const readOnce = (b: Uint8Array, length: number, position: number | null) =>
    new Promise<number>((resolve, reject) => {
      fsRead(fd, b, 0, length, position, (err, n) => (err ? reject(err) : resolve(n)));
    });
  return readFrom(
    {
      name: fd === 0 ? 'standard input' : `descriptor ${fd}`,
      fd,
      read: async (b, length, position) => {
        for (let waits = 0; ; waits++) {
          try {
            return await readOnce(b, length, position);
          } catch (err) {
            if (sysCode(err) !== 'EAGAIN') throw err;
            await new Promise((resolve) => setTimeout(resolve, Math.min(20, 1 + waits)));
          }
        }
      },
      isRegular: () => new Promise((resolve) => fstat(fd, (err, st) => resolve(err === null && st.isFile()))),
      close: async () => undefined, // not ours to close
    },
    framer,
    ctx,
    onProgress,
    signal,
  );
}

/**
 * Reads `src` to its end in CHUNK-byte reads into two buffers: while the parser works on one, libuv's thread
 * pool already copies the next chunk into the other, so the copy runs on the second core instead of in line
 * (docs/benchmarks.md, part 4). One read at a time, the next started as soon as the previous one returned:
 * the chunks come in order whatever the timing, from a file (positional reads) as from a pipe, a FIFO or a
 * terminal (sequential reads, which return what is there). A regular file ends at its first short read,
 * anything else at a read of 0 bytes. Gzip (found by its magic in the first chunk) goes through a stream
 * that starts with the chunk already read, so that a pipe loses nothing.
 */
async function readFrom(
  src: ByteSource,
  framer: Framer,
  ctx: ReadContext,
  onProgress: ((n: number) => void) | undefined,
  signal: AbortSignal | undefined,
): Promise<void> {
  // Aborting resolves this (to −1): a read blocked on a pipe whose writer never ends is then left behind.
  const aborted = new Promise<number>((resolve) => {
    if (signal === undefined) return;
    if (signal.aborted) resolve(-1);
    else signal.addEventListener('abort', () => resolve(-1), { once: true });
  });
  let regular = false;
  try {
    regular = await src.isRegular();
  } catch {
    // fstat failing on an open descriptor: read it as a stream of unknown length
  }
  if (!regular) {
    const piped = pipeChunks(src.fd, signal);
    if (piped !== undefined) {
      try {
        await readStream(piped.chunks, framer, ctx, onProgress, src.name, signal, true);
      } finally {
        await piped.chunks.return(undefined); // tells the thread to stop, wherever reading ended
        // Closed once the reader thread is out of its last read: that read may wait for a writer that never
        // writes (reading stopped early on a live pipe), and a descriptor closed under it could be reused.
        void piped.ended.then(() => src.close().catch(() => undefined));
      }
      return;
    }
  }
  if (regular && ctx.bulk !== undefined && !isGzip(src.fd)) {
    await readInLine(src, framer, ctx, onProgress, signal);
    return;
  }
  const bufs = [new Uint8Array(CHUNK), new Uint8Array(CHUNK)];
  let total = 0;
  let position = 0;
  const readAt = (b: Uint8Array) => {
    const p = src.read(b, CHUNK, regular ? position : null);
    position += CHUNK;
    return p;
  };
  let pending: Promise<number> | undefined;
  let abandoned: Promise<number> | undefined;
  let gzipHead: Uint8Array | undefined;
  try {
    let first = true;
    let which = 0;
    pending = readAt(bufs[0]!);
    while (!ctx.stopped) {
      const buf = bufs[which]!;
      if (pending === undefined) break;
      let bytesRead: number;
      try {
        bytesRead = signal === undefined ? await pending : await Promise.race([pending, aborted]);
      } catch (err) {
        pending = undefined;
        ctx.problem(CAPTURE.READ, `error reading ${src.name}: ${describeIoError(err)}`, total);
        break;
      }
      if (bytesRead < 0) {
        // Interrupted: a read may still wait on a pipe; it is not waited for (readCapture reports the stop).
        abandoned = pending;
        pending = undefined;
        break;
      }
      pending = undefined;
      if (bytesRead === 0) break;
      if (first && bytesRead >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
        gzipHead = buf.slice(0, bytesRead);
        break;
      }
      first = false;
      total += bytesRead;
      // The next read starts before this chunk is parsed, except after a file's last (short) chunk.
      if (!regular || bytesRead === CHUNK) {
        which ^= 1;
        pending = readAt(bufs[which]!);
      }
      onProgress?.(total);
      framer.push(bytesRead === CHUNK ? buf : buf.subarray(0, bytesRead));
    }
    if (gzipHead !== undefined) {
      const head = gzipHead;
      // The compressed bytes: the first chunk, then the rest of the source (a regular file by position).
      const compressed = async function* (): AsyncGenerator<Uint8Array> {
        yield head;
        let at = head.length;
        for (;;) {
          const b = new Uint8Array(CHUNK);
          const n = await src.read(b, CHUNK, regular ? at : null);
          if (n === 0) return;
          at += n;
          yield n === CHUNK ? b : b.subarray(0, n);
        }
      };
      await readStream(
        Readable.from(compressed(), { objectMode: false }),
        framer,
        ctx,
        onProgress,
        src.name,
        signal,
      );
    }
  } finally {
    // A read still in flight (reading stopped early) must finish before the file is closed; one abandoned
    // after an interruption may never finish (a pipe nobody closes): the file is closed when it does.
    if (pending !== undefined) await pending.catch(() => undefined);
    if (abandoned !== undefined)
      void abandoned.then(
        () => src.close(),
        () => src.close(),
      );
    else await src.close().catch(() => undefined);
  }
}

/** The first two bytes of a regular file are gzip's magic (an unreadable file: no; the reader will say why). */
function isGzip(fd: number): boolean {
  const b = new Uint8Array(2);
  try {
    return readSync(fd, b, 0, 2, 0) === 2 && b[0] === 0x1f && b[1] === 0x8b;
  } catch {
    return false;
  }
}

/**
 * How long reading in line keeps the event loop waiting, at most (ms): then a timer turn lets timers, I/O and
 * signal handlers run (an abort, a progress redraw). A turn costs ~1 ms; every 200 ms it is ~0.5 %.
 */
let inLineYieldMs = 200;

/** For tests: the in-line reader's yield interval (ms). */
export function setInLineYieldMs(ms: number): void {
  inLineYieldMs = ms;
}

/**
 * A regular file for the native engine (ctx.bulk), chunk after chunk: read ahead by a thread of the engine's
 * (ctx.bulk.readAhead, native/readahead.c) while this thread runs the engine on the chunks already read;
 * without one, read in this thread. Not in libuv's thread pool: a promise and an event-loop turn per chunk
 * cost more than the copy (docs/benchmarks.md, part 7, rounds 4 and 7). Every inLineYieldMs the event loop
 * gets a turn. A regular file ends at its first short read, as in readFrom. A chunk the read-ahead thread
 * could not read is read again here, for Node's own error (the same problem text either way).
 */
async function readInLine(
  src: ByteSource,
  framer: Framer,
  ctx: ReadContext,
  onProgress: ((n: number) => void) | undefined,
  signal: AbortSignal | undefined,
): Promise<void> {
  let ahead = ctx.bulk?.readAhead?.(src.fd, CHUNK);
  // Two buffers in turn, as readFrom: a chunk's memory is not reused before the next chunk was taken.
  let bufs: Uint8Array[] | undefined;
  let total = 0;
  let lastYield = systemClock.monoMs();
  try {
    for (let i = 0; !ctx.stopped && signal?.aborted !== true; i++) {
      let chunk = ahead?.next();
      if (chunk === undefined || typeof chunk === 'number') {
        if (ahead !== undefined) {
          ahead.stop();
          ahead = undefined;
        }
        bufs ??= [new Uint8Array(CHUNK), new Uint8Array(CHUNK)];
        const buf = bufs[i & 1]!;
        try {
          const n = readSync(src.fd, buf, 0, CHUNK, total);
          chunk = n === CHUNK ? buf : buf.subarray(0, n);
        } catch (err) {
          ctx.problem(CAPTURE.READ, `error reading ${src.name}: ${describeIoError(err)}`, total);
          break;
        }
      }
      const n = chunk.length;
      if (n === 0) break;
      total += n;
      onProgress?.(total);
      framer.push(chunk);
      if (n < CHUNK) break;
      if (systemClock.monoMs() - lastYield >= inLineYieldMs) {
        // A timer, not setImmediate: an immediate runs in the same loop turn, before any timer or I/O.
        await new Promise((resolve) => setTimeout(resolve, 0));
        lastYield = systemClock.monoMs();
      }
    }
  } finally {
    // The thread ends before the descriptor it reads is closed.
    ahead?.stop();
    await src.close().catch(() => undefined);
  }
}

function describeIoError(err: unknown): string {
  const code = sysCode(err);
  return code !== undefined && !errorMessage(err).includes(code)
    ? `${code}: ${errorMessage(err)}`
    : errorMessage(err);
}

function asBytes(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  throw new TypeError(
    'readCapture needs a binary stream (no encoding set); got a chunk of type ' + typeof chunk,
  );
}

/**
 * Reads a stream, or any async iterable of byte chunks. `volatile`: each chunk is only valid until the next
 * one is asked for (the pipe reader's views into its ring): the few kept longer — the first bytes while
 * looking for the gzip magic, every chunk given to gunzip — are copied.
 */
async function readStream(
  source: NodeJS.ReadableStream | AsyncIterable<Uint8Array>,
  framer: Framer,
  ctx: ReadContext,
  onProgress: ((n: number) => void) | undefined,
  name: string,
  signal?: AbortSignal,
  volatile = false,
): Promise<void> {
  const it = (source as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  let total = 0;
  let sourceFailed = false;
  // Peek at 2 bytes for the gzip magic (a pipe may deliver a byte at a time).
  const head: Uint8Array[] = [];
  let headLen = 0;
  try {
    while (headLen < 2) {
      const r = await it.next();
      if (r.done) break;
      const c = asBytes(r.value);
      // Kept across the next read only when it holds less than the two bytes looked for.
      head.push(volatile && headLen + c.length < 2 ? c.slice() : c);
      headLen += c.length;
      total += c.length;
      onProgress?.(total);
    }
  } catch (err) {
    if (err instanceof TypeError) throw err;
    ctx.problem(CAPTURE.READ, `error reading ${name}: ${describeIoError(err)}`, total);
    return;
  }
  const first = head.length === 1 ? head[0]! : concat(head, headLen);
  // A throwing callback is a programmer error: it must reach the caller, not become E_CAPTURE_READ.
  let userError: unknown;
  const push = (c: Uint8Array) => {
    try {
      framer.push(c);
    } catch (err) {
      userError = err;
      throw err;
    }
  };
  const rest = async function* (copy: boolean): AsyncGenerator<Uint8Array> {
    yield copy ? first.slice() : first;
    try {
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        const c = asBytes(r.value);
        total += c.length;
        onProgress?.(total);
        yield copy ? c.slice() : c;
      }
    } catch (err) {
      if (!(err instanceof TypeError)) sourceFailed = true;
      throw err;
    } finally {
      await it.return?.();
    }
  };

  if (first.length >= 2 && first[0] === 0x1f && first[1] === 0x8b) {
    // zlib only for a compressed capture: most are not, and the module costs every start.
    const { createGunzip } = await import('node:zlib');
    const gunzip = createGunzip({ chunkSize: 256 * 1024 });
    const done = pipeline(Readable.from(rest(volatile), { objectMode: false }), gunzip).catch(
      () => undefined,
    );
    try {
      for await (const chunk of gunzip) {
        push(chunk as Uint8Array);
        if (ctx.stopped || signal?.aborted === true) break;
      }
    } catch (err) {
      if (err === userError || err instanceof TypeError) throw err;
      if (sourceFailed) ctx.problem(CAPTURE.READ, `error reading ${name}: ${describeIoError(err)}`, total);
      else ctx.problem(CAPTURE.GZIP, `gzip data is corrupt or cut short: ${errorMessage(err)}`, total);
    }
    gunzip.destroy();
    await done;
    return;
  }

  try {
    for await (const c of rest(false)) {
      push(c);
      if (ctx.stopped || signal?.aborted === true) break;
    }
  } catch (err) {
    if (err === userError || err instanceof TypeError) throw err;
    ctx.problem(CAPTURE.READ, `error reading ${name}: ${describeIoError(err)}`, total);
  }
}

function concat(parts: Uint8Array[], len: number): Uint8Array {
  const out = new Uint8Array(len);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
