/**
 * What the pcap and pcapng parsers share: stable problem codes, the summary they fill, and the contract with
 * the framer in reader.ts (which owns the chunks and the rare record that spans two of them).
 */
import type { PacketRecord, ReadSummary } from './types.js';

/** Stable codes (docs/captures.md, docs/errors.md). */
export const CAPTURE = {
  EMPTY: 'E_CAPTURE_EMPTY',
  MAGIC: 'E_CAPTURE_MAGIC',
  VERSION: 'E_CAPTURE_VERSION',
  TRUNCATED: 'E_CAPTURE_TRUNCATED',
  CAPLEN: 'E_CAPTURE_CAPLEN',
  BLOCK: 'E_CAPTURE_BLOCK',
  INTERFACE: 'E_CAPTURE_INTERFACE',
  GZIP: 'E_CAPTURE_GZIP',
  READ: 'E_CAPTURE_READ',
  INTERRUPTED: 'E_CAPTURE_INTERRUPTED',
  LINKTYPE: 'W_CAPTURE_LINKTYPE',
  DROPS: 'W_CAPTURE_DROPS',
} as const;

/** libpcap's MAXIMUM_SNAPLEN: the largest caplen most link types may have; larger means a corrupt file. */
export const DEFAULT_MAX_PACKET_BYTES = 262_144;

/** libpcap's initial pcapng block-size cap: a larger block is treated as corruption, not read. */
export const MAX_BLOCK_BYTES = 16 * 1024 * 1024;

/**
 * Interface descriptions kept per file. Each is held for the whole read (packets name them by index), and an
 * IDB is only 20 bytes: without a bound, 1 MB of gzip held 20 million of them and took 3 GB (measured;
 * docs/security.md). Real captures have a handful; dumpcap on every interface of a big router, hundreds.
 */
export const MAX_INTERFACES = 65_536;
/** Bytes of an interface's name (if_name) kept: the option may be 64 KiB long. */
export const MAX_IFACE_NAME_BYTES = 256;

/**
 * A format parser driven by the framer. The stream is cut into units (a file header, a record, a block):
 * `need` says how many contiguous bytes the next unit takes given what is available (a header size when the
 * length is not yet visible), or −1 after recording a problem that stops reading; `consume` gets exactly
 * one whole unit.
 */
export interface UnitParser {
  need(buf: Uint8Array, off: number, avail: number, absOffset: number): number;
  consume(buf: Uint8Array, off: number, len: number, absOffset: number): void;
  /** End of input with `pending` bytes of an unfinished unit at absOffset. */
  finish(pending: number, absOffset: number): void;
  /**
   * Optional fast path: consume every whole unit of buf[off, end) that needs no special care and return the
   * number of bytes consumed (0 when the next unit needs need/consume: a header, a problem, a short tail).
   */
  run?(buf: Uint8Array, off: number, end: number, absOffset: number): number;
}

const NO_BYTES = new Uint8Array(0);

/**
 * The one PacketRecord a reader hands out. `buf`/`dataOffset`/`caplen` locate the bytes without allocating;
 * `data` makes the view only when somebody asks for it (a Uint8Array view per packet was the reader's largest
 * cost on a 1 GB capture: docs/benchmarks.md, part 4).
 */
class Record implements PacketRecord {
  frame = 0;
  buf: Uint8Array = NO_BYTES;
  dataOffset = 0;
  caplen = 0;
  origLen = 0;
  tsSec = 0;
  tsNsec = 0;
  linkType = 0;
  interfaceId = 0;
  direction: 0 | 1 | 2 = 0;
  offset = 0;

  get data(): Uint8Array {
    return this.buf.subarray(this.dataOffset, this.dataOffset + this.caplen);
  }
}

/** State shared by a parser and readCapture. */
/**
 * Takes a run of classic pcap records (16-byte headers, lengths as written) from `off` on, as PcapParser.run
 * would emit them, and returns the bytes it used: it stops before a record not wholly in [off, end), one
 * claiming more than maxPacketBytes, or one it leaves to onPacket. `packets` and `bytes` then say how many
 * records and captured bytes it took (the frames are numbered from `frame` + 1).
 */
