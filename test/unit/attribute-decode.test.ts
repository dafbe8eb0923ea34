/**
 * Tracepoint layouts: the `format` files of both layouts (6.18 recorded on this kernel, 6.1 constructed from
 * include/trace/events/tcp.h as of 6.1), ring-buffer pages, and the decoder held to the kernel's own text.
 */
import { readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ipv6Text, makeDecoder } from '../../src/attribute/decode.js';
import { parseEventFormat, parseHeaderPage } from '../../src/attribute/format.js';
import { walkPage } from '../../src/attribute/ringbuf.js';
import { parseTraceLine } from '../../src/attribute/text.js';
import type { RstEvent } from '../../src/attribute/types.js';
import { RstwatchError } from '../../src/internal/errors.js';
import { FIXTURES } from '../helpers/paths.js';

const T = `${FIXTURES}/tracefs`;
const read = (p: string) => readFileSync(`${T}/${p}`, 'utf8');

function load(kernel: string) {
  const send = parseEventFormat(read(`${kernel}/events/tcp/tcp_send_reset/format`), 'send');
  const receive = parseEventFormat(read(`${kernel}/events/tcp/tcp_receive_reset/format`), 'receive');
  const header = parseHeaderPage(read(`${kernel}/events/header_page`));
  return { send, receive, header, decoder: makeDecoder(send, receive) };
}

function decodeRaw(kernel: string, cpu = 0): { events: RstEvent[]; ts: number[]; records: number } {
  const { decoder, header } = load(kernel);
  const raw = readFileSync(`${T}/${kernel}/raw/cpu${cpu}.bin`);
  const events: RstEvent[] = [];
  const ts: number[] = [];
  let records = 0;
  for (let off = 0; off < raw.length; off += 4096) {
    const page = raw.subarray(off, off + 4096);
    const r = walkPage(page, page.length, header, (p, o, l, t) => {
      const ev = decoder.decode(p, o, l);
      if (ev) {
        events.push(ev);
        ts.push(t);
      }
    });
    expect(r.problem).toBeUndefined();
    records += r.records;
  }
  return { events, ts, records };
}

function textEvents(kernel: string): { events: RstEvent[]; ts: number[] } {
  const events: RstEvent[] = [];
  const ts: number[] = [];
  for (const line of read(`${kernel}/trace.txt`).split('\n')) {
    const ev = parseTraceLine(line);
    if (!ev) continue;
    events.push(ev);
    ts.push(Number(/\s(\d+\.\d+): tcp_/.exec(line)![1]));
  }
  return { events, ts };
}

describe('format files', () => {
  it('6.18 (recorded): tcp_send_reset has sockaddr fields, state and reason with its symbol table', () => {
    const { send, receive, decoder } = load('6.18');
    expect(send.name).toBe('tcp_send_reset');
    expect(send.id).toBe(2280);
    expect(send.fields.get('saddr')).toMatchObject({ offset: 32, size: 28, arrayLength: 28, signed: false });
    expect(send.fields.get('daddr')).toMatchObject({ offset: 60, size: 28 });
    expect(send.fields.get('reason')).toMatchObject({ offset: 28, size: 4, type: 'enum sk_rst_reason' });
    expect(send.fields.get('skbaddr')).toMatchObject({ type: 'const void *', offset: 8, size: 8 });
    const reasons = send.symbols.get('reason')!;
    expect(reasons.get(1)).toBe('NO_SOCKET');
    expect(reasons.get(14)).toBe('TCP_STATE');
    expect(reasons.get(24)).toBe('ERROR');
    expect(receive.fields.get('sock_cookie')).toMatchObject({ offset: 64, size: 8 });
    expect(receive.symbols.get('family')?.get(10)).toBe('AF_INET6');
    expect(decoder.layout).toBe('sockaddr-reason');
  });

  it('6.1 (constructed from tcp.h): tcp_send_reset is tcp_event_sk_skb, no reason', () => {
    const { send, decoder } = load('6.1');
    expect(send.fields.has('reason')).toBe(false);
    expect(send.fields.get('sport')).toMatchObject({ offset: 28, size: 2 });
    expect(send.fields.get('family')).toMatchObject({ offset: 32, size: 2 });
    expect(send.fields.get('saddr_v6')).toMatchObject({ offset: 42, size: 16 });
    expect(send.fields.get('daddr_v6')).toMatchObject({ offset: 58, size: 16 });
    expect(decoder.layout).toBe('legacy-ports');
  });

  it('header_page gives the page layout (64-bit local_t commit)', () => {
    expect(parseHeaderPage(read('6.18/events/header_page'))).toEqual({
      timestampOffset: 0,
      commitOffset: 8,
      commitSize: 8,
      dataOffset: 16,
      dataSize: 4080,
    });
  });

  it('a broken format file is an E_TRACE_FORMAT error with its line and column', () => {
    const good = read('6.18/events/tcp/tcp_send_reset/format').split('\n');
    const bad = [...good];
    bad[8] = '\tfield:const void * skaddr;\toffset:sixteen;\tsize:8;\tsigned:0;';
    try {
      parseEventFormat(bad.join('\n'), 'f');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(RstwatchError);
      expect((err as RstwatchError).code).toBe('E_TRACE_FORMAT');
      expect((err as RstwatchError).line).toBe(9);
      expect((err as RstwatchError).column).toBe(2);
    }
    expect(() => parseEventFormat(good.filter((l) => !l.startsWith('ID:')).join('\n'))).toThrow(
      /no "ID:" line/,
    );
    expect(() => parseEventFormat('name: x\nID: 1\nformat:\nnonsense here\n')).toThrow(RstwatchError);
  });

  it('a layout without the address fields is E_TRACE_LAYOUT, not a crash', () => {
    const { receive } = load('6.18');
    const text = read('6.1/events/tcp/tcp_send_reset/format').replace(/\tfield:__u16 family;[^\n]*\n/, '');
    const send = parseEventFormat(text);
    try {
      makeDecoder(send, receive);
      expect.unreachable();
    } catch (err) {
      expect((err as RstwatchError).code).toBe('E_TRACE_LAYOUT');
    }
  });
});

