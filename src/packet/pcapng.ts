/**
 * pcapng (draft-ietf-opsawg-pcapng; libpcap sf-pcapng.c and Wireshark for behaviour).
 *
 * Unlike libpcap we support what the format allows: several sections, each with its own byte order and its
 * own interface list (ids restart at 0); interfaces with different link types, snap lengths, if_tsresol
 * (10^-n and 2^-n) and if_tsoffset. EPB, SPB and the obsolete PB carry packets; ISB statistics are kept on the
 * interface and reported as W_CAPTURE_DROPS; every other block type is skipped by its length. A block whose
 * length is absurd (< 12, not a multiple of 4, > 16 MiB, trailer ≠ header) stops reading: after that the
 * framing cannot be trusted.
 */
import { isSupportedLinkType } from './link.js';
import {
  CAPTURE,
  hex,
  i64,
  MAX_BLOCK_BYTES,
  MAX_IFACE_NAME_BYTES,
  MAX_INTERFACES,
  type ReadContext,
  type UnitParser,
  u16,
  u32,
  u64,
} from './parser.js';
import type { InterfaceInfo } from './types.js';

export const BLOCK = {
  SHB: 0x0a0d0d0a,
  IDB: 0x00000001,
  PB: 0x00000002,
  SPB: 0x00000003,
  NRB: 0x00000004,
  ISB: 0x00000005,
  EPB: 0x00000006,
} as const;

const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

interface Iface {
  info: InterfaceInfo;
  units: number;
  /** 1e9 / units when that is an integer (10^-n with n ≤ 9): the fast, exact conversion. */
  nsMul: number;
  isbOffset: number;
}

export class PcapngParser implements UnitParser {
  private le = true;
  private ifaces: Iface[] = [];
  private readonly all: Iface[] = [];
  private readonly decoder = new TextDecoder();
  /** The section's interfaces as the bulk reader takes them (run); rebuilt after an SHB or an IDB. */
  private bulkIfaces: Float64Array | undefined;

  constructor(private readonly ctx: ReadContext) {
    ctx.summary.format = 'pcapng';
    ctx.summary.variant = 'pcapng';
  }

  need(buf: Uint8Array, off: number, avail: number, absOffset: number): number {
    if (avail < 8) return 8;
    const type = u32(buf, off, this.le);
    let le = this.le;
    if (type === BLOCK.SHB) {
      if (avail < 12) return 12;
      const bom = u32(buf, off + 8, true);
      if (bom === BYTE_ORDER_MAGIC) le = true;
      else if (bom === 0x4d3c2b1a) le = false;
      else {
        this.ctx.problem(
          CAPTURE.BLOCK,
          `section header with an unknown byte-order magic ${hex(buf, off + 8, 4)}`,
          absOffset,
        );
        return -1;
      }
    }
    const len = u32(buf, off + 4, le);
    if (len < 12 || len % 4 !== 0 || len > MAX_BLOCK_BYTES) {
      const why =
        len < 12 ? 'less than 12' : len % 4 !== 0 ? 'not a multiple of 4' : `over ${MAX_BLOCK_BYTES}`;
      this.ctx.problem(
        CAPTURE.BLOCK,
        `block of type 0x${type.toString(16).padStart(8, '0')} has total length ${len} (${why}): the rest of the file cannot be framed`,
        absOffset,
      );
      return -1;
    }
    return len;
  }

  /**
   * Runs of plain enhanced packet blocks go to the bulk reader (the native engine, js_pcapng), which stops at
   * anything else — another block, a problem to report, a frame it leaves to onPacket, a direction in the
   * options — for need/consume here, so the result is the same (test/unit/native-pcapng.test.ts).
   */
  run(buf: Uint8Array, off: number, end: number, _absOffset: number): number {
    const ctx = this.ctx;
    const bulk = ctx.bulk;
    if (bulk?.pcapng === undefined || this.ifaces.length === 0) return 0;
    if (this.bulkIfaces === undefined) {
      const t = new Float64Array(this.ifaces.length * 4);
      this.ifaces.forEach((f, i) => {
        t[4 * i] = f.info.linkType;
        t[4 * i + 1] = f.units;
        t[4 * i + 2] = f.nsMul;
        t[4 * i + 3] = f.info.tsOffsetSec;
      });
      this.bulkIfaces = t;
    }
    const s = ctx.summary;
    const used = bulk.pcapng(buf, off, end, this.le, this.bulkIfaces, ctx.maxPacketBytes, s.packets);
    s.packets += bulk.packets;
    s.bytes += bulk.bytes;
    return used;
  }

