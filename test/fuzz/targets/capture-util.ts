/**
 * Shared by the capture targets: a reference framing of a whole capture held in memory (the parsers' own
 * need/consume/run contract, without the chunking of reader.ts), the checks every read must pass, and seeds.
 */
import { Readable } from 'node:stream';
import {
  CAPTURE,
  DEFAULT_MAX_PACKET_BYTES,
  ReadContext,
  type UnitParser,
  u32,
} from '../../../src/packet/parser.js';
import { PcapParser, pcapMagicKind } from '../../../src/packet/pcap.js';
import { BLOCK, PcapngParser } from '../../../src/packet/pcapng.js';
import { readCapture } from '../../../src/packet/reader.js';
import type { PacketRecord, ReadSummary } from '../../../src/packet/types.js';
import * as b from '../../fixtures/pcap/build.js';
import { CORPUS, FIXTURES, listFiles, readSeed } from '../engine/paths.js';
import { check, checkCode } from '../engine/target.js';

/** What a read produced, in a form two reads can be compared by. */
export interface ReadOutcome {
  summary: ReadSummary;
  /** Sum of the caplen of the records handed out. */
  bytes: number;
  /** One line per record: frame, lengths, time, link type, interface, direction, hash of the bytes. */
  records: string[];
}

/** FNV-1a over the bytes: cheap, and two reads handing out different bytes differ. */
function hash(b: Uint8Array, off: number, len: number): number {
  let h = 0x811c9dc5;
  for (let i = off; i < off + len; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h >>> 0;
}

/** The callback every read uses: checks the record where it stands and describes it. */
export function recorder(maxPacketBytes: number): {
  onPacket: (p: PacketRecord) => void;
  records: string[];
  bytes: () => number;
} {
  const records: string[] = [];
  let bytes = 0;
  const onPacket = (p: PacketRecord) => {
    check(p.frame === records.length + 1, `record numbered ${p.frame} after ${records.length} records`);
    check(
      Number.isInteger(p.caplen) && p.caplen >= 0 && p.caplen <= maxPacketBytes,
      `record ${p.frame}: caplen ${p.caplen} outside 0..${maxPacketBytes}`,
    );
    check(
      p.dataOffset >= 0 && p.dataOffset + p.caplen <= p.buf.length,
      `record ${p.frame}: bytes [${p.dataOffset}, ${p.dataOffset + p.caplen}) outside its ${p.buf.length}-byte buffer`,
    );
    bytes += p.caplen;
    check(
      Number.isInteger(p.linkType) && p.linkType >= 0 && p.linkType <= 0xffff,
      `record ${p.frame}: link type ${p.linkType}`,
    );
    check(
      p.direction === 0 || p.direction === 1 || p.direction === 2,
      `record ${p.frame}: direction ${p.direction}`,
    );
    check(
      Number.isFinite(p.tsSec) && Number.isFinite(p.tsNsec),
      `record ${p.frame}: time ${p.tsSec}.${p.tsNsec}`,
    );
    records.push(
      `${p.frame} ${p.caplen}/${p.origLen} ${p.tsSec}.${p.tsNsec} lt${p.linkType} if${p.interfaceId} d${p.direction} ${hash(p.buf, p.dataOffset, p.caplen)}`,
    );
    // The lazily made view (PacketRecord.data) must show the same bytes, now and then.
    if (records.length % 64 === 1) {
      check(
        p.data.length === p.caplen,
        `record ${p.frame}: data view of ${p.data.length} bytes, caplen ${p.caplen}`,
      );
    }
  };
  return { onPacket, records, bytes: () => bytes };
}

/** Checks of a summary against the records read and the input's length. */
export function checkSummary(r: ReadOutcome, inputBytes: number, what: string): void {
  const s = r.summary;
  const bytes = r.bytes;
  check(
    s.packets === r.records.length,
    `${what}: summary says ${s.packets} packets, ${r.records.length} were handed out`,
  );
  check(s.bytes === bytes, `${what}: summary says ${s.bytes} bytes, records hold ${bytes}`);
  // docs/captures.md: every error sets partial, except E_CAPTURE_EMPTY (nothing was there to be cut short).
  const hasError = s.problems.some((p) => p.severity === 'error' && p.code !== 'E_CAPTURE_EMPTY');
  check(s.partial === hasError, `${what}: partial=${s.partial} but ${hasError ? 'an' : 'no'} error problem`);
  for (const p of s.problems) {
    checkCode(p.code, what);
    check(p.message.length > 0, `${what}: ${p.code} without a message`);
    check(
      Number.isInteger(p.offset) && p.offset >= 0 && p.offset <= inputBytes,
      `${what}: ${p.code} at offset ${p.offset} of a ${inputBytes}-byte capture`,
    );
  }
  check(
    s.problems.filter((p) => p.severity === 'error').length <= 1,
    `${what}: more than one error (reading goes on after a stop)`,
  );
}

/**
 * Read a capture held in memory the way reader.ts's framer does, but with every unit contiguous: the
 * reference the chunked, streamed and gzip reads are compared with.
 */
export function readWhole(
  data: Uint8Array,
  maxPacketBytes = DEFAULT_MAX_PACKET_BYTES,
  format: 'auto' | 'pcap' | 'pcapng' = 'auto',
): ReadOutcome {
  const { onPacket, records, bytes } = recorder(maxPacketBytes);
  const ctx = new ReadContext(onPacket, maxPacketBytes);
  let parser: UnitParser | undefined;
  if (format === 'pcap') parser = new PcapParser(ctx);
  else if (format === 'pcapng') parser = new PcapngParser(ctx);
  else if (data.length === 0) {
    ctx.summary.problems.push({
      code: CAPTURE.EMPTY,
      message: 'the capture is empty (0 bytes)',
      severity: 'error',
      offset: 0,
    });
    ctx.stopped = true;
  } else if (pcapMagicKind(data)) parser = new PcapParser(ctx);
  else if (data.length >= 4 && u32(data, 0, true) === BLOCK.SHB) parser = new PcapngParser(ctx);
  else ctx.problem(CAPTURE.MAGIC, 'not a capture file', 0);
  if (parser) frame(parser, ctx, data);
  return { summary: ctx.summary, records, bytes: bytes() };
}

/** The framing loop over one contiguous buffer. */
export function frame(parser: UnitParser, ctx: ReadContext, data: Uint8Array): void {
  let pos = 0;
  for (;;) {
    if (ctx.stopped) break;
    if (parser.run) {
      const used = parser.run(data, pos, data.length, pos);
      check(
        used >= 0 && pos + used <= data.length,
        `run() consumed ${used} bytes at ${pos} of ${data.length}`,
      );
      pos += used;
      if (ctx.stopped) break;
    }
    const avail = data.length - pos;
    if (avail === 0) break;
    const need = parser.need(data, pos, avail, pos);
    if (need < 0) break;
    // A unit of no bytes would never end the loop.
    check(need > 0, `need() asked for ${need} bytes at offset ${pos}`);
    if (need > avail) {
      parser.finish(avail, pos);
      return;
    }
    parser.consume(data, pos, need, pos);
    pos += need;
  }
  parser.finish(0, pos);
}

/** Read through readCapture from a stream of the given chunks. */
export async function readChunks(
  chunks: Uint8Array[],
  maxPacketBytes = DEFAULT_MAX_PACKET_BYTES,
): Promise<ReadOutcome> {
  const { onPacket, records, bytes } = recorder(maxPacketBytes);
  const summary = await readCapture(Readable.from(chunks, { objectMode: false }), onPacket, {
    maxPacketBytes,
  });
  return { summary, records, bytes: bytes() };
}

/** Two reads must agree on everything. */
export function sameOutcome(a: ReadOutcome, b2: ReadOutcome, what: string): void {
  const sa = a.summary;
  const sb = b2.summary;
  const first = (x: ReadOutcome) => x.summary.problems.map((p) => `${p.code}@${p.offset}`).join(',');
  check(
    sa.packets === sb.packets,
    `${what}: ${sa.packets} vs ${sb.packets} packets (problems ${first(a)} vs ${first(b2)})`,
  );
  for (let i = 0; i < a.records.length; i++) {
    check(a.records[i] === b2.records[i], `${what}: record differs: ${a.records[i]} vs ${b2.records[i]}`);
  }
  check(sa.partial === sb.partial, `${what}: partial ${sa.partial} vs ${sb.partial}`);
  check(first(a) === first(b2), `${what}: problems ${first(a)} vs ${first(b2)}`);
  check(sa.format === sb.format && sa.variant === sb.variant, `${what}: ${sa.variant} vs ${sb.variant}`);
  check(JSON.stringify(sa.interfaces) === JSON.stringify(sb.interfaces), `${what}: interfaces differ`);
}

// ---- seeds ----

export function corpusFiles(ext: '.pcap' | '.pcapng' | 'any'): string[] {
  return listFiles(CORPUS, (n) =>
    ext === 'any' ? n.endsWith('.pcap') || n.endsWith('.pcapng') : n.endsWith(ext),
  );
}

export function scenarioFiles(): string[] {
  return listFiles(`${FIXTURES}/pcap/scenarios`, (n) => n.endsWith('.pcap'));
}

/** Small crafted captures in every variant the readers know (fixtures/pcap/build.ts). */
export function craftedCaptures(): Uint8Array[] {
  const frame4 = b.ether(0x0800, b.ipv4(b.tcp({ flags: 0x14 })));
  const frame6 = b.ether(0x86dd, b.ipv6(b.tcp({ flags: 0x04 })));
  const recs = [{ data: frame4 }, { data: frame6 }];
  const out: Uint8Array[] = [
    b.pcap(recs),
    b.pcap(recs, { le: false }),
    b.pcap(recs, { magic: 0xa1b23c4d }),
    b.pcap(recs, { magic: 0xa1b2cd34 }),
    b.pcap(recs, { major: 2, minor: 2 }),
    b.pcap(recs, { major: 2, minor: 3 }),
    b.pcap(recs, { snaplen: 40 }),
    b.pcap(recs, { linkType: 113 }),
  ];
  for (const le of [true, false]) {
    out.push(
      b.bytes(
        b.shb(le),
        b.idb(le, 1, { name: 'eth0', tsresol: 9, tsoffset: 5 }),
        b.idb(le, 101, { tsresol: 0x86 }),
        b.epb(le, 0, frame4, { flags: 1 }),
        b.epb(le, 1, b.ipv4(b.tcp({ flags: 0x04 })), { tsHi: 1, tsLo: 7 }),
        b.pb(le, 0, frame6, { flags: 2 }),
        b.spb(le, frame4),
        b.isb(le, 0, { ifRecv: 10, ifDrop: 1, osDrop: 2 }),
        b.block(le, 4, [0, 0, 0, 0]),
        b.shb(!le),
        b.idb(!le, 1),
        b.epb(!le, 0, frame4),
      ),
    );
  }
  return out;
}

export function seedFiles(paths: readonly string[], maxLen: number): Uint8Array[] {
  return paths.map((p) => readSeed(p, maxLen));
}

export const CAPTURE_DICT: readonly Uint8Array[] = [
  Uint8Array.of(0xd4, 0xc3, 0xb2, 0xa1),
  Uint8Array.of(0xa1, 0xb2, 0xc3, 0xd4),
  Uint8Array.of(0x4d, 0x3c, 0xb2, 0xa1),
  Uint8Array.of(0x34, 0xcd, 0xb2, 0xa1),
  Uint8Array.of(0x0a, 0x0d, 0x0d, 0x0a),
  Uint8Array.of(0x4d, 0x3c, 0x2b, 0x1a),
  Uint8Array.of(0x1a, 0x2b, 0x3c, 0x4d),
  Uint8Array.of(0x06, 0, 0, 0),
  Uint8Array.of(0x01, 0, 0, 0),
  Uint8Array.of(0x03, 0, 0, 0),
  Uint8Array.of(0x05, 0, 0, 0),
  Uint8Array.of(0x02, 0, 0, 0),
  Uint8Array.of(0x09, 0x00, 0x01, 0x00),
  Uint8Array.of(0x0e, 0x00, 0x08, 0x00),
  Uint8Array.of(0x02, 0x00, 0x04, 0x00),
  Uint8Array.of(0x08, 0x00, 0x45, 0x00),
  Uint8Array.of(0x86, 0xdd, 0x60, 0x00),
  Uint8Array.of(0x81, 0x00),
  Uint8Array.of(0x88, 0x47),
  Uint8Array.of(0x88, 0x64),
  Uint8Array.of(0x1f, 0x8b, 0x08),
];

/**
 * Record or block boundaries of a capture starting at data[skip] (for the minimizer): after the pcap file
 * header, each 16-byte record header + caplen; pcapng blocks by their length. Stops at the first that does
 * not fit.
 */
export function captureUnits(data: Uint8Array, skip: number): number[] {
  const cuts: number[] = [];
  const d = data.subarray(skip);
  const kind = pcapMagicKind(d);
  if (kind) {
    let at = 24;
    const hdr = kind.magic === 0xa1b2cd34 ? 24 : 16;
    while (at + hdr <= d.length) {
      cuts.push(skip + at);
      at += hdr + u32(d, at + 8, kind.le);
    }
  } else if (d.length >= 12 && u32(d, 0, true) === BLOCK.SHB) {
    const le = u32(d, 8, true) === 0x1a2b3c4d;
    let at = 0;
    while (at + 12 <= d.length) {
      const len = u32(d, at + 4, le);
      if (len < 12) break;
      cuts.push(skip + at);
      at += len;
    }
  }
  cuts.push(data.length);
  return cuts.filter((c) => c <= data.length);
}