/** Chunks of a regular file read ahead by another thread (native/readahead.c), in order from offset 0. */
export interface ReadAheadSource {
  /**
   * The next chunk (empty at the end; valid until the call after next), or a negative number when that
   * chunk could not be read (the caller reads it itself, for the error).
   */
  next(): Uint8Array | number;
  /** The thread ends (after the read it is in): before the descriptor is closed. */
  stop(): void;
}

export interface BulkReader {
  packets: number;
  bytes: number;
  /** Reads regular file `fd` ahead in `chunk`-byte pieces, when it can (else undefined). */
  readAhead?(fd: number, chunk: number): ReadAheadSource | undefined;
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
  ): number;
  /**
   * Enhanced packet blocks from `off` on (pcapng.ts run): `ifaces` holds [linkType, units per second, ns per
   * unit (0: not a power of ten), tsOffsetSec] per interface of the section. Returns the bytes it took.
   */
  pcapng?(
    buf: Uint8Array,
    off: number,
    end: number,
    le: boolean,
    ifaces: Float64Array,
    maxPacketBytes: number,
    frame: number,
  ): number;
}

export class ReadContext {
  readonly rec: PacketRecord = new Record();
  readonly summary: ReadSummary = {
    format: 'pcap',
    variant: 'unknown',
    packets: 0,
    bytes: 0,
    interfaces: [],
    partial: false,
    problems: [],
  };
  /** Set once a structural error stops reading. */
  stopped = false;
  /** Takes runs of pcap records in place of onPacket (ReadOptions.bulk). */
  bulk: BulkReader | undefined = undefined;
  private readonly warnedLinkTypes = new Set<number>();

  constructor(
    readonly onPacket: (p: PacketRecord) => void,
    readonly maxPacketBytes: number,
  ) {}

  /** Record a problem; an error also marks the result partial and stops reading. */
  problem(code: string, message: string, offset: number, severity: 'error' | 'warning' = 'error'): void {
    this.summary.problems.push({ code, message: `${message} (at byte offset ${offset})`, severity, offset });
    if (severity === 'error') {
      this.summary.partial = true;
      this.stopped = true;
    }
  }

  /** W_CAPTURE_LINKTYPE once per link type. */
  warnLinkType(linkType: number, offset: number, supported: boolean): void {
    if (supported || this.warnedLinkTypes.has(linkType)) return;
    this.warnedLinkTypes.add(linkType);
    this.problem(
      CAPTURE.LINKTYPE,
      `link type ${linkType} is not decoded: its frames are counted but their TCP resets are not seen`,
      offset,
      'warning',
    );
  }

  /** Hand one record to the caller: its bytes are buf[off, off+caplen) (`data` is a view of them). */
  emit(buf: Uint8Array, off: number, caplen: number): void {
    const rec = this.rec;
    rec.frame = ++this.summary.packets;
    rec.caplen = caplen;
    rec.buf = buf;
    rec.dataOffset = off;
    this.summary.bytes += caplen;
    this.onPacket(rec);
  }
}

/** Byte-order aware readers for the header fields (no DataView: nothing to allocate per buffer). */
export function u16(b: Uint8Array, o: number, le: boolean): number {
  return le ? b[o]! | (b[o + 1]! << 8) : (b[o]! << 8) | b[o + 1]!;
}

export function u32(b: Uint8Array, o: number, le: boolean): number {
  return le
    ? (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0
    : ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** Unsigned 64-bit as a number (exact below 2^53, which every real counter is). */
export function u64(b: Uint8Array, o: number, le: boolean): number {
  const first = u32(b, o, le);
  const second = u32(b, o + 4, le);
  return le ? second * 4294967296 + first : first * 4294967296 + second;
}

/** Signed 64-bit (if_tsoffset) as a number. */
export function i64(b: Uint8Array, o: number, le: boolean): number {
  const first = u32(b, o, le);
  const second = u32(b, o + 4, le);
  const hi = le ? second | 0 : first | 0;
  const lo = le ? first : second;
  return hi * 4294967296 + lo;
}

export function hex(b: Uint8Array, off: number, n: number): string {
  let s = '';
  for (let i = 0; i < n && off + i < b.length; i++) {
    s += (i ? ' ' : '') + b[off + i]!.toString(16).padStart(2, '0');
  }
  return s;
}
