/**
 * The reader's idle pace against the per-CPU buffer: a storm that starts while the agent is idle must not
 * fill a buffer before the next poll. The bench found it did (docs/benchmarks.md part 4): with a fixed 1-s
 * idle poll, 8 MiB per CPU and 92-byte records, a 200k RST/s storm on one CPU lost ~108,000 events in its
 * first second. The record size is checked against pages the kernel really wrote (fixtures/tracefs/6.18/raw).
 */

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  DESIGN_EVENTS_PER_CPU_PER_SECOND,
  idlePollMs,
  recordBytes,
} from '../../src/attribute/attribution.js';
import { parseEventFormat, parseHeaderPage } from '../../src/attribute/format.js';
import { walkPage } from '../../src/attribute/ringbuf.js';
import { defaultBufferKiB } from '../../src/attribute/tracefs.js';
import { FIXTURES } from '../helpers/paths.js';

const T = `${FIXTURES}/tracefs/6.18`;
const read = (p: string) => readFileSync(`${T}/${p}`, 'utf8');
const send = parseEventFormat(read('events/tcp/tcp_send_reset/format'));
const receive = parseEventFormat(read('events/tcp/tcp_receive_reset/format'));
const header = parseHeaderPage(read('events/header_page'));

describe('idle poll pace vs the per-CPU buffer', () => {
  it('a 6.18 tcp_send_reset record takes 92 bytes in a page, as in pages the kernel wrote', () => {
    expect(recordBytes(send)).toBe(92);
    expect(recordBytes(receive)).toBeLessThanOrEqual(92);
    // Oracle: in a page the kernel wrote, the first two records lie recordBytes apart.
    const raw = readFileSync(`${T}/raw/cpu0.bin`);
    const pageBytes = header.dataOffset + header.dataSize;
    const offsets: number[] = [];
    for (let at = 0; at + pageBytes <= raw.length && offsets.length < 2; at += pageBytes) {
      const page = raw.subarray(at, at + pageBytes);
      const here: number[] = [];
      walkPage(page, page.length, header, (_p, off) => here.push(off));
      if (here.length >= 2) offsets.push(...here.slice(0, 2));
    }
    expect(offsets.length).toBe(2);
    expect(offsets[1]! - offsets[0]!).toBe(recordBytes(send));
  });

  it('the default buffer is not filled between two idle polls by a storm at the design rate', () => {
    const bufferKiB = defaultBufferKiB(2); // this machine's, and any machine with ≤ 8 CPUs
    const idle = idlePollMs({ bufferKiB, pageDataBytes: header.dataSize, recordBytes: 92, pollMs: 200 });
    const capacity = Math.ceil((bufferKiB * 1024) / header.dataSize) * Math.floor(header.dataSize / 92);
    expect(capacity).toBe(90_508);
    const arriving = (DESIGN_EVENTS_PER_CPU_PER_SECOND * idle) / 1000;
    // Not full at the design rate (the first drain takes time too, while the storm goes on) …
    expect(arriving).toBeLessThanOrEqual(capacity * 0.9);
    // … and at most half full at issue 5's highest storm (100k RST/s), half the design rate.
    expect(arriving / 2).toBeLessThanOrEqual(capacity / 2);
    // The former fixed pace (1000 ms) let 200,000 events arrive: more than twice this.
    expect(idle).toBeLessThan(1000);
    expect(idle).toBeGreaterThanOrEqual(200);
  });

  it('large buffers keep the 1-s idle pace; small ones never poll faster than the busy pace', () => {
    expect(idlePollMs({ bufferKiB: 65536, pageDataBytes: 4080, recordBytes: 92, pollMs: 200 })).toBe(1000);
    expect(idlePollMs({ bufferKiB: 512, pageDataBytes: 4080, recordBytes: 92, pollMs: 200 })).toBe(200);
    expect(idlePollMs({ bufferKiB: 512, pageDataBytes: 4080, recordBytes: 92, pollMs: 50 })).toBe(50);
  });
});
