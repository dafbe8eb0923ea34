/**
 * Keeping tcpdump's output valid: find the end of the last whole record of a classic pcap file, cut the file
 * there (after a full disk, a killed tcpdump, or to honour --max-bytes exactly), and convert it to pcapng.
 *
 * tcpdump 4.99 with libpcap 1.10 writes classic pcap only (pcap_dump_open), in the host's byte order, with
 * 16-byte record headers. With -U every record is flushed whole, but a full disk leaves a record cut in the
 * middle (tcpdump keeps going and reports nothing: measured), and SIGKILL can land between two writes.
 * Record layout: draft-ietf-opsawg-pcap §4–5 (24-byte file header; ts_sec, ts_usec|nsec, caplen, len).
 */

import { open, rename, truncate, unlink } from 'node:fs/promises';

const CHUNK = 1 << 20;
/** libpcap's largest snap length for most link types; a bigger caplen means the framing is lost. */
const MAX_CAPLEN = 262_144;

export interface PcapHeader {
  littleEndian: boolean;
  nanoseconds: boolean;
  snaplen: number;
  linkType: number;
}

export interface PcapScan {
  header: PcapHeader | undefined;
  /** Bytes from the start up to the end of the last whole record that fits in the limit (24 for none). */
  validBytes: number;
  records: number;
  fileBytes: number;
}

function parseHeader(b: Uint8Array): PcapHeader | undefined {
  if (b.length < 24) return undefined;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const le = dv.getUint32(0, true);
  const be = dv.getUint32(0, false);
  let littleEndian: boolean;
  let nanoseconds: boolean;
  if (le === 0xa1b2c3d4 || le === 0xa1b23c4d) {
    littleEndian = true;
    nanoseconds = le === 0xa1b23c4d;
  } else if (be === 0xa1b2c3d4 || be === 0xa1b23c4d) {
    littleEndian = false;
    nanoseconds = be === 0xa1b23c4d;
  } else return undefined;
  return {
    littleEndian,
    nanoseconds,
    snaplen: dv.getUint32(16, littleEndian),
    linkType: dv.getUint32(20, littleEndian) & 0xffff,
  };
}

/**
 * Walk the record headers (data is skipped, not read) and return where the last whole record ends, never past
 * `limitBytes`. `onRecord` receives each whole record (header + data) when given; then data is read too.
 */
export async function scanPcap(
  path: string,
  opts: { limitBytes?: number; onRecord?: (rec: Uint8Array, h: PcapHeader) => Promise<void> | void } = {},
): Promise<PcapScan> {
  const fh = await open(path, 'r');
  try {
    const fileBytes = (await fh.stat()).size;
    const limit = Math.min(fileBytes, opts.limitBytes ?? Number.POSITIVE_INFINITY);
    const head = new Uint8Array(24);
    const { bytesRead } = await fh.read(head, 0, 24, 0);
    const header = bytesRead === 24 ? parseHeader(head) : undefined;
    if (header === undefined) return { header, validBytes: 0, records: 0, fileBytes };
    // Read 1 MiB at a time and walk the records inside; a record cut by the chunk's end is read again at
    // the start of the next chunk (a record is at most 16 + 262144 bytes, well under a chunk).
    let pos = 24;
    let records = 0;
    const chunk = new Uint8Array(CHUNK);
    const cv = new DataView(chunk.buffer);
    while (pos + 16 <= limit) {
      const want = Math.min(CHUNK, limit - pos);
      const r = await fh.read(chunk, 0, want, pos);
      const got = r.bytesRead;
      let at = 0;
      let progressed = false;
      while (at + 16 <= got) {
        const caplen = cv.getUint32(at + 8, header.littleEndian);
        if (caplen > MAX_CAPLEN) return { header, validBytes: pos + at, records, fileBytes };
        const end = at + 16 + caplen;
        if (end > got) break;
        if (opts.onRecord) await opts.onRecord(chunk.subarray(at, end), header);
        at = end;
        records++;
        progressed = true;
      }
      pos += at;
      if (!progressed || got < want) break;
    }
    return { header, validBytes: pos, records, fileBytes };
  } finally {
    await fh.close();
  }
}

/**
 * Cut the file after its last whole record (and within `limitBytes`). Returns the scan and the bytes removed.
 * A file without even a valid header is left alone (the caller reports it).
 */
export async function repairPcap(
  path: string,
  limitBytes?: number,
): Promise<PcapScan & { cutBytes: number }> {
  const scan = await scanPcap(path, limitBytes === undefined ? {} : { limitBytes });
  if (scan.header === undefined || scan.validBytes >= scan.fileBytes) return { ...scan, cutBytes: 0 };
  await truncate(path, scan.validBytes);
  return { ...scan, cutBytes: scan.fileBytes - scan.validBytes };
}

/** Pad to 32 bits (pcapng blocks and options are 4-byte aligned). */
const pad4 = (n: number) => (n + 3) & ~3;

