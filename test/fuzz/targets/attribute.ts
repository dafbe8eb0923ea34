/**
 * Attribution inputs: tracefs `format` and `header_page` files, the binary ring-buffer pages they describe,
 * `trace` text lines, /proc/net/tcp (listening sockets) and /proc/self/mounts. The agent reads these as
 * root from the kernel; a kernel with another layout must still only ever produce E_TRACE_* errors.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeDecoder, type ResetDecoder } from '../../../src/attribute/decode.js';
import {
  type EventFormat,
  type PageHeader,
  parseEventFormat,
  parseHeaderPage,
} from '../../../src/attribute/format.js';
import { parseListeners } from '../../../src/attribute/procmap.js';
import { walkPage } from '../../../src/attribute/ringbuf.js';
import { parseTraceLine } from '../../../src/attribute/text.js';
import { tracefsMounts } from '../../../src/attribute/tracefs.js';
import type { RstEvent } from '../../../src/attribute/types.js';
import { FIXTURES } from '../engine/paths.js';
import { allowRstwatchError, bytes, check, type FuzzTarget, utf8 } from '../engine/target.js';

interface Kernel {
  send: string;
  receive: string;
  headerPage: string;
  page: Uint8Array;
  trace: string;
}

function kernel(version: '6.1' | '6.18'): Kernel {
  const dir = join(FIXTURES, 'tracefs', version);
  const read = (...p: string[]) => readFileSync(join(dir, ...p), 'utf8');
  return {
    send: read('events', 'tcp', 'tcp_send_reset', 'format'),
    receive: read('events', 'tcp', 'tcp_receive_reset', 'format'),
    headerPage: read('events', 'header_page'),
    page: new Uint8Array(readFileSync(join(dir, 'raw', 'cpu0.bin'))),
    trace: read('trace.txt'),
  };
}

let kernels: Kernel[] = [];

/**
 * An event as the aggregator takes it. `strict` for the binary decoder (ports are 16-bit fields); the text
 * reader (a test oracle, fed by the kernel's own printing) is only held to the types.
 */
function checkEvent(ev: RstEvent, strict: boolean): void {
  check(ev.direction === 'sent' || ev.direction === 'received', `direction ${ev.direction}`);
  check(['ipv4', 'ipv6', 'unknown'].includes(ev.family), `family ${ev.family}`);
  for (const port of [ev.localPort, ev.remotePort]) {
    check(
      typeof port === 'number' && (!strict || (Number.isInteger(port) && port >= 0 && port <= 65535)),
      `port ${port}`,
    );
  }
  check(typeof ev.localAddr === 'string' && typeof ev.remoteAddr === 'string', 'address not text');
  check(typeof ev.reason === 'string' && typeof ev.state === 'string', 'reason or state not text');
  if (strict) check(ev.state.length > 0, 'empty state');
}

/** Walk a page as LiveAttribution.drain does (a buffer of the page size, `length` bytes read). */
function walk(page: Uint8Array, header: PageHeader, decoder: ResetDecoder): void {
  const size = Math.max(4096, header.dataOffset + header.dataSize);
  check(Number.isSafeInteger(size) && size <= 16 << 20, `header_page asks for a ${size}-byte page buffer`);
  const buf = Buffer.alloc(size);
  buf.set(page.subarray(0, size));
  const r = walkPage(buf, Math.min(page.length, size), header, (b, off, len, tsNs) => {
    check(off >= 0 && len >= 0 && off + len <= b.length, `record [${off}, ${off + len}) outside the page`);
    check(Number.isFinite(tsNs), `record time ${tsNs}`);
    const ev = decoder.decode(b, off, len);
    if (ev) checkEvent(ev, true);
  });
  check(r.records >= 0 && r.missed >= 0, `page result ${JSON.stringify(r)}`);
}

const FORMAT_DICT = [
  'name: ',
  'ID: ',
  'format:\n',
  '\tfield:',
  ';\toffset:',
  ';\tsize:',
  ';\tsigned:',
  'unsigned short common_type',
  '__u8 saddr[28]',
  '__u8 daddr[28]',
  '__u16 sport',
  '__u16 family',
  'int state',
  'enum sk_rst_reason reason',
  'print fmt: ',
  '__print_symbolic(REC->reason, ',
  '{ 1, "NO_SOCKET" }',
  'tcp_send_reset: ',
  'src=',
  'dest=',
  'family=AF_INET6 ',
  'saddrv6=::ffff:',
  ' 0A ',
  'tracefs /sys/kernel/tracing tracefs rw 0 0',
];