  consume(buf: Uint8Array, off: number, len: number, absOffset: number): void {
    const ctx = this.ctx;
    let type = u32(buf, off, this.le);
    if (type === BLOCK.SHB) {
      this.le = u32(buf, off + 8, true) === BYTE_ORDER_MAGIC;
      type = BLOCK.SHB;
    }
    const le = this.le;
    if (u32(buf, off + len - 4, le) !== len) {
      ctx.problem(
        CAPTURE.BLOCK,
        `block of type 0x${type.toString(16).padStart(8, '0')}: trailing length ${u32(buf, off + len - 4, le)} differs from the leading ${len}`,
        absOffset,
      );
      return;
    }
    switch (type) {
      case BLOCK.SHB:
        this.section(buf, off, len, absOffset);
        break;
      case BLOCK.IDB:
        this.interface(buf, off, len, absOffset);
        break;
      case BLOCK.EPB:
        this.packet(buf, off, len, absOffset, false);
        break;
      case BLOCK.PB:
        this.packet(buf, off, len, absOffset, true);
        break;
      case BLOCK.SPB:
        this.simplePacket(buf, off, len, absOffset);
        break;
      case BLOCK.ISB:
        this.statistics(buf, off, len, absOffset);
        break;
      default:
        break; // NRB, DSB, custom, journal, unknown: skipped by length
    }
  }

  private tooShort(type: string, len: number, min: number, absOffset: number): boolean {
    if (len >= min) return false;
    this.ctx.problem(
      CAPTURE.BLOCK,
      `${type} block of ${len} bytes is shorter than its minimum ${min}`,
      absOffset,
    );
    return true;
  }

  private section(buf: Uint8Array, off: number, len: number, absOffset: number): void {
    if (this.tooShort('section header', len, 28, absOffset)) return;
    const major = u16(buf, off + 12, this.le);
    const minor = u16(buf, off + 14, this.le);
    if (major !== 1) {
      this.ctx.problem(
        CAPTURE.VERSION,
        `pcapng section version ${major}.${minor} is not supported`,
        absOffset,
      );
      return;
    }
    this.ifaces = []; // interface ids restart in every section
    this.bulkIfaces = undefined;
  }

  private interface(buf: Uint8Array, off: number, len: number, absOffset: number): void {
    if (this.tooShort('interface description', len, 20, absOffset)) return;
    if (this.all.length >= MAX_INTERFACES) {
      this.ctx.problem(
        CAPTURE.INTERFACE,
        `more than ${MAX_INTERFACES} interface descriptions: not a capture of real interfaces, reading stops here`,
        absOffset,
      );
      return;
    }
    const le = this.le;
    const info: InterfaceInfo = {
      linkType: u16(buf, off + 8, le),
      snaplen: u32(buf, off + 12, le),
      tsUnitsPerSecond: 1e6,
      tsOffsetSec: 0,
    };
    const end = off + len - 4;
    for (let p = off + 16; p + 4 <= end; ) {
      const code = u16(buf, p, le);
      const olen = u16(buf, p + 2, le);
      const v = p + 4;
      if (code === 0 || v + olen > end) break;
      if (code === 2)
        info.name = this.decoder.decode(buf.subarray(v, v + Math.min(olen, MAX_IFACE_NAME_BYTES)));
      else if (code === 9 && olen >= 1) {
        const r = buf[v]!;
        const n = r & 0x7f;
        info.tsUnitsPerSecond = r & 0x80 ? 2 ** n : 10 ** n;
      } else if (code === 14 && olen >= 8) info.tsOffsetSec = i64(buf, v, le);
      p = v + ((olen + 3) & ~3);
    }
    const units = info.tsUnitsPerSecond;
    const iface: Iface = { info, units, nsMul: 0, isbOffset: -1 };
    if (units <= 1e9 && Number.isInteger(1e9 / units) && Number.isInteger(units)) iface.nsMul = 1e9 / units;
    this.ifaces.push(iface);
    this.all.push(iface);
    this.bulkIfaces = undefined;
    this.ctx.summary.interfaces.push(info);
    this.ctx.warnLinkType(info.linkType, absOffset, isSupportedLinkType(info.linkType));
  }

  private lookup(id: number, absOffset: number, what: string): Iface | undefined {
    const iface = this.ifaces[id];
    if (iface === undefined) {
      this.ctx.problem(
        CAPTURE.INTERFACE,
        `${what} names interface ${id} but its section describes ${this.ifaces.length} interface(s)`,
        absOffset,
      );
    }
    return iface;
  }

  private packet(buf: Uint8Array, off: number, len: number, absOffset: number, obsolete: boolean): void {
    const ctx = this.ctx;
    const le = this.le;
    const name = obsolete ? 'packet block' : 'enhanced packet block';
    if (this.tooShort(name, len, 32, absOffset)) return;
    const id = obsolete ? u16(buf, off + 8, le) : u32(buf, off + 8, le);
    const iface = this.lookup(id, absOffset, `${name} ${ctx.summary.packets + 1}`);
    if (iface === undefined) return;
    const caplen = u32(buf, off + 20, le);
    if (caplen > len - 32) {
      ctx.problem(CAPTURE.BLOCK, `${name} of ${len} bytes claims ${caplen} captured bytes`, absOffset);
      return;
    }
    if (caplen > ctx.maxPacketBytes) {
      ctx.problem(
        CAPTURE.CAPLEN,
        `${name} claims ${caplen} captured bytes, more than the maximum of ${ctx.maxPacketBytes}`,
        absOffset,
      );
      return;
    }
    const rec = ctx.rec;
    rec.origLen = u32(buf, off + 24, le);
    rec.linkType = iface.info.linkType;
    rec.interfaceId = id;
    rec.offset = absOffset;
    this.timestamp(iface, u32(buf, off + 12, le), u32(buf, off + 16, le));
    // epb_flags / pack_flags (option 2): bits 0–1 are the direction, 1 inbound, 2 outbound.
    let direction: 0 | 1 | 2 = 0;
    const end = off + len - 4;
    for (let p = off + 28 + ((caplen + 3) & ~3); p + 4 <= end; ) {
      const code = u16(buf, p, le);
      const olen = u16(buf, p + 2, le);
      if (code === 0 || p + 4 + olen > end) break;
      if (code === 2 && olen === 4) {
        const dir = u32(buf, p + 4, le) & 3;
        direction = dir === 1 ? 1 : dir === 2 ? 2 : 0;
      }
      p += 4 + ((olen + 3) & ~3);
    }
    rec.direction = direction;
    ctx.emit(buf, off + 28, caplen);
  }