describe('decoding recorded and constructed pages', () => {
  it('6.18: every record of the recorded page decodes to what the kernel printed for it', () => {
    const bin = decodeRaw('6.18');
    const text = textEvents('6.18');
    expect(text.events.length).toBe(18);
    expect(bin.records).toBe(18);
    expect(bin.events).toEqual(text.events);
    // the page timestamps (trace_clock local, ns) agree with the text's microseconds
    bin.ts.forEach((t, i) => {
      expect(Math.abs(t / 1e9 - text.ts[i]!)).toBeLessThan(2e-6);
    });
    const sent = bin.events.filter((e) => e.direction === 'sent');
    expect(sent.map((e) => e.reason).sort()).toEqual([
      ...Array(5).fill('NO_SOCKET'),
      ...Array(2).fill('TCP_ABORT_ON_CLOSE'),
      ...Array(2).fill('TCP_STATE'),
    ]);
    expect(sent.find((e) => e.reason === 'NO_SOCKET' && e.family === 'ipv6')).toMatchObject({
      localAddr: '::1',
      localPort: 9,
      remoteAddr: '::1',
      state: 'UNKNOWN',
    });
    // receive events never carry a reason or state
    for (const e of bin.events.filter((x) => x.direction === 'received')) {
      expect(e.reason).toBe('NOT_REPORTED');
      expect(e.state).toBe('NOT_REPORTED');
    }
  });

  it('6.1 (constructed): the legacy layout decodes, including time-extend and padding records', () => {
    const bin = decodeRaw('6.1');
    const text = textEvents('6.1');
    expect(text.events.length).toBe(13);
    expect(bin.events).toEqual(text.events);
    bin.ts.forEach((t, i) => {
      expect(Math.abs(t / 1e9 - text.ts[i]!)).toBeLessThan(2e-6);
    });
    // no NO_SOCKET send on 6.1: the kernel does not trace resets without a full socket there
    expect(bin.events.filter((e) => e.direction === 'sent').every((e) => e.state === 'TCP_CLOSE')).toBe(true);
    expect(bin.events.filter((e) => e.direction === 'sent').every((e) => e.reason === 'NOT_REPORTED')).toBe(
      true,
    );
  });

  it('records of other events are skipped, and a v4-mapped IPv6 socket is reported as IPv4', () => {
    const { decoder, send } = load('6.18');
    const rec = Buffer.alloc(88);
    rec.writeUInt16LE(9999, 0);
    expect(decoder.decode(rec, 0, rec.length)).toBeUndefined();
    rec.writeUInt16LE(send.id, 0);
    rec.writeInt32LE(1, 24); // TCP_ESTABLISHED
    rec.writeUInt32LE(8, 28); // TCP_ABORT_ON_DATA
    for (const [base, port, last] of [
      [32, 443, 1],
      [60, 50000, 2],
    ] as const) {
      rec.writeUInt16LE(10, base);
      rec.writeUInt16BE(port, base + 2);
      Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, last]).copy(rec, base + 8);
    }
    expect(decoder.decode(rec, 0, rec.length)).toEqual({
      direction: 'sent',
      family: 'ipv4',
      localAddr: '192.0.2.1',
      localPort: 443,
      remoteAddr: '192.0.2.2',
      remotePort: 50000,
      reason: 'TCP_ABORT_ON_DATA',
      state: 'TCP_ESTABLISHED',
    });
    expect(decoder.decode(rec, 0, 40)).toBeUndefined(); // too short for the fields
  });
});

