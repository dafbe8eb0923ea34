/**
 * Capture targets: the pcap and pcapng parsers on their own, the streaming reader (chunked, gzip, from a
 * file) against the contiguous reference, and the link/IP/TCP decoder on raw frames of every link type.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { decodeFrame, decodeFrameAt, LINKTYPE } from '../../../src/packet/decode.js';
import { decodeLink, MAX_DEPTH } from '../../../src/packet/link.js';
import { readCapture } from '../../../src/packet/reader.js';
import { type DecodedTcp, newDecodedTcp } from '../../../src/packet/types.js';
import { Rng } from '../engine/mutate.js';
import { check, type FuzzTarget } from '../engine/target.js';
import {
  CAPTURE_DICT,
  captureUnits,
  checkSummary,
  corpusFiles,
  craftedCaptures,
  readChunks,
  readWhole,
  recorder,
  sameOutcome,
  scenarioFiles,
  seedFiles,
} from './capture-util.js';

export const pcapTarget: FuzzTarget = {
  name: 'pcap',
  about: 'classic pcap parser (src/packet/pcap.ts) on a whole file: records in bounds, summary consistent',
  maxLen: 16 * 1024,
  text: false,
  dict: CAPTURE_DICT,
  units: (d) => captureUnits(d, 0),
  seeds: () => [
    ...craftedCaptures().filter((c) => c[0] !== 0x0a),
    ...seedFiles([...scenarioFiles(), ...corpusFiles('.pcap')], 16 * 1024),
  ],
  run(data) {
    checkSummary(readWhole(data, undefined, 'pcap'), data.length, 'pcap');
  },
};

export const pcapngTarget: FuzzTarget = {
  name: 'pcapng',
  about: 'pcapng parser (src/packet/pcapng.ts) on a whole file: blocks, options, sections, interfaces',
  maxLen: 16 * 1024,
  text: false,
  dict: CAPTURE_DICT,
  units: (d) => captureUnits(d, 0),
  seeds: () => [
    ...craftedCaptures().filter((c) => c[0] === 0x0a),
    ...seedFiles(corpusFiles('.pcapng'), 16 * 1024),
  ],
  run(data) {
    checkSummary(readWhole(data, undefined, 'pcapng'), data.length, 'pcapng');
  },
};

let tmp: string | undefined;

/**
 * The first byte chooses how the rest reaches readCapture: bits 0–1 the chunking (one chunk, mostly 1–7
 * bytes, 1–4096 bytes, 1–64 bytes), bit 4 a 64-byte record cap; bits 2, 5, 6 and 7 all set: gzip-compressed;
 * bits 3, 5, 6 and 7: from a file path. Both cost 2–3 ms a run (zlib's and the reader's buffers), thirty
 * times the parsing, so each gets one run in sixteen.
 */
const GZIP = 0xe4;
const FILE = 0xe8;
export const readerTarget: FuzzTarget = {
  name: 'reader',
  about:
    'readCapture (src/packet/reader.ts): streamed in random chunks, gzip, from a file — same result as whole',
  maxLen: 16 * 1024,
  text: false,
  dict: CAPTURE_DICT,
  units: (d) => captureUnits(d, 1),
  seeds: () => {
    const files = [
      ...craftedCaptures(),
      ...seedFiles([...scenarioFiles(), ...corpusFiles('any').filter((_, i) => i % 4 === 0)], 8 * 1024),
    ];
    return files.flatMap((f, i) => {
      const mode = [0, 1, 2, 3, GZIP, GZIP | 1, FILE, FILE | GZIP, 16, 17][i % 10]!;
      const s = new Uint8Array(f.length + 1);
      s[0] = mode;
      s.set(f, 1);
      return [s];
    });
  },
  async setup() {
    tmp = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'rw-fuzz-reader-'));
  },
  async teardown() {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  },
  async run(data) {
    if (data.length === 0) return;
    const mode = data[0]!;
    const payload = data.subarray(1);
    const max = mode & 16 ? 64 : undefined;
    const rawGzip = payload.length >= 2 && payload[0] === 0x1f && payload[1] === 0x8b;
    const gzip = (mode & GZIP) === GZIP;
    const bytes = gzip ? new Uint8Array(gzipSync(payload)) : payload;
    let got: ReturnType<typeof readWhole>;
    if ((mode & FILE) === FILE) {
      const file = join(tmp!, 'capture');
      writeFileSync(file, bytes);
      const rec = recorder(max ?? 262_144);
      const summary = await readCapture(file, rec.onPacket, max === undefined ? {} : { maxPacketBytes: max });
      got = { summary, records: rec.records, bytes: rec.bytes() };
    } else {
      const rng = new Rng(payload.length * 31 + mode);
      const chunks: Uint8Array[] = [];
      const limit = [0, 7, 4096, 64][mode & 3]!;
      for (let at = 0; at < bytes.length; ) {
        // Mode 1: mostly 1–7 bytes, with a longer chunk one time in four (every chunk costs a trip through
        // the async iterator, far more than the bytes: a 16 KiB input in 4-byte chunks took milliseconds).
        const big = limit === 7 && rng.chance(4);
        const n = limit === 0 ? bytes.length : 1 + rng.below(big ? 1024 : limit);
        chunks.push(bytes.slice(at, at + n));
        at += n;
      }
      got = await readChunks(chunks, max);
    }
    checkSummary(got, gzip ? Number.MAX_SAFE_INTEGER : bytes.length, 'reader');
    if (rawGzip && !gzip) return; // a gzip stream of the fuzzer's own: no reference to compare with
    sameOutcome(readWhole(payload, max), got, `reader mode ${mode}`);
  },
};