  private simplePacket(buf: Uint8Array, off: number, len: number, absOffset: number): void {
    const ctx = this.ctx;
    if (this.tooShort('simple packet', len, 16, absOffset)) return;
    const iface = this.lookup(0, absOffset, `simple packet block ${ctx.summary.packets + 1}`);
    if (iface === undefined) return;
    const origLen = u32(buf, off + 8, this.le);
    // The captured length is not stored: the original length cut by the snap length and the block.
    let caplen = len - 16;
    if (origLen < caplen) caplen = origLen;
    if (iface.info.snaplen !== 0 && iface.info.snaplen < caplen) caplen = iface.info.snaplen;
    if (caplen > ctx.maxPacketBytes) caplen = ctx.maxPacketBytes;
    const rec = ctx.rec;
    rec.origLen = origLen;
    rec.linkType = iface.info.linkType;
    rec.interfaceId = 0;
    rec.offset = absOffset;
    rec.tsSec = 0;
    rec.tsNsec = 0;
    rec.direction = 0;
    ctx.emit(buf, off + 12, caplen);
  }

  private statistics(buf: Uint8Array, off: number, len: number, absOffset: number): void {
    if (this.tooShort('interface statistics', len, 24, absOffset)) return;
    const le = this.le;
    const iface = this.lookup(u32(buf, off + 8, le), absOffset, 'interface statistics block');
    if (iface === undefined) return;
    const info = iface.info;
    const end = off + len - 4;
    for (let p = off + 20; p + 4 <= end; ) {
      const code = u16(buf, p, le);
      const olen = u16(buf, p + 2, le);
      const v = p + 4;
      if (code === 0 || v + olen > end) break;
      if (olen === 8) {
        if (code === 4) info.ifRecv = u64(buf, v, le);
        else if (code === 5) info.ifDrop = u64(buf, v, le);
        else if (code === 7) info.osDrop = u64(buf, v, le);
      }
      p = v + ((olen + 3) & ~3);
    }
    iface.isbOffset = absOffset;
  }

  /**
   * A 64-bit count of interface units → seconds + nanoseconds, exactly and without BigInt: long division by
   * 16-bit limbs keeps every intermediate below 2^53 for resolutions up to 2^37 units per second.
   */
  private timestamp(iface: Iface, hi: number, lo: number): void {
    const rec = this.ctx.rec;
    const units = iface.units;
    let q: number;
    let r: number;
    if (units <= 137438953472) {
      q = 0;
      r = 0;
      for (let i = 0; i < 4; i++) {
        const limb = i === 0 ? hi >>> 16 : i === 1 ? hi & 0xffff : i === 2 ? lo >>> 16 : lo & 0xffff;
        const cur = r * 65536 + limb;
        const ql = Math.floor(cur / units);
        r = cur - ql * units;
        q = q * 65536 + ql;
      }
    } else {
      const v = hi * 4294967296 + lo;
      q = Math.floor(v / units);
      r = v - q * units;
    }
    rec.tsSec = q + iface.info.tsOffsetSec;
    rec.tsNsec = iface.nsMul !== 0 ? r * iface.nsMul : Math.floor((r * 1e9) / units);
  }

  finish(pending: number, absOffset: number): void {
    if (pending !== 0) {
      this.ctx.problem(
        CAPTURE.TRUNCATED,
        `block cut short (${pending} bytes of it present): the capture ends early`,
        absOffset,
      );
    }
    for (let i = 0; i < this.all.length; i++) {
      const iface = this.all[i]!;
      const drops = (iface.info.ifDrop ?? 0) + (iface.info.osDrop ?? 0);
      if (drops > 0) {
        const name = iface.info.name ?? `interface ${i}`;
        this.ctx.problem(
          CAPTURE.DROPS,
          `${name} lost ${drops} packet(s) during capture (ifdrop ${iface.info.ifDrop ?? 0}, osdrop ${iface.info.osDrop ?? 0}${iface.info.ifRecv !== undefined ? `, of ${iface.info.ifRecv} received` : ''}): resets may be missing from the analysis`,
          iface.isbOffset,
          'warning',
        );
      }
    }
  }
}
