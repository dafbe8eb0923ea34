/**
 * `rstwatch analyze` as a user runs it: the built binary on bad and odd inputs (crafted with
 * test/fixtures/pcap/build.ts), asserting exit statuses, the stable codes and byte offsets on stderr, the
 * PARTIAL marker and that a partial report holds what was read; standard input, gzip, --html; and, under a
 * pseudo-terminal (`script` from util-linux), the colours and the progress bar, which a pipe never gets.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import type { AnalysisJson } from '../../src/report/json.js';
import {
  block,
  bytes,
  epb,
  ether,
  idb,
  ipv4,
  type PcapRecord,
  pcap,
  shb,
  tcp,
} from '../fixtures/pcap/build.js';
import { BIN, requireCapability } from '../helpers/paths.js';
import { richPackets, toPcap } from '../unit/report-captures.js';

const dir = mkdtempSync(join(tmpdir(), 'rstwatch-analyze-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, data: Uint8Array | string): string {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
}

function run(args: string[], o: { input?: Uint8Array; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(process.execPath, [BIN, 'analyze', ...args], {
    input: o.input,
    stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '', ...o.env },
    timeout: 60_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  const stdout = r.stdout.toString('utf8');
  const stderr = r.stderr.toString('utf8');
  // Never a crash: no stack trace, no internal-error status, whatever the input.
  expect(stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
  expect(r.status).not.toBe(70);
  expect(r.signal).toBeNull();
  return { code: r.status, stdout, stderr };
}

const json = (stdout: string) => JSON.parse(stdout) as AnalysisJson;

/** A refused connect as two Ethernet frames: SYN, then RST+ACK. */
function refusedFrames(i: number): number[][] {
  const syn = ether(0x0800, ipv4(tcp({ sport: 40000 + i, dport: 9001, seq: 100, ack: 0, flags: 0x02 })));
  const rst = ether(
    0x0800,
    ipv4(tcp({ sport: 9001, dport: 40000 + i, seq: 0, ack: 101, flags: 0x14 }), {
      src: [192, 0, 2, 2],
      dst: [192, 0, 2, 1],
    }),
  );
  return [syn, rst];
}

/** n refused connects (2n records) as a classic pcap, and the offset of every record. */
function refusedPcap(n: number, o: { snaplen?: number; linkType?: number } = {}) {
  const recs: PcapRecord[] = [];
  for (let i = 0; i < n; i++)
    for (const f of refusedFrames(i)) recs.push({ data: f, sec: 1_700_000_000 + i });
  const offsets: number[] = [];
  let off = 24;
  for (const r of recs) {
    offsets.push(off);
    off += 16 + r.data.length;
  }
  return { data: pcap(recs, o), offsets };
}

/** The same as pcapng (SHB, IDB, EPBs), with block offsets. */
function refusedPcapng(n: number) {
  const parts = [shb(true), idb(true, 1)];
  for (let i = 0; i < n; i++)
    for (const f of refusedFrames(i)) parts.push(epb(true, 0, f, { tsLo: i * 1_000_000 }));
  const offsets: number[] = [];
  let off = 0;
  for (const p of parts) {
    offsets.push(off);
    off += p.length;
  }
  return { data: bytes(...parts), offsets: offsets.slice(2) };
}