// ---- decoder ----

const LINK_TYPES = [...Object.values(LINKTYPE), 147, 0xffff];

const SKIPS = new Set(['not-ip', 'not-tcp', 'fragment', 'truncated', 'unknown-linktype', 'malformed']);

function describe(d: DecodedTcp, skip: string | undefined): string {
  if (skip !== undefined) return `skip ${skip} depth ${d.tunnelDepth}`;
  return [
    d.ipVersion,
    Array.from(d.src).join('.'),
    Array.from(d.dst).join('.'),
    d.srcPort,
    d.dstPort,
    d.seq,
    d.ack,
    d.flags,
    d.window,
    d.payloadLen,
    d.ttl,
    d.ipId,
    d.mss,
    d.wscale,
    d.sackPermitted,
    d.tsVal,
    d.tsEcr,
    d.hasTimestamps,
    d.sackBlocks,
    d.tunnelDepth,
    d.direction,
  ].join(' ');
}

function checkDecoded(d: DecodedTcp, skip: string | undefined, frameLen: number): void {
  if (skip !== undefined) {
    check(SKIPS.has(skip), `decodeFrame returned ${JSON.stringify(skip)}`);
    return;
  }
  const u = (x: number, max: number) => Number.isInteger(x) && x >= 0 && x <= max;
  check(d.ipVersion === 4 || d.ipVersion === 6, `ipVersion ${d.ipVersion}`);
  check(u(d.srcPort, 0xffff) && u(d.dstPort, 0xffff), `ports ${d.srcPort} ${d.dstPort}`);
  check(u(d.seq, 0xffffffff) && u(d.ack, 0xffffffff), `seq/ack ${d.seq} ${d.ack}`);
  check(u(d.flags, 0x1ff), `flags ${d.flags}`);
  check(u(d.window, 0xffff), `window ${d.window}`);
  // An IPv6 jumbogram (RFC 2675) declares up to 2^32 − 1 bytes.
  check(u(d.payloadLen, 0xffffffff), `payloadLen ${d.payloadLen}`);
  check(u(d.ttl, 255), `ttl ${d.ttl}`);
  check(d.ipId === -1 || u(d.ipId, 0xffff), `ipId ${d.ipId}`);
  check(d.mss === -1 || u(d.mss, 0xffff), `mss ${d.mss}`);
  check(d.wscale === -1 || u(d.wscale, 255), `wscale ${d.wscale}`);
  check(
    !d.hasTimestamps || (u(d.tsVal, 0xffffffff) && u(d.tsEcr, 0xffffffff)),
    `timestamps ${d.tsVal} ${d.tsEcr}`,
  );
  check(u(d.sackBlocks, 4), `sackBlocks ${d.sackBlocks}`);
  check(u(d.tunnelDepth, MAX_DEPTH + 1) && d.tunnelDepth <= frameLen, `tunnelDepth ${d.tunnelDepth}`);
  check(d.direction === 0 || d.direction === 1 || d.direction === 2, `direction ${d.direction}`);
}

const outA = newDecodedTcp();
const outB = newDecodedTcp();
const outC = newDecodedTcp();

/**
 * Byte 0 picks the link type, the rest is the frame. Beyond the checks of every field: the decoder must
 * read only inside [off, end). The same frame is decoded alone and inside a larger buffer between junk
 * bytes (0x00 then 0xff); any read past either end sees different bytes and changes the result. And
 * decodeLink is called without decodeFrameAt's try/catch: nothing may throw.
 */
export const decodeTarget: FuzzTarget = {
  name: 'decode',
  about:
    'link/IP/TCP decoder (src/packet/decode.ts, link.ts, ip.ts, tcp.ts) on raw frames of every link type',
  maxLen: 2048,
  text: false,
  dict: CAPTURE_DICT,
  async seeds() {
    const seeds: Uint8Array[] = [];
    const files = [...scenarioFiles(), ...corpusFiles('any')];
    for (const f of files) {
      let taken = 0;
      await readCapture(f, (p) => {
        if (taken >= 6) return;
        const i = LINK_TYPES.indexOf(p.linkType);
        if (i < 0) return;
        taken++;
        const s = new Uint8Array(Math.min(p.caplen, 2047) + 1);
        s[0] = i;
        s.set(p.data.subarray(0, s.length - 1), 1);
        seeds.push(s);
      });
    }
    return seeds;
  },
  run(data) {
    if (data.length === 0) return;
    const linkType = LINK_TYPES[data[0]! % LINK_TYPES.length]!;
    const frame = data.subarray(1);
    const a = decodeFrame(linkType, frame, outA);
    checkDecoded(outA, a, frame.length);
    const want = describe(outA, a);
    outC.tunnelDepth = 0;
    outC.direction = 0;
    outC.ipVersion = 0;
    const direct = decodeLink(linkType, frame, 0, frame.length, outC);
    check(
      describe(outC, direct) === want,
      `decodeLink without try/catch: ${describe(outC, direct)} vs ${want}`,
    );
    for (const fill of [0x00, 0xff]) {
      const big = new Uint8Array(frame.length + 64).fill(fill);
      big.set(frame, 32);
      const b = decodeFrameAt(linkType, big, 32, 32 + frame.length, outB);
      const got = describe(outB, b);
      check(
        got === want,
        `frame inside junk 0x${fill.toString(16)} decodes differently:\n  alone: ${want}\n  in buffer: ${got}`,
      );
    }
  },
};
