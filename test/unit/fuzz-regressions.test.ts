/**
 * Regression cases found by `npm run fuzz` (docs/reliability.md, "Fuzzing").
 *
 * Every input under test/fixtures/fuzz/<target>/ runs once through that target's oracle (the same checks
 * the fuzzer applied when it found it) and must pass within the fuzzer's time limit. Each finding also has a
 * test of its own below that says what the bug was, on a readable input where one can be built.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { analyzeCapture } from '../../src/analyze/analyze.js';
import { makeDecoder } from '../../src/attribute/decode.js';
import { parseEventFormat, parseHeaderPage } from '../../src/attribute/format.js';
import { parseListeners } from '../../src/attribute/procmap.js';
import { ProcNetFastParser } from '../../src/collect/proc-parse.js';
import { RstwatchError } from '../../src/internal/errors.js';
import { setSysctl, unifiedDiff } from '../../src/remedy/sysctl-conf.js';
import { renderHtml } from '../../src/report/html.js';
import { renderText } from '../../src/report/text.js';
import * as b from '../fixtures/pcap/build.js';
import type { FuzzTarget } from '../fuzz/engine/target.js';
import { analyzeTarget } from '../fuzz/targets/analyze.js';
import { tracefsFormatTarget } from '../fuzz/targets/attribute.js';
import { procTarget } from '../fuzz/targets/collect.js';
import { sysctlConfTarget } from '../fuzz/targets/config.js';
import { FIXTURES } from '../helpers/paths.js';

/** The targets that have regression inputs (the others are imported when they get one). */
const TARGETS: Record<string, FuzzTarget> = {
  analyze: analyzeTarget,
  proc: procTarget,
  'sysctl-conf': sysctlConfTarget,
  'tracefs-format': tracefsFormatTarget,
};

/** The fuzzer's per-input limit (test/fuzz/main.ts --timeout-ms). */
const TIME_LIMIT_MS = 2000;

const ROOT = join(FIXTURES, 'fuzz');
const cases = readdirSync(ROOT).flatMap((target) =>
  readdirSync(join(ROOT, target))
    .filter((f) => f.endsWith('.bin'))
    .sort()
    .map((file) => ({ target, file })),
);

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}
const stream = (bytes: Uint8Array) => once(bytes) as unknown as NodeJS.ReadableStream;

describe('fuzz findings: every committed input passes its target oracle', () => {
  const started = new Set<FuzzTarget>();
  afterAll(async () => {
    for (const t of started) await t.teardown?.();
  });

  it('there are cases, and each belongs to a known target', () => {
    expect(cases.length).toBeGreaterThan(0);
    for (const c of cases) expect(Object.keys(TARGETS)).toContain(c.target);
  });

  it.each(cases)('$target/$file', async ({ target, file }) => {
    const t = TARGETS[target]!;
    if (!started.has(t)) {
      started.add(t);
      await t.setup?.();
    }
    const data = new Uint8Array(readFileSync(join(ROOT, target, file)));
    const t0 = performance.now();
    await t.run(data);
    expect(performance.now() - t0).toBeLessThan(TIME_LIMIT_MS);
  });
});

// ---- the findings, one by one ----

const ether = (o: Parameters<typeof b.tcp>[0], reply = false) =>
  b.ether(0x0800, b.ipv4(b.tcp(o), reply ? { src: [192, 0, 2, 2], dst: [192, 0, 2, 1] } : {}));

describe('analyze: flow table LRU', () => {
  it('a capture whose only connection stays idle past the 5-minute limit is analysed (was: TypeError in FlowTable.expire)', async () => {
    // One established connection, quiet for 400 s (over DEFAULT_IDLE_TIMEOUT_SEC, under the established
    // limit): the next packet made expire() move the list's only flow "to the head", which linked it to
    // itself and lost the tail; a later connection then read a freed slot.
    const cap = b.pcap(
      [
        { sec: 1000, data: ether({ sport: 40000, dport: 80, flags: 0x02, seq: 1, ack: 0 }) },
        { sec: 1000, data: ether({ sport: 80, dport: 40000, flags: 0x12, seq: 100, ack: 2 }, true) },
        { sec: 1000, data: ether({ sport: 40000, dport: 80, flags: 0x10, seq: 2, ack: 101 }) },
        {
          sec: 1400,
          data: ether({ sport: 40000, dport: 80, flags: 0x18, seq: 2, ack: 101, payload: [1, 2] }),
        },
        { sec: 1401, data: ether({ sport: 40001, dport: 80, flags: 0x02, seq: 1, ack: 0 }) },
        { sec: 1402, data: ether({ sport: 40002, dport: 80, flags: 0x02, seq: 1, ack: 0 }) },
        { sec: 1800, data: ether({ sport: 40000, dport: 80, flags: 0x04, seq: 4, ack: 0 }) },
        { sec: 2300, data: ether({ sport: 40003, dport: 80, flags: 0x02, seq: 1, ack: 0 }) },
        { sec: 2900, data: ether({ sport: 40004, dport: 80, flags: 0x02, seq: 1, ack: 0 }) },
      ].map((r, i) => ({ ...r, frac: i })),
    );
    const r = await analyzeCapture(stream(cap));
    expect(r.summary.connections).toBe(5);
    expect(r.summary.rsts).toBe(1);
    expect(r.connections).toHaveLength(1);
    expect(r.connections[0]!.orig).toBe('192.0.2.1:40000');
  });
});

