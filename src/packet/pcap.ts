/**
 * Classic pcap (draft-ietf-opsawg-pcap; libpcap sf-pcap.c for the quirks).
 *
 * File header 24 bytes, then records of a 16-byte header (24 for the 0xA1B2CD34 "Kuznetzov" variant) and
 * caplen bytes, no padding. Mirrored from libpcap: the magic may be in either byte order and decides the order
 * of every field; versions 2.0–2.2 store caplen and len swapped, 2.3 maybe (swap when caplen > len); a caplen
 * above the maximum is a corrupt file (stop); a caplen above the snap length is tolerated and the data cut to
 * the snap length (the Solaris 2.3 bug), the rest of the record being skipped.
 */
import { isSupportedLinkType } from './link.js';
import { CAPTURE, hex, type ReadContext, type UnitParser, u16, u32 } from './parser.js';

export const PCAP_MAGIC = {
  USEC: 0xa1b2c3d4,
  NSEC: 0xa1b23c4d,
  KUZNETZOV: 0xa1b2cd34,
  NAVTEL: 0xa12b3c4d,
} as const;

/** The four magics we read, as a little-endian u32 of the first four bytes → [little-endian?, kind]. */
export function pcapMagicKind(b: Uint8Array): { le: boolean; magic: number } | undefined {
  if (b.length < 4) return undefined;
  const le = u32(b, 0, true);
  const be = u32(b, 0, false);
  for (const m of [PCAP_MAGIC.USEC, PCAP_MAGIC.NSEC, PCAP_MAGIC.KUZNETZOV]) {
    if (le === m) return { le: true, magic: m };
    if (be === m) return { le: false, magic: m };
  }
  return undefined;
}

const LENGTHS_AS_IS = 0;
const LENGTHS_SWAPPED = 1;
const LENGTHS_MAYBE_SWAPPED = 2;

export class PcapParser implements UnitParser {
  private headerDone = false;
  private le = true;
  private nsec = false;
  private recHeader = 16;
  private snaplen = 0;
  private linkType = 0;
  private lengths = LENGTHS_AS_IS;

  constructor(private readonly ctx: ReadContext) {}

  need(buf: Uint8Array, off: number, avail: number, absOffset: number): number {
    if (!this.headerDone) return 24;
    const hl = this.recHeader;
    if (avail < hl) return hl;
    const caplen = this.caplenOf(buf, off);
    if (caplen > this.ctx.maxPacketBytes) {
      this.ctx.problem(
        CAPTURE.CAPLEN,
        `record ${this.ctx.summary.packets + 1} claims ${caplen} captured bytes, more than the maximum of ${this.ctx.maxPacketBytes}: the file is corrupt from here on`,
        absOffset,
      );
      return -1;
    }
    return hl + caplen;
  }