/**
 * Write `pcapPath` as pcapng to `outPath` (draft-ietf-opsawg-pcapng): one Section Header Block, one Interface
 * Description Block with the link type, snap length, interface name and `if_tsresol` (6 for µs, 9 for ns
 * pcap), then one Enhanced Packet Block per record. Written to a temporary name and renamed, so `outPath` is
 * either absent or complete.
 */
export async function pcapToPcapng(pcapPath: string, outPath: string, ifaceName: string): Promise<number> {
  const tmp = `${outPath}.tmp`;
  // Packets are private (0600, like the pcap tcpdump writes for us); 'wx' after unlink: never through a
  // symbolic link planted under the temporary name (docs/security.md).
  await unlink(tmp).catch(() => undefined);
  const out = await open(tmp, 'wx', 0o600);
  let ok = false;
  try {
    let buf = new Uint8Array(CHUNK);
    let dv = new DataView(buf.buffer);
    let used = 0;
    const flush = async () => {
      if (used > 0) await out.write(buf, 0, used);
      used = 0;
    };
    const room = async (n: number) => {
      if (used + n <= buf.length) return;
      await flush();
      if (n > buf.length) {
        buf = new Uint8Array(n);
        dv = new DataView(buf.buffer);
      }
    };
    let wroteHeader = false;
    const writeHeaders = async (h: PcapHeader) => {
      await room(28 + 64);
      // SHB: type, length, byte-order magic, version 1.0, section length -1 (unknown).
      dv.setUint32(used, 0x0a0d0d0a, true);
      dv.setUint32(used + 4, 28, true);
      dv.setUint32(used + 8, 0x1a2b3c4d, true);
      dv.setUint16(used + 12, 1, true);
      dv.setUint16(used + 14, 0, true);
      dv.setBigInt64(used + 16, -1n, true);
      dv.setUint32(used + 24, 28, true);
      used += 28;
      const name = new TextEncoder().encode(ifaceName.slice(0, 64));
      const optLen = 4 + pad4(name.length) + 4 + 4 + 4; // if_name, if_tsresol (1 byte padded), opt_endofopt
      const idbLen = 20 + optLen;
      const at = used;
      buf.fill(0, at, at + idbLen);
      dv.setUint32(at, 1, true);
      dv.setUint32(at + 4, idbLen, true);
      dv.setUint16(at + 8, h.linkType, true);
      dv.setUint32(at + 12, h.snaplen, true);
      let o = at + 16;
      dv.setUint16(o, 2, true); // if_name
      dv.setUint16(o + 2, name.length, true);
      buf.set(name, o + 4);
      o += 4 + pad4(name.length);
      dv.setUint16(o, 9, true); // if_tsresol
      dv.setUint16(o + 2, 1, true);
      buf[o + 4] = h.nanoseconds ? 9 : 6;
      o += 8;
      // opt_endofopt: 4 zero bytes (already zero)
      dv.setUint32(at + idbLen - 4, idbLen, true);
      used += idbLen;
      wroteHeader = true;
    };
    const units = (h: PcapHeader) => (h.nanoseconds ? 1_000_000_000n : 1_000_000n);
    let packets = 0;
    const scan = await scanPcap(pcapPath, {
      onRecord: async (rec, h) => {
        if (!wroteHeader) await writeHeaders(h);
        const rdv = new DataView(rec.buffer, rec.byteOffset, rec.byteLength);
        const sec = rdv.getUint32(0, h.littleEndian);
        const frac = rdv.getUint32(4, h.littleEndian);
        const caplen = rdv.getUint32(8, h.littleEndian);
        const len = rdv.getUint32(12, h.littleEndian);
        const ts = BigInt(sec) * units(h) + BigInt(frac);
        const blockLen = 28 + pad4(caplen) + 4;
        await room(blockLen);
        const at = used;
        dv.setUint32(at, 6, true);
        dv.setUint32(at + 4, blockLen, true);
        dv.setUint32(at + 8, 0, true); // interface 0
        dv.setUint32(at + 12, Number(ts >> 32n), true);
        dv.setUint32(at + 16, Number(ts & 0xffffffffn), true);
        dv.setUint32(at + 20, caplen, true);
        dv.setUint32(at + 24, len, true);
        buf.set(rec.subarray(16, 16 + caplen), at + 28);
        buf.fill(0, at + 28 + caplen, at + 28 + pad4(caplen));
        dv.setUint32(at + blockLen - 4, blockLen, true);
        used += blockLen;
        packets++;
      },
    });
    if (scan.header === undefined) throw new Error(`${pcapPath} is not a classic pcap file`);
    if (!wroteHeader) await writeHeaders(scan.header);
    await flush();
    await out.sync();
    ok = true;
    return packets;
  } finally {
    await out.close();
    if (ok) await rename(tmp, outPath);
    else await unlink(tmp).catch(() => undefined);
  }
}