describe('analyze: timestamps that go backwards or out of range', () => {
  it('a connection whose later packet is stamped earlier has a duration of 0, not a negative one', async () => {
    const cap = b.pcap([
      { sec: 2000, data: ether({ sport: 40000, dport: 80, flags: 0x02, seq: 1, ack: 0 }) },
      { sec: 1995, data: ether({ sport: 80, dport: 40000, flags: 0x14, seq: 0, ack: 2 }, true) },
    ]);
    const r = await analyzeCapture(stream(cap));
    expect(r.connections).toHaveLength(1);
    expect(r.connections[0]!.durationSec).toBe(0);
    expect(renderText(r, { color: false })).not.toMatch(/-\d+(\.\d+)? s\b/);
  });

  it('a timestamp beyond what a Date can hold prints as unknown, in text and HTML (was: RangeError)', async () => {
    // pcapng with if_tsresol 10^-0 (seconds) and a 64-bit time of 2^60 s: far past year 275,760.
    const cap = b.bytes(
      b.shb(true),
      b.idb(true, 1, { tsresol: 0 }),
      b.epb(true, 0, ether({ sport: 40000, dport: 80, flags: 0x04, seq: 1, ack: 0 }), {
        tsHi: 2 ** 28,
        tsLo: 0,
      }),
    );
    const r = await analyzeCapture(stream(cap));
    expect(r.summary.rsts).toBe(1);
    expect(r.summary.firstTime).toBeGreaterThan(8.64e12);
    const text = renderText(r, { color: false });
    expect(text).toContain('-');
    expect(() => renderHtml(r, { version: 'test' })).not.toThrow();
  });
});

describe('sysctl-conf: unified diff', () => {
  it('a line that ends in a NUL byte is not mistaken for a last line without a newline', () => {
    const before = 'a = \u0000\n';
    const r = setSysctl(before, 'net.ipv4.tcp_syncookies', '1');
    const diff = unifiedDiff(before, r.text, { before: 'a', after: 'b' });
    expect(diff).not.toContain('No newline at end of file');
    expect(diff).toContain('+net.ipv4.tcp_syncookies = 1\n');
  });

  it('a last line without a newline is still marked as such', () => {
    const diff = unifiedDiff('x = 1', 'x = 2', { before: 'a', after: 'b' });
    expect(diff.match(/\\ No newline at end of file/g)).toHaveLength(2);
  });
});