/**
 * Byte 0 (mod 6) picks what the text is: 0 the send format, 1 the receive format, 2 header_page (each then
 * used to walk and decode the recorded page of both kernels), 3 trace lines, 4 /proc/net/tcp, 5 mounts.
 */
export const tracefsFormatTarget: FuzzTarget = {
  name: 'tracefs-format',
  about:
    'tracefs format/header_page parsers and decoder construction (src/attribute/format.ts, decode.ts), trace lines, /proc/net/tcp',
  maxLen: 4096,
  text: true,
  dict: FORMAT_DICT,
  async setup() {
    kernels = [kernel('6.18'), kernel('6.1')];
  },
  seeds() {
    const out: Uint8Array[] = [];
    const add = (sel: number, text: string) => out.push(bytes(String.fromCharCode(48 + sel) + text));
    for (const k of kernels) {
      add(0, k.send);
      add(1, k.receive);
      add(2, k.headerPage);
      add(3, k.trace.slice(0, 4000));
    }
    add(4, readFileSync('/proc/net/tcp', 'utf8').slice(0, 4000));
    add(5, readFileSync('/proc/self/mounts', 'utf8').slice(0, 4000));
    return out;
  },
  run(data) {
    if (data.length === 0) return;
    const sel = data[0]! % 6;
    const text = utf8(data.subarray(1));
    for (const k of sel <= 2 ? kernels : []) {
      let send: EventFormat | Error = allowRstwatchError(() => parseEventFormat(k.send, 'send'), 'format');
      let receive: EventFormat | Error = allowRstwatchError(
        () => parseEventFormat(k.receive, 'receive'),
        'format',
      );
      let header: PageHeader | Error = allowRstwatchError(() => parseHeaderPage(k.headerPage), 'header_page');
      if (sel === 0) send = allowRstwatchError(() => parseEventFormat(text, 'send'), 'parseEventFormat');
      else if (sel === 1)
        receive = allowRstwatchError(() => parseEventFormat(text, 'receive'), 'parseEventFormat');
      else header = allowRstwatchError(() => parseHeaderPage(text), 'parseHeaderPage');
      if (send instanceof Error || receive instanceof Error || header instanceof Error) continue;
      const s = send;
      const rcv = receive;
      const decoder = allowRstwatchError(() => makeDecoder(s, rcv), 'makeDecoder');
      if (decoder instanceof Error) continue;
      walk(k.page, header, decoder);
    }
    if (sel === 3) {
      for (const line of text.split('\n')) {
        const ev = parseTraceLine(line);
        if (ev) checkEvent(ev, false);
      }
    } else if (sel === 4) {
      for (const [port, inodes] of parseListeners(text)) {
        check(Number.isInteger(port) && port >= 0 && port <= 65535, `listening port ${port}`);
        for (const i of inodes) check(Number.isInteger(i) && i > 0, `inode ${i}`);
      }
    } else if (sel === 5) {
      // The kernel writes this file: only the shape of the answer is held (a garbled line may give '').
      for (const m of tracefsMounts(text)) check(typeof m === 'string', `mount point ${JSON.stringify(m)}`);
    }
  },
};

interface Layout {
  header: PageHeader;
  decoder: ResetDecoder;
}
let layouts: Layout[] = [];

/** Byte 0 picks the kernel (its formats and header_page); the rest is one page of per-CPU ring buffer. */
export const tracefsPageTarget: FuzzTarget = {
  name: 'tracefs-page',
  about:
    'ring-buffer page walker and record decoder (src/attribute/ringbuf.ts, decode.ts) on raw pages of both layouts',
  maxLen: 4097,
  text: false,
  dict: [
    Uint8Array.of(0x1d, 0, 0, 0),
    Uint8Array.of(0x1e, 0, 0, 0),
    Uint8Array.of(0x1f, 0, 0, 0),
    Uint8Array.of(0, 0, 0, 0xc0),
    Uint8Array.of(0x02, 0x00),
    Uint8Array.of(0x0a, 0x00),
  ],
  async setup() {
    kernels = [kernel('6.18'), kernel('6.1')];
    layouts = kernels.map((k) => ({
      header: parseHeaderPage(k.headerPage),
      decoder: makeDecoder(parseEventFormat(k.send), parseEventFormat(k.receive)),
    }));
  },
  seeds() {
    return kernels.flatMap((k, i) => {
      const s = new Uint8Array(k.page.length + 1);
      s[0] = i;
      s.set(k.page, 1);
      return [s, s.slice(0, 200)];
    });
  },
  run(data) {
    if (data.length === 0) return;
    const l = layouts[data[0]! % layouts.length]!;
    walk(data.subarray(1), l.header, l.decoder);
  },
};
