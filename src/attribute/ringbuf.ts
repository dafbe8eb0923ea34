/**
 * Walk one ring-buffer page as read from `per_cpu/cpuN/trace_pipe_raw`.
 *
 * Layout (kernel/trace/ring_buffer.c, and `events/header_page` / `events/header_event` on the running
 * kernel): a page header {u64 timestamp; local_t commit} then events. Each event starts with a 32-bit word,
 * type_len in the low 5 bits and time_delta in the high 27:
 *   0        data; array[0] holds the length including itself, data follows it;
 *   1..28    data of type_len × 4 bytes right after the header word;
 *   29       padding (a discarded event) of array[0] bytes; with time_delta 0 the rest of the page is empty;
 *   30       time extend: delta = time_delta + (array[0] << 27);
 *   31       absolute time stamp: (array[0] << 27) | time_delta (59 bits; upper bits from the page).
 * The commit word's bits 31 and 30 say events were lost before this page (RB_MISSED_EVENTS) and that their
 * count is stored after the data (RB_MISSED_STORED).
 */

import type { PageHeader } from './format.js';

const TS_SHIFT_MUL = 2 ** 27;
const ABS_TS_SPAN = 2 ** 59;
const MISSED_EVENTS = 0x8000_0000;
const MISSED_STORED = 0x4000_0000;
const COMMIT_MASK = 0x3fff_ffff;

export interface PageResult {
  records: number;
  /** Events the kernel lost before this page (0 when none or unknown). */
  missed: number;
  /** The kernel flagged lost events without storing how many. */
  missedUnknown: boolean;
  /** Set when the page is not what the layout says (truncated event, commit past the page end). */
  problem?: string;
}

/** Called for each data record: `dataOffset`/`dataLength` index `page`; `tsNs` is the trace clock. */
export type RecordSink = (page: Buffer, dataOffset: number, dataLength: number, tsNs: number) => void;

function readU64(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off) + buf.readUInt32LE(off + 4) * 2 ** 32;
}

export function walkPage(page: Buffer, length: number, hdr: PageHeader, sink: RecordSink): PageResult {
  const result: PageResult = { records: 0, missed: 0, missedUnknown: false };
  if (length < hdr.dataOffset) {
    result.problem = `short page: ${length} bytes`;
    return result;
  }
  let ts = readU64(page, hdr.timestampOffset);
  // x86-64 and arm64 are little-endian; the commit flags live in the low 32-bit word of local_t.
  const commitWord = page.readUInt32LE(hdr.commitOffset);
  const commit = commitWord & COMMIT_MASK;
  const end = hdr.dataOffset + commit;
  if (end > length) {
    result.problem = `commit ${commit} runs past the page (${length} bytes)`;
    return result;
  }
  if (commitWord & MISSED_EVENTS) {
    if (commitWord & MISSED_STORED && end + hdr.commitSize <= length) {
      result.missed = hdr.commitSize === 8 ? readU64(page, end) : page.readUInt32LE(end);
    } else result.missedUnknown = true;
  }
  let off = hdr.dataOffset;
  while (off + 4 <= end) {
    const word = page.readUInt32LE(off);
    const typeLen = word & 0x1f;
    const delta = word >>> 5;
    if (typeLen === 29) {
      if (delta === 0) break;
      if (off + 8 > end) break;
      ts += delta;
      off += 4 + page.readUInt32LE(off + 4);
      continue;
    }
    if (typeLen === 30 || typeLen === 31) {
      if (off + 8 > end) {
        result.problem = `time event truncated at ${off}`;
        break;
      }
      const ext = page.readUInt32LE(off + 4) * TS_SHIFT_MUL + delta;
      if (typeLen === 30) ts += ext;
      else ts = ext + Math.floor(ts / ABS_TS_SPAN) * ABS_TS_SPAN;
      off += 8;
      continue;
    }
    let dataOff: number;
    let dataLen: number;
    if (typeLen === 0) {
      if (off + 8 > end) {
        result.problem = `long event header truncated at ${off}`;
        break;
      }
      const len = page.readUInt32LE(off + 4);
      dataOff = off + 8;
      dataLen = len - 4;
      if (len < 4) {
        result.problem = `bad event length ${len} at ${off}`;
        break;
      }
    } else {
      dataOff = off + 4;
      dataLen = typeLen * 4;
    }
    if (dataOff + dataLen > end) {
      result.problem = `event at ${off} runs past the commit`;
      break;
    }
    ts += delta;
    sink(page, dataOff, dataLen, ts);
    result.records++;
    off = dataOff + ((dataLen + 3) & ~3);
  }
  return result;
}