describe('tracefs: formats the decoder and the page walker can trust', () => {
  const kernel61 = join(FIXTURES, 'tracefs', '6.1', 'events');
  const read = (...p: string[]) => readFileSync(join(kernel61, ...p), 'utf8');
  const codeOf = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      return err instanceof RstwatchError ? err.code : `not a RstwatchError: ${String(err)}`;
    }
    return 'no error';
  };

  it('header_page with the timestamp or commit after data is E_TRACE_FORMAT (was: RangeError in walkPage)', () => {
    const text = read('header_page').replace('offset:0;', 'offset:9000;');
    expect(codeOf(() => parseHeaderPage(text))).toBe('E_TRACE_FORMAT');
  });

  it('header_page whose data does not fit a page is E_TRACE_FORMAT (was: a 90 MB page buffer, or RangeError)', () => {
    const text = read('header_page').replace(
      /field: char data;\toffset:(\d+);/,
      'field: char data;\toffset:90000000;',
    );
    expect(text).toContain('offset:90000000;');
    expect(codeOf(() => parseHeaderPage(text))).toBe('E_TRACE_FORMAT');
    expect(parseHeaderPage(read('header_page'))).toMatchObject({ dataOffset: 16, dataSize: 4080 });
  });

  it('a port field declared signed still decodes ports above 32767 (was: a negative port)', () => {
    const send = parseEventFormat(
      read('tcp', 'tcp_send_reset', 'format').replace(
        'sport;\toffset:28;\tsize:2;\tsigned:0',
        'sport;\toffset:28;\tsize:2;\tsigned:1',
      ),
    );
    expect(send.fields.get('sport')?.signed).toBe(true);
    const decoder = makeDecoder(send, parseEventFormat(read('tcp', 'tcp_receive_reset', 'format')));
    const rec = Buffer.alloc(80);
    rec.writeUInt16LE(send.id, 0);
    rec.writeUInt16LE(40000, 28); // sport
    rec.writeUInt16LE(443, 30); // dport
    rec.writeUInt16LE(2, 32); // AF_INET
    const ev = decoder.decode(rec, 0, rec.length);
    expect(ev).toMatchObject({ direction: 'sent', localPort: 40000, remotePort: 443, family: 'ipv4' });
  });

  it('a port field of 4 bytes is a layout we do not know, E_TRACE_LAYOUT (was: ports above 65535)', () => {
    const send = parseEventFormat(
      read('tcp', 'tcp_send_reset', 'format').replace(
        '__u16 sport;\toffset:28;\tsize:2',
        '__u32 sport;\toffset:28;\tsize:4',
      ),
    );
    expect(send.fields.get('sport')?.size).toBe(4);
    const receive = parseEventFormat(read('tcp', 'tcp_receive_reset', 'format'));
    expect(codeOf(() => makeDecoder(send, receive))).toBe('E_TRACE_LAYOUT');
  });

  it('a port field placed past the record makes the record too short to decode, not a RangeError', () => {
    const send = parseEventFormat(
      read('tcp', 'tcp_send_reset', 'format').replace('dport;\toffset:30;', 'dport;\toffset:8000;'),
    );
    expect(send.fields.get('dport')?.offset).toBe(8000);
    const decoder = makeDecoder(send, parseEventFormat(read('tcp', 'tcp_receive_reset', 'format')));
    const rec = Buffer.alloc(80);
    rec.writeUInt16LE(send.id, 0);
    expect(decoder.decode(rec, 0, rec.length)).toBeUndefined();
  });

  it('/proc/net/tcp lines with a port or inode out of range are skipped, the others kept', () => {
    const head =
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
    const line = (port: string, inode: string) =>
      `   0: 00000000:${port} 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 0`;
    const text = [head, line('-a', '7'), line('1F90', '-3'), line('1BB', '99')].join('\n');
    expect([...parseListeners(text)]).toEqual([[443, [99]]]);
  });
});

describe('proc: the sampler fast path', () => {
  it('a value line shorter than its "Group:" declines, not a RangeError (was: Buffer.compare past the end)', () => {
    const buf = Buffer.from('Tcp:\n\n', 'latin1');
    const into: Record<string, number> = {};
    expect(new ProcNetFastParser(['Tcp']).parse(buf, buf.length, into)).toBe(false);
    expect(into).toEqual({});
  });
});

describe('analyze from inside a worker thread', () => {
  it('importing the analyzer in another worker does not start the flow worker there (found by the fuzz harness)', async () => {
    // flow-sink.ts imports constants from flow-worker.ts, whose body ran in any worker thread: it posted
    // { ready: true } to that worker's parent and threw on the parent's workerData. The fuzzer's workers
    // import analyze.ts and met exactly that.
    const analyzeUrl = pathToFileURL(join(FIXTURES, '..', '..', 'src', 'analyze', 'analyze.ts')).href;
    const register = pathToFileURL(join(FIXTURES, '..', 'fuzz', 'register.mjs')).href;
    // The worker registers the TypeScript hooks of test/fuzz for itself, then imports the analyzer.
    const dir = mkdtempSync(join(tmpdir(), 'rw-fuzz-worker-'));
    const script = join(dir, 'worker.mjs');
    writeFileSync(
      script,
      `import { parentPort } from 'node:worker_threads';\nawait import(${JSON.stringify(register)});\n` +
        `await import(${JSON.stringify(analyzeUrl)});\nparentPort.postMessage('imported');\n`,
    );
    const w = new Worker(script, { workerData: { mine: true } });
    const messages: unknown[] = [];
    const errors: string[] = [];
    w.on('message', (m) => messages.push(m));
    w.on('error', (e) => errors.push(String(e)));
    const code2 = await new Promise<number>((resolve) => w.on('exit', resolve));
    expect(errors).toEqual([]);
    expect(messages).toEqual(['imported']);
    expect(code2).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  });
});