  /**
   * The per-packet loop for the common case (lengths as-is, the usual 16-byte header): every record that lies
   * wholly in buf[off, end) with a sane caplen is parsed and emitted here, without the two calls per record
   * of need/consume. Anything unusual (swapped lengths, a caplen over the maximum, the file header, a record
   * cut by the chunk's end) stops the loop and is left to need/consume, so behaviour is the same.
   */
  run(buf: Uint8Array, off: number, end: number, absOffset: number): number {
    if (!this.headerDone || this.lengths !== LENGTHS_AS_IS || this.recHeader !== 16) return 0;
    const ctx = this.ctx;
    const rec = ctx.rec;
    const max = ctx.maxPacketBytes;
    const snaplen = this.snaplen;
    const linkType = this.linkType;
    const mul = this.nsec ? 1 : 1000;
    const start = off;
    // Ethernet records go to the bulk reader (the native engine) first; it leaves the frames it does not
    // decode, which the loop below emits one by one.
    const bulk = linkType === 1 ? ctx.bulk : undefined;
    const s = ctx.summary;
    if (this.le) {
      while (end - off >= 16) {
        if (bulk !== undefined) {
          off += bulk.pcap(buf, off, end, true, this.nsec, snaplen, linkType, max, s.packets);
          s.packets += bulk.packets;
          s.bytes += bulk.bytes;
          if (end - off < 16) break;
        }
        const caplen =
          (buf[off + 8]! | (buf[off + 9]! << 8) | (buf[off + 10]! << 16) | (buf[off + 11]! << 24)) >>> 0;
        if (caplen > max || end - off - 16 < caplen) break;
        rec.tsSec = (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16) | (buf[off + 3]! << 24)) >>> 0;
        rec.tsNsec =
          ((buf[off + 4]! | (buf[off + 5]! << 8) | (buf[off + 6]! << 16) | (buf[off + 7]! << 24)) >>> 0) *
          mul;
        rec.origLen =
          (buf[off + 12]! | (buf[off + 13]! << 8) | (buf[off + 14]! << 16) | (buf[off + 15]! << 24)) >>> 0;
        rec.linkType = linkType;
        rec.interfaceId = 0;
        rec.direction = 0;
        rec.offset = absOffset + (off - start);
        ctx.emit(buf, off + 16, Math.min(caplen, snaplen));
        off += 16 + caplen;
        if (ctx.stopped) break;
      }
    } else {
      while (end - off >= 16) {
        if (bulk !== undefined) {
          off += bulk.pcap(buf, off, end, false, this.nsec, snaplen, linkType, max, s.packets);
          s.packets += bulk.packets;
          s.bytes += bulk.bytes;
          if (end - off < 16) break;
        }
        const caplen = u32(buf, off + 8, false);
        if (caplen > max || end - off - 16 < caplen) break;
        rec.tsSec = u32(buf, off, false);
        rec.tsNsec = u32(buf, off + 4, false) * mul;
        rec.origLen = u32(buf, off + 12, false);
        rec.linkType = linkType;
        rec.interfaceId = 0;
        rec.direction = 0;
        rec.offset = absOffset + (off - start);
        ctx.emit(buf, off + 16, Math.min(caplen, snaplen));
        off += 16 + caplen;
        if (ctx.stopped) break;
      }
    }
    return off - start;
  }

  /** Whether this record's caplen and len fields are stored the other way round (old versions). */
  private swapped(buf: Uint8Array, off: number): boolean {
    if (this.lengths === LENGTHS_AS_IS) return false;
    if (this.lengths === LENGTHS_SWAPPED) return true;
    return u32(buf, off + 8, this.le) > u32(buf, off + 12, this.le);
  }

  private caplenOf(buf: Uint8Array, off: number): number {
    return u32(buf, off + (this.swapped(buf, off) ? 12 : 8), this.le);
  }

  consume(buf: Uint8Array, off: number, len: number, absOffset: number): void {
    const ctx = this.ctx;
    if (!this.headerDone) {
      this.readHeader(buf, off, absOffset);
      return;
    }
    const le = this.le;
    const rec = ctx.rec;
    const caplen = len - this.recHeader;
    rec.tsSec = u32(buf, off, le);
    const frac = u32(buf, off + 4, le);
    rec.tsNsec = this.nsec ? frac : frac * 1000;
    rec.origLen = u32(buf, off + (this.swapped(buf, off) ? 8 : 12), le);
    rec.linkType = this.linkType;
    rec.interfaceId = 0;
    rec.direction = 0;
    rec.offset = absOffset;
    ctx.emit(buf, off + this.recHeader, Math.min(caplen, this.snaplen));
  }

  private readHeader(buf: Uint8Array, off: number, absOffset: number): void {
    const ctx = this.ctx;
    const kind = pcapMagicKind(buf.subarray(off, off + 4));
    if (!kind) {
      ctx.problem(CAPTURE.MAGIC, `not a pcap file (first bytes ${hex(buf, off, 4)})`, absOffset);
      return;
    }
    this.le = kind.le;
    this.nsec = kind.magic === PCAP_MAGIC.NSEC;
    this.recHeader = kind.magic === PCAP_MAGIC.KUZNETZOV ? 24 : 16;
    const major = u16(buf, off + 4, this.le);
    const minor = u16(buf, off + 6, this.le);
    const s = ctx.summary;
    s.format = 'pcap';
    s.variant = `pcap-${this.le ? 'le' : 'be'}${this.nsec ? '-nsec' : ''}${this.recHeader === 24 ? '-kuznetzov' : ''}`;
    if (major < 2 && !(major === 543 && minor === 0)) {
      ctx.problem(CAPTURE.VERSION, `pcap version ${major}.${minor} is too old to be read`, absOffset);
      return;
    }
    // libpcap: 2.0–2.2 (and DG/UX's 543.0) wrote caplen and len the other way round; 2.3 did sometimes.
    if ((major === 2 && minor < 3) || major === 543) this.lengths = LENGTHS_SWAPPED;
    else if (major === 2 && minor === 3) this.lengths = LENGTHS_MAYBE_SWAPPED;
    const snaplen = u32(buf, off + 16, this.le);
    this.snaplen = snaplen === 0 || snaplen > ctx.maxPacketBytes ? ctx.maxPacketBytes : snaplen;
    // Low 16 bits are the LINKTYPE; the top bits may carry an FCS length (draft-ietf-opsawg-pcap §4).
    this.linkType = u32(buf, off + 20, this.le) & 0xffff;
    s.interfaces.push({
      linkType: this.linkType,
      snaplen,
      tsUnitsPerSecond: this.nsec ? 1e9 : 1e6,
      tsOffsetSec: 0,
    });
    ctx.warnLinkType(this.linkType, absOffset + 20, isSupportedLinkType(this.linkType));
    this.headerDone = true;
  }

  finish(pending: number, absOffset: number): void {
    if (pending === 0) return;
    const what = this.headerDone
      ? `record ${this.ctx.summary.packets + 1} is cut short (${pending} bytes of it present)`
      : `the file header is cut short (${pending} of 24 bytes)`;
    this.ctx.problem(CAPTURE.TRUNCATED, `${what}: the capture ends early`, absOffset);
  }
}