describe('ring-buffer pages', () => {
  const header = parseHeaderPage(read('6.18/events/header_page'));
  function page(records: Buffer[], opts: { commitFlags?: number; missed?: number } = {}): Buffer {
    const p = Buffer.alloc(4096);
    p.writeBigUInt64LE(1_000_000n, 0);
    let off = 16;
    for (const r of records) {
      r.copy(p, off);
      off += r.length;
    }
    p.writeUInt32LE(((off - 16) | (opts.commitFlags ?? 0)) >>> 0, 8);
    if (opts.missed !== undefined) p.writeBigUInt64LE(BigInt(opts.missed), off);
    return p;
  }
  const small = (delta: number, words: number) => {
    const b = Buffer.alloc(4 + words * 4);
    b.writeUInt32LE(((delta << 5) | words) >>> 0, 0);
    b.fill(0xab, 4);
    return b;
  };
  const long = (delta: number, dataLen: number) => {
    const b = Buffer.alloc(8 + ((dataLen + 3) & ~3));
    b.writeUInt32LE((delta << 5) >>> 0, 0);
    b.writeUInt32LE(dataLen + 4, 4);
    return b;
  };

  it('walks small and long records, time extends and absolute stamps', () => {
    const ext = Buffer.alloc(8);
    ext.writeUInt32LE(((5 << 5) | 30) >>> 0, 0);
    ext.writeUInt32LE(2, 4); // + 2 << 27
    const abs = Buffer.alloc(8);
    abs.writeUInt32LE(((7 << 5) | 31) >>> 0, 0);
    abs.writeUInt32LE(1, 4); // = (1 << 27) | 7
    const seen: [number, number][] = [];
    const r = walkPage(
      page([small(10, 3), long(20, 200), ext, small(0, 1), abs, small(3, 2)]),
      4096,
      header,
      (_p, _o, l, t) => seen.push([l, t]),
    );
    expect(r).toEqual({ records: 4, missed: 0, missedUnknown: false });
    expect(seen).toEqual([
      [12, 1_000_010],
      [200, 1_000_030],
      [4, 1_000_035 + 2 * 2 ** 27],
      [8, 2 ** 27 + 7 + 3],
    ]);
  });

  it('reports lost events from the commit flags, and a truncated page as a problem', () => {
    const lost = walkPage(
      page([small(1, 1)], { commitFlags: 0xc000_0000, missed: 42 }),
      4096,
      header,
      () => {},
    );
    expect(lost).toMatchObject({ records: 1, missed: 42 });
    const unknown = walkPage(page([small(1, 1)], { commitFlags: 0x8000_0000 }), 4096, header, () => {});
    expect(unknown.missedUnknown).toBe(true);
    const bad = page([small(1, 4)]);
    expect(walkPage(bad, 20, header, () => {}).problem).toMatch(/runs past the page/);
    expect(walkPage(bad, 8, header, () => {}).problem).toMatch(/short page/);
  });

  it('never reads outside the page, whatever the bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 600 }), (bytes) => {
        const p = Buffer.from(bytes);
        let ok = true;
        walkPage(p, p.length, header, (_pg, o, l) => {
          if (o < 16 || o + l > p.length) ok = false;
        });
        return ok;
      }),
    );
  });
});

describe('IPv6 text (RFC 5952, as %pI6c)', () => {
  it('matches node:net canonical form for any address (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), {
          minLength: 8,
          maxLength: 8,
        }),
        (groups) => {
          const b = Buffer.alloc(16);
          groups.forEach((g, i) => {
            b.writeUInt16BE(g, i * 2);
          });
          const text = ipv6Text(b, 0);
          expect(isIPv6(text)).toBe(true);
          // URL's host parser serialises IPv6 per the WHATWG rules, which are RFC 5952's compression rules.
          expect(new URL(`http://[${text}]/`).hostname).toBe(`[${text}]`);
        },
      ),
    );
    expect(ipv6Text(Buffer.from('20010db8000000000001000000000001', 'hex'), 0)).toBe('2001:db8::1:0:0:1');
  });
});