describe('rstwatch analyze on bad input', () => {
  it('a zero-length file: E_CAPTURE_EMPTY at byte 0, exit 3, no report', () => {
    const r = run([file('empty.pcap', '')]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/empty\.pcap: error: E_CAPTURE_EMPTY: .*\(at byte offset 0\)/);
    expect(r.stdout).toBe('');
  });

  it('bad magic: E_CAPTURE_MAGIC at byte 0 with the bytes it saw', () => {
    const r = run([file('magic.pcap', 'ABCD not a capture at all\n')]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/error: E_CAPTURE_MAGIC: .*first bytes 41 42 43 44.*\(at byte offset 0\)/);
    expect(r.stdout).toBe('');
  });

  it('garbage: a stable code and an offset, never a crash', () => {
    // Deterministic pseudo-random bytes (xorshift), alone and behind a valid pcap header.
    let x = 0x9e3779b9;
    const junk = new Uint8Array(64 * 1024).map(() => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return x & 0xff;
    });
    const bare = run([file('garbage.bin', junk)]);
    expect(bare.code).toBe(3);
    expect(bare.stderr).toMatch(/error: E_CAPTURE_MAGIC: .*\(at byte offset 0\)/);
    const header = refusedPcap(0).data;
    const behind = run([file('garbage.pcap', new Uint8Array([...header, ...junk]))]);
    expect([0, 3]).toContain(behind.code);
    expect(behind.stderr).toMatch(/error: E_CAPTURE_[A-Z]+: .*\(at byte offset \d+\)/);
  });

  it('a pcap cut inside a record: E_CAPTURE_TRUNCATED at that record, the rest reported as PARTIAL', () => {
    const { data, offsets } = refusedPcap(5); // 10 records
    const cut = data.subarray(0, offsets[9]! + 20); // the 10th record's header and 4 bytes of data
    const r = run([file('cut.pcap', cut), '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(
      `cut.pcap: error: E_CAPTURE_TRUNCATED: record 10 is cut short (20 bytes of it present): the capture ends early (at byte offset ${offsets[9]})`,
    );
    expect(r.stderr).toContain('PARTIAL: reading stopped early; the report covers what was read');
    const j = json(r.stdout);
    expect(j.capture.partial).toBe(true);
    expect(j.capture.problems).toEqual([
      expect.objectContaining({ code: 'E_CAPTURE_TRUNCATED', offset: offsets[9] }),
    ]);
    // What was read: 9 records, 4 complete refused connects plus the 5th SYN.
    expect(j.summary.packets).toBe(9);
    expect(j.summary.rsts).toBe(4);
    expect(j.causes).toEqual([expect.objectContaining({ cause: 'refused', count: 4 })]);
    const text = run([file('cut.pcap', cut)]);
    expect(text.stdout).toContain('PARTIAL: the capture could not be read to the end');
    expect(text.stdout).toContain('Resets: 4 in 4 of 5 connections');
  });

  it('a pcapng cut inside a block: E_CAPTURE_TRUNCATED at the block, PARTIAL report', () => {
    const { data, offsets } = refusedPcapng(3); // 6 EPBs
    const r = run([file('cut.pcapng', data.subarray(0, offsets[5]! + 30)), '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`error: E_CAPTURE_TRUNCATED: .*\\(at byte offset ${offsets[5]}\\)`));
    expect(r.stderr).toContain('PARTIAL');
    const j = json(r.stdout);
    expect(j.capture).toMatchObject({ format: 'pcapng', partial: true });
    expect(j.summary).toMatchObject({ packets: 5, rsts: 2 });
  });

  it('an absurd pcapng block length: E_CAPTURE_BLOCK at the block, quickly, earlier packets reported', () => {
    const good = refusedPcapng(2);
    const absurd = block(true, 6, new Array<number>(40).fill(0), { length: 0x7ffffff0 });
    const data = new Uint8Array([...good.data, ...absurd]);
    const started = Date.now();
    const r = run([file('absurd.pcapng', data), '--json']);
    expect(Date.now() - started).toBeLessThan(20_000); // nothing tried to read 2 GiB
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      new RegExp(`error: E_CAPTURE_BLOCK: .*\\(at byte offset ${good.data.length}\\)`),
    );
    expect(json(r.stdout).summary).toMatchObject({ packets: 4, rsts: 2 });
  });

  it('caplen above the maximum: E_CAPTURE_CAPLEN at the record; above the snap length: cut, as libpcap does', () => {
    const { data, offsets } = refusedPcap(3);
    const bad = data.slice();
    new DataView(bad.buffer).setUint32(offsets[4]! + 8, 0x7fffffff, true); // 5th record's caplen
    const r = run([file('caplen.pcap', bad), '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      new RegExp(
        `error: E_CAPTURE_CAPLEN: record 5 claims 2147483647 captured bytes.*\\(at byte offset ${offsets[4]}\\)`,
      ),
    );
    expect(json(r.stdout).summary).toMatchObject({ packets: 4, rsts: 2 });

    // Snap length 60 but 54-byte headers + 6 bytes of payload recorded in full (caplen 66 > snaplen 60):
    // libpcap and Wireshark read such a record cut to the snap length; so do we (no error, the RSTs count).
    const recs: PcapRecord[] = [];
    for (let i = 0; i < 3; i++)
      for (const f of refusedFrames(i)) recs.push({ data: [...f, 1, 2, 3, 4, 5, 6], sec: 1_700_000_000 + i });
    const snap = run([file('snaplen.pcap', pcap(recs, { snaplen: 60 })), '--json']);
    expect(snap.code).toBe(0);
    expect(snap.stderr).toBe('');
    const j = json(snap.stdout);
    expect(j.summary).toMatchObject({ packets: 6, rsts: 3 });
    expect(j.capture.bytes).toBe(6 * 60);

    // pcapng: a caplen larger than the block that holds the packet.
    const ng = refusedPcapng(1);
    const frame = refusedFrames(5)[0]!;
    const lying = epb(true, 0, frame, { caplen: frame.length + 400 });
    const r2 = run([file('caplen.pcapng', new Uint8Array([...ng.data, ...lying])), '--json']);
    expect(r2.code).toBe(0);
    expect(r2.stderr).toMatch(new RegExp(`error: E_CAPTURE_BLOCK: .*\\(at byte offset ${ng.data.length}\\)`));
    expect(json(r2.stdout).summary).toMatchObject({ packets: 2, rsts: 1 });
  });

  it('an unknown link type: W_CAPTURE_LINKTYPE, frames counted but not decoded, exit 0', () => {
    const { data } = refusedPcap(2, { linkType: 147 }); // LINKTYPE_USER0
    const r = run([file('user0.pcap', data), '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      /warning: W_CAPTURE_LINKTYPE: link type 147 is not decoded.*\(at byte offset 20\)/,
    );
    expect(r.stderr).not.toContain('PARTIAL');
    const j = json(r.stdout);
    expect(j.summary).toMatchObject({
      packets: 4,
      tcpSegments: 0,
      rsts: 0,
      decodeSkips: { 'unknown-linktype': 4 },
    });
    expect(run([file('user0.pcap', data)]).stdout).toContain('not TCP: unknown-linktype 4');
  });

  it('a missing file and a directory: E_CAPTURE_READ with the reason, exit 3', () => {
    const missing = run([join(dir, 'nope.pcap')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(
      /error: E_CAPTURE_READ: cannot open .*nope\.pcap: ENOENT.*\(at byte offset 0\)/,
    );
    mkdirSync(join(dir, 'adir'), { recursive: true });
    const d = run([join(dir, 'adir')]);
    expect(d.code).toBe(3);
    expect(d.stderr).toMatch(/error: E_CAPTURE_READ: .*EISDIR.*\(at byte offset 0\)/);
  });

  it('usage errors exit 2 with E_USAGE', () => {
    expect(run([])).toMatchObject({ code: 2, stderr: expect.stringContaining('E_USAGE') });
    const p = file('ok.pcap', refusedPcap(1).data);
    expect(run([p, '--top', '0'])).toMatchObject({ code: 2, stderr: expect.stringContaining('--top') });
    expect(run([p, '--max-connections', 'many']).code).toBe(2);
    expect(run([p, p]).code).toBe(2);
    for (const bad of ['0', '3', 'two', ''])
      expect(run([p, '--threads', bad])).toMatchObject({
        code: 2,
        stderr: expect.stringContaining('E_USAGE: --threads: expected auto, 1 or 2'),
      });
    for (const bad of ['c', 'JS', ''])
      expect(run([p, '--engine', bad])).toMatchObject({
        code: 2,
        stderr: expect.stringContaining('E_USAGE: --engine: expected auto, native or js'),
      });
  });

  it('--threads 1, 2 and auto give the same report, from a file and from standard input, with either engine', () => {
    const data = toPcap(richPackets());
    const p = file('threads.pcap', data);
    const base = run([p, '--json', '--max-connections', 'all', '--threads', '1', '--engine', 'js']);
    expect(base.code).toBe(0);
    const j = json(base.stdout);
    expect(j.summary.rsts).toBeGreaterThan(1000);
    // With the native engine, `--threads 2` and a pipe (a stream) have the CLI start the classification
    // worker before the analyzer loads (prestart.ts), and the analysis take it.
    for (const engine of ['js', 'native'])
      for (const t of ['1', '2', 'auto']) {
        const args = ['--json', '--max-connections', 'all', '--threads', t, '--engine', engine];
        expect(json(run([p, ...args]).stdout)).toEqual(j);
        const piped = run(['-', ...args], { input: data });
        expect({ ...json(piped.stdout), source: p }).toEqual(j);
      }
  });

  it('without the native engine: --engine native is an error (exit 3), auto uses TypeScript', () => {
    const data = toPcap(richPackets());
    const p = file('no-engine.pcap', data);
    const env = { RSTWATCH_NATIVE_ENGINE: join(tmpdir(), 'rstwatch-no-such-engine.node') };
    const r = run([p, '--json', '--engine', 'native'], { env });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('E_ENGINE_UNAVAILABLE');
    expect(r.stderr).toContain('rstwatch-no-such-engine.node is not built');
    const auto = run([p, '--json', '--engine', 'auto'], { env });
    expect(auto.code).toBe(0);
    expect(auto.stdout).toBe(run([p, '--json', '--engine', 'js']).stdout);
    // The CLI starts the classification worker ahead (prestart.ts); without the engine the analysis runs
    // TypeScript's flow worker instead, stops the one started ahead, and ends (no hang, same report).
    const two = run([p, '--json', '--engine', 'auto', '--threads', '2'], { env });
    expect(two.code).toBe(0);
    expect(two.stdout).toBe(auto.stdout);
  });

  it('--engine native, js and auto give the same report, from a file and from standard input', () => {
    const data = toPcap(richPackets());
    const p = file('engines.pcap', data);
    const base = run([p, '--json', '--max-connections', 'all', '--engine', 'js']);
    expect(base.code).toBe(0);
    expect(json(base.stdout).summary.rsts).toBeGreaterThan(1000);
    for (const e of ['native', 'auto']) {
      const r = run([p, '--json', '--max-connections', 'all', '--engine', e]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(base.stdout);
      const piped = run(['-', '--json', '--max-connections', 'all', '--engine', e], { input: data });
      expect(piped.stdout.replaceAll('"source": "-"', `"source": ${JSON.stringify(p)}`)).toBe(base.stdout);
    }
  });
});

describe('rstwatch analyze inputs and outputs', () => {
  const rich = toPcap(richPackets());

  it('reads standard input (-) and a .gz file to the same report as the plain file', () => {
    const plain = json(run([file('rich.pcap', rich), '--json', '--max-connections', 'all']).stdout);
    const piped = run(['-', '--json', '--max-connections', 'all'], { input: rich });
    expect(piped.code).toBe(0);
    const gz = run([file('rich.pcap.gz', gzipSync(rich)), '--json', '--max-connections', 'all']);
    expect(gz.code).toBe(0);
    const strip = (j: AnalysisJson) => ({ ...j, source: '' });
    expect(strip(json(piped.stdout))).toEqual(strip(plain));
    expect(strip(json(gz.stdout))).toEqual(strip(plain));
    expect(json(piped.stdout).source).toBe('-');
    expect(plain.summary.rsts).toBe(1238);
    expect(plain.connections).toHaveLength(1238);

    // A gzip cut short: E_CAPTURE_GZIP, and the packets decompressed before it are reported.
    const z = gzipSync(rich);
    const cut = run([file('cut.pcap.gz', z.subarray(0, Math.floor(z.length / 2))), '--json']);
    expect(cut.code).toBe(0);
    expect(cut.stderr).toMatch(/error: E_CAPTURE_GZIP: .*\(at byte offset \d+\)/);
    const j = json(cut.stdout);
    expect(j.capture.partial).toBe(true);
    expect(j.summary.packets).toBeGreaterThan(100);
    expect(j.summary.packets).toBeLessThan(plain.summary.packets);

    const empty = run(['-'], { input: new Uint8Array(0) });
    expect(empty.code).toBe(3);
    expect(empty.stderr).toContain('E_CAPTURE_EMPTY');
  });

  it('writes a self-contained HTML report with --html, and says when it cannot (E_ANALYZE_OUTPUT)', () => {
    const out = join(dir, 'report.html');
    const r = run([file('rich.pcap', rich), '--html', out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`wrote ${out}`);
    expect(r.stdout).toContain('Resets: 1,238'); // the text report still goes to stdout
    const html = readFileSync(out, 'utf8');
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('<svg class="chart timeline"');
    const bad = run([file('rich.pcap', rich), '--html', join(dir, 'no-such-dir', 'r.html')]);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toMatch(/error: E_ANALYZE_OUTPUT: cannot write the HTML report to .*no-such-dir/);
    // OUT is an existing folder: found only when the page is written; no temporary file is left behind.
    const into = join(dir, 'outdir');
    mkdirSync(into, { recursive: true });
    const late = run([file('rich.pcap', rich), '--html', into]);
    expect(late.code).toBe(3);
    expect(late.stderr).toMatch(
      /error: E_ANALYZE_OUTPUT: cannot write the HTML report to .*outdir: .*EISDIR/,
    );
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('prints no colour and no progress bar into a pipe', () => {
    const big = bigCapture();
    const r = run([big]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/\x1b\[/);
    expect(r.stderr).toBe('');
  });
});

/** 12 MiB: the refused connects of `richPackets`, then ARP-sized frames (not IP) until the size is reached. */
let bigPath: string | undefined;
function bigCapture(): string {
  if (bigPath !== undefined) return bigPath;
  const head = toPcap(richPackets());
  const filler = new Uint8Array(16 + 60);
  const dv = new DataView(filler.buffer);
  dv.setUint32(0, 1_714_564_900, true);
  dv.setUint32(8, 60, true);
  dv.setUint32(12, 60, true);
  filler.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06], 16);
  const count = Math.ceil((12 * 1024 * 1024 - head.length) / filler.length);
  const out = new Uint8Array(head.length + count * filler.length);
  out.set(head, 0);
  for (let i = 0; i < count; i++) out.set(filler, head.length + i * filler.length);
  bigPath = file('big.pcap', out);
  return bigPath;
}

describe('rstwatch and a reader that goes away', () => {
  /** Runs rstwatch with `args`, reads the first chunk of its output, then closes the pipe. */
  function readFirstChunk(
    args: string[],
  ): Promise<{ code: number | null; signal: string | null; stderr: string; got: number }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      let got = 0;
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      child.stdout.once('data', (d: Buffer) => {
        got = d.length;
        child.stdout.destroy();
      });
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code, signal, stderr, got }));
    });
  }

  it('`analyze --json F | head`: stops quietly with the SIGPIPE status, no stack trace', async () => {
    // ~1,238 listed connections: megabytes of JSON, far more than a pipe holds.
    const p = file('epipe.pcap', toPcap(richPackets()));
    const r = await readFirstChunk(['analyze', p, '--json', '--max-connections', 'all']);
    expect(r.got).toBeGreaterThan(0);
    expect(r.stderr).toBe('');
    expect(r.signal).toBeNull();
    expect(r.code).toBe(141);
  }, 60_000);
});

describe('rstwatch analyze - and Ctrl-C (tcpdump -w - | rstwatch analyze -)', () => {
  /**
   * Writes `part` to the child's stdin and resolves once all of it went into the kernel: 5.6 MB is far more
   * than a socket pair holds, so by then rstwatch is reading its input — and handles Ctrl-C (Node catches
   * SIGINT from the start, so /proc's SigCgt cannot tell).
   */
  function feed(child: ReturnType<typeof spawn>, part: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) =>
      child.stdin!.write(part, (err) => (err ? reject(err) : resolve())),
    );
  }

  function start() {
    const child = spawn(process.execPath, [BIN, 'analyze', '--json', '-'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const ended = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.on('close', (code, signal) => resolve({ code, signal })),
    );
    const said = async (text: string) => {
      const deadline = Date.now() + 30_000;
      while (!stderr.includes(text)) {
        if (Date.now() > deadline) throw new Error(`never said "${text}"; stderr: ${stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    return { child, ended, said, out: () => stdout, err: () => stderr };
  }

  // 50,000 refused connects (7 MB); the first 40,000 are written before the Ctrl-C.
  const { data } = refusedPcap(50_000);
  const cut = 24 + 40_000 * 2 * (16 + 54);

  it('the first Ctrl-C waits for the end of the input, and all of it is reported', async () => {
    const p = start();
    await feed(p.child, data.subarray(0, cut));
    p.child.kill('SIGINT');
    await p.said('interrupted: the report comes when the capture on the input ends');
    p.child.stdin.end(data.subarray(cut));
    const end = await p.ended;
    expect(end).toEqual({ code: 0, signal: null });
    const j = json(p.out());
    expect(j.capture.partial).toBe(false);
    expect(j.summary.packets).toBe(100_000);
    expect(j.summary.rsts).toBe(50_000);
  }, 60_000);

  it('a second Ctrl-C reports what was read (PARTIAL, E_CAPTURE_INTERRUPTED), then ends as interrupted', async () => {
    const p = start();
    await feed(p.child, data.subarray(0, cut)); // and the pipe is never closed
    p.child.kill('SIGINT');
    await p.said('interrupted: the report comes');
    await new Promise((r) => setTimeout(r, 300));
    p.child.kill('SIGINT');
    const end = await p.ended;
    // Killed by SIGINT after writing the report: status 130 in a shell.
    expect(end).toEqual({ code: null, signal: 'SIGINT' });
    expect(p.err()).toContain('E_CAPTURE_INTERRUPTED');
    expect(p.err()).toContain('PARTIAL');
    const j = json(p.out());
    expect(j.capture.partial).toBe(true);
    expect(j.capture.problems.map((x) => x.code)).toEqual(['E_CAPTURE_INTERRUPTED']);
    expect(j.summary.packets).toBe(80_000);
    expect(j.summary.rsts).toBe(40_000);
    p.child.stdin!.destroy();
  }, 60_000);
});

describe('rstwatch analyze on a terminal (pseudo-terminal via script(1))', () => {
  const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;
  requireCapability(hasScript, 'script(1) from util-linux');

  /** Runs the command under a pseudo-terminal: stdout and stderr both are the terminal. */
  function onTty(args: string[], env: NodeJS.ProcessEnv = {}) {
    const cmd = [process.execPath, BIN, 'analyze', ...args]
      .map((a) => `'${a.replace(/'/g, "'\\''")}'`)
      .join(' ');
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '', TERM: 'xterm', ...env },
      timeout: 60_000,
    });
    return { code: r.status, screen: r.stdout };
  }

  it.runIf(hasScript)('draws the progress bar for a large file, erases it, and colours the report', () => {
    const r = onTty([bigCapture()]);
    expect(r.code).toBe(0);
    const bars = r.screen.match(
      /\r\x1b\[2K\[[#.]+\] +\d+% {2}[\d.]+ [KMG]?i?B \/ 12\.0 MiB {2}[\d.]+ [KMG]?i?B\/s {2}ETA [\d:-]+/g,
    );
    expect(bars?.length ?? 0).toBeGreaterThanOrEqual(1);
    expect(r.screen).toContain('\r\x1b[2K\x1b[1mrstwatch analyze:'); // erased, then the report
    expect(r.screen).toContain('\x1b[1mResets: 1,238\x1b[0m');
  });

  it.runIf(hasScript)('honours NO_COLOR and --quiet', () => {
    const plain = onTty([bigCapture()], { NO_COLOR: '1' });
    expect(plain.code).toBe(0);
    expect(plain.screen).not.toContain('\x1b[1m');
    expect(plain.screen).toContain('\x1b[2K['); // the bar is not colour: it stays
    const quiet = onTty([bigCapture(), '--quiet']);
    expect(quiet.screen).not.toContain('\x1b[2K');
    expect(quiet.screen).toContain('\x1b[1mResets: 1,238');
  });

  it.runIf(hasScript)('draws no bar for a small file', () => {
    const small = onTty([file('small.pcap', toPcap(richPackets()))]);
    expect(small.code).toBe(0);
    expect(small.screen).not.toContain('\x1b[2K');
    expect(small.screen).toContain('Resets: 1,238');
  });
});
