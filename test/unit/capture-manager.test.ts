/** The agent's capture manager: one capture at a time, sidecars, cached reports, retention, restart. */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { LocalCaptureManager } from '../../src/capture/manager.js';
import type { CaptureInfo } from '../../src/capture/types.js';
import { RstwatchError } from '../../src/internal/errors.js';
import { createLogger } from '../../src/internal/log.js';
import { readCapture } from '../../src/packet/reader.js';
import { FIXTURES } from '../helpers/paths.js';

const BIN = fileURLToPath(new URL('../../bin/rstwatch.js', import.meta.url));

const FAKE = `${FIXTURES}/bin/fake-tcpdump`;
const tmp = mkdtempSync(join(tmpdir(), 'rw-capmgr-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
afterEach(() => {
  delete process.env.FAKE_TCPDUMP_MODE;
});

let n = 0;
function manager(
  o: {
    keep?: number;
    keepBytes?: number;
    dataDir?: string;
    now?: () => Date;
    analyzeCommand?: string[];
    analyzeTimeoutMs?: number;
  } = {},
) {
  const dataDir = o.dataDir ?? join(tmp, `data${++n}`);
  const lines: string[] = [];
  const m = new LocalCaptureManager({
    dataDir,
    keep: o.keep ?? 20,
    keepBytes: o.keepBytes ?? 1024 ** 3,
    os: 'linux',
    log: createLogger({ level: 'debug', write: (l) => lines.push(l) }),
    env: { tcpdumpPath: FAKE, backstop: false, pollMs: 50, drainMs: 0 },
    version: '9.9.9',
    ...(o.now ? { now: o.now } : {}),
    ...(o.analyzeCommand ? { analyzeCommand: o.analyzeCommand } : {}),
    ...(o.analyzeTimeoutMs ? { analyzeTimeoutMs: o.analyzeTimeoutMs } : {}),
  });
  return { m, dataDir, dir: join(dataDir, 'captures'), lines };
}

/** Wait (bounded) until the running capture has written packets. */
async function whenCapturing(m: LocalCaptureManager, id: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((m.get(id)?.packets ?? 0) > 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`capture ${id} wrote no packet within 5 s`);
}

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return e instanceof RstwatchError ? e.code : String(e);
  }
  return 'ok';
}

/** A minimal valid pcap of `records` 54-byte frames, for captures "from earlier runs". */
function oldPcap(records: number): Buffer {
  const h = Buffer.alloc(24);
  h.writeUInt32LE(0xa1b2c3d4, 0);
  h.writeUInt16LE(2, 4);
  h.writeUInt16LE(4, 6);
  h.writeUInt32LE(262144, 16);
  h.writeUInt32LE(1, 20);
  const recs = Array.from({ length: records }, () => {
    const r = Buffer.alloc(16 + 54);
    r.writeUInt32LE(54, 8);
    r.writeUInt32LE(54, 12);
    return r;
  });
  return Buffer.concat([h, ...recs]);
}

function seedOld(dir: string, id: string, records: number, extra: Partial<CaptureInfo> = {}): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${id}.pcap`);
  const bytes = oldPcap(records);
  writeFileSync(file, bytes);
  const m = /^rst-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(id)!;
  const info: CaptureInfo = {
    id,
    state: 'done',
    startedAt: `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.000Z`,
    file,
    bytes: bytes.length,
    packets: records,
    request: { durationSeconds: 60 },
    ...extra,
  };
  writeFileSync(join(dir, `${id}.json`), JSON.stringify(info));
  writeFileSync(join(dir, `${id}.report.json`), '{"cached":true}');
  return file;
}

describe('LocalCaptureManager', () => {
  it('runs one capture at a time: a second start is E_CAPTURE_BUSY until the first ends', async () => {
    const { m, dir } = manager();
    const a = m.start({ iface: 'lo', durationSeconds: 0.5 });
    expect(a.state).toBe('running');
    expect(a.file).toBe(join(dir, `${a.id}.pcap`));
    expect(code(() => m.start({ iface: 'lo', durationSeconds: 0.5 }))).toBe('E_CAPTURE_BUSY');
    await m.idle;
    const done = m.get(a.id)!;
    expect(done.state).toBe('done');
    expect(done.error).toBeUndefined();
    expect(done.packets).toBeGreaterThan(3);
    expect(done.bytes).toBe(statSync(done.file).size);
    expect(done.request).toMatchObject({ iface: 'lo', durationSeconds: 0.5, format: 'pcap' });
    const sidecar = JSON.parse(readFileSync(join(dir, `${a.id}.json`), 'utf8')) as CaptureInfo;
    expect(sidecar).toEqual(done);
    // Free again.
    const b = m.start({ iface: 'lo', durationSeconds: 0.3, format: 'pcapng' });
    expect(b.id).not.toBe(a.id);
    await m.idle;
    expect(m.get(b.id)).toMatchObject({ state: 'done', file: join(dir, `${b.id}.pcapng`) });
    expect(m.list().map((i) => i.id)).toEqual([b.id, a.id].sort().reverse());
  });

  it('refuses bad requests synchronously, without starting anything', () => {
    const { m, dir } = manager();
    expect(code(() => m.start({ durationSeconds: 301 }))).toBe('E_CAPTURE_LIMIT');
    expect(code(() => m.start({ durationSeconds: 3600 }))).toBe('E_CAPTURE_LIMIT');
    expect(code(() => m.start({ iface: 'eth0 && reboot' }))).toBe('E_CAPTURE_BAD_IFACE');
    expect(code(() => m.start({ filter: 'port 1) or (udp' }))).toBe('E_CAPTURE_FILTER');
    expect(code(() => m.start({ maxPackets: -1 }))).toBe('E_CAPTURE_LIMIT');
    expect(code(() => m.start({ format: 'erf' as 'pcap' }))).toBe('E_USAGE');
    expect(m.list()).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });

  it('one capture never exceeds the retention byte budget', async () => {
    const { m } = manager({ keepBytes: 1024 * 1024 });
    const a = m.start({ iface: 'lo', durationSeconds: 0.2, maxBytes: 1024 ** 3 });
    expect(a.request.maxBytes).toBe(1024 * 1024);
    await m.idle;
  });

  it('a failure is recorded with its code and frees the manager', async () => {
    process.env.FAKE_TCPDUMP_MODE = 'perm';
    const { m, lines } = manager();
    const a = m.start({ iface: 'lo', durationSeconds: 0.5 });
    await m.idle;
    expect(m.get(a.id)).toMatchObject({ state: 'failed', error: { code: 'E_CAPTURE_PERMISSION' } });
    expect(lines.some((l) => l.includes('capture ended') && l.includes('E_CAPTURE_PERMISSION'))).toBe(true);
    delete process.env.FAKE_TCPDUMP_MODE;
    const b = m.start({ iface: 'lo', durationSeconds: 0.2 });
    await m.idle;
    expect(m.get(b.id)?.state).toBe('done');
  });

  it('stop(id) ends a running capture early with a valid file; unknown ids are E_CAPTURE_NOT_FOUND', async () => {
    const { m } = manager();
    const a = m.start({ iface: 'lo', durationSeconds: 30 });
    await whenCapturing(m, a.id);
    const running = m.get(a.id)!;
    expect(running.state).toBe('running');
    expect(running.packets).toBeGreaterThan(0);
    const t0 = Date.now();
    m.stop(a.id);
    await m.idle;
    expect(Date.now() - t0).toBeLessThan(5000);
    const done = m.get(a.id)!;
    expect(done.state).toBe('done');
    const s = await readCapture(done.file, () => undefined);
    expect(s.problems).toEqual([]);
    expect(s.packets).toBe(done.packets);
    expect(code(() => m.stop('rst-20000101T000000Z'))).toBe('E_CAPTURE_NOT_FOUND');
    expect(code(() => m.stop('../../etc/passwd'))).toBe('E_CAPTURE_NOT_FOUND');
    expect(() => m.stop(a.id)).not.toThrow(); // already ended: nothing to do
  });

  it('report(id): the analysis (analyze --json schema), cached next to the capture and reused', async () => {
    const { m, dir, dataDir } = manager();
    const a = m.start({ iface: 'lo', durationSeconds: 0.5 });
    await expect(m.report(a.id)).rejects.toMatchObject({ code: 'E_CAPTURE_RUNNING' });
    await m.idle;
    const info = m.get(a.id)!;
    const rep = (await m.report(a.id)) as {
      schemaVersion: number;
      tool: { version: string };
      summary: { rsts: number };
    };
    expect(rep.schemaVersion).toBe(1);
    expect(rep.tool.version).toBe('9.9.9');
    expect(rep.summary.rsts).toBe(info.packets);
    const cache = join(dir, `${a.id}.report.json`);
    expect(JSON.parse(readFileSync(cache, 'utf8'))).toEqual(rep);
    // A new manager (agent restart) lists the capture and answers from the cache, not by analysing again.
    writeFileSync(cache, JSON.stringify({ ...rep, marker: 'from cache' }));
    const again = manager({ dataDir }).m;
    expect(again.get(a.id)).toEqual(info);
    expect(await again.report(a.id)).toMatchObject({ marker: 'from cache' });
    await expect(again.report('../../../etc/passwd')).rejects.toMatchObject({ code: 'E_CAPTURE_NOT_FOUND' });
  });

  it('report(id) analyses in a child process, not in the agent', async () => {
    // The analysis command is wrapped by a script that records the pid it runs in, then runs the real CLI.
    const pidFile = join(tmp, `analyze-pid-${process.pid}`);
    const wrapper = join(tmp, 'record-pid.mjs');
    writeFileSync(
      wrapper,
      `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(pidFile)}, JSON.stringify([process.pid, process.argv.slice(2)]));\nawait import(${JSON.stringify(pathToFileURL(BIN).href)});\n`,
    );
    const { m, dir } = manager({ analyzeCommand: [process.execPath, wrapper, 'analyze'] });
    seedOld(dir, 'rst-20260110T000000Z', 4);
    rmSync(join(dir, 'rst-20260110T000000Z.report.json'));
    const again = manager({
      dataDir: join(dir, '..'),
      analyzeCommand: [process.execPath, wrapper, 'analyze'],
    }).m;
    const rep = (await again.report('rst-20260110T000000Z')) as {
      schemaVersion: number;
      summary: { packets: number };
    };
    expect(rep.schemaVersion).toBe(1);
    expect(rep.summary.packets).toBe(4);
    const [pid, args] = JSON.parse(readFileSync(pidFile, 'utf8')) as [number, string[]];
    expect(Number.isInteger(pid) && pid > 0).toBe(true);
    expect(pid).not.toBe(process.pid);
    // On one thread: the agent is careful with the machine it watches.
    expect(args.slice(0, -1)).toEqual(['analyze', '--json', '--quiet', '--threads', '1']);
    void m;
  });

  it('a capture that cannot be read gives a clear error with the reader code, and may be asked again', async () => {
    const { dir, dataDir } = manager();
    const id = 'rst-20260111T000000Z';
    const file = seedOld(dir, id, 2);
    writeFileSync(file, Buffer.from('this is not a capture at all'));
    rmSync(join(dir, `${id}.report.json`));
    const { m } = manager({ dataDir });
    const err = await m.report(id).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RstwatchError);
    expect((err as RstwatchError).code).toBe('E_CAPTURE_MAGIC');
    expect((err as RstwatchError).message).toContain(file);
    expect((err as RstwatchError).message).toMatch(/not a capture file we can read/);
    // Not cached: once the file is good, the same manager analyses it.
    writeFileSync(file, oldPcap(3));
    expect(await m.report(id)).toMatchObject({ summary: { packets: 3 } });
  });

  it('an analysis that outlives its timeout is killed and reported as E_CAPTURE_ANALYZE', async () => {
    const pidFile = join(tmp, `hang-pid-${process.pid}`);
    const hang = [
      process.execPath,
      '-e',
      `require('node:fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); setTimeout(() => {}, 60_000);`,
      '--',
    ];
    const { dir, dataDir } = manager();
    const id = 'rst-20260112T000000Z';
    seedOld(dir, id, 2);
    rmSync(join(dir, `${id}.report.json`));
    const { m } = manager({ dataDir, analyzeCommand: hang, analyzeTimeoutMs: 500 });
    const t0 = Date.now();
    const err = (await m.report(id).then(
      () => undefined,
      (e: unknown) => e,
    )) as RstwatchError;
    expect(err).toBeInstanceOf(RstwatchError);
    expect(err.code).toBe('E_CAPTURE_ANALYZE');
    expect(err.message).toMatch(/took longer than/);
    expect(Date.now() - t0).toBeLessThan(10_000);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    expect(() => process.kill(pid, 0)).toThrow(); // the child is gone
    expect(existsSync(join(dir, `${id}.report.json`))).toBe(false);
  });

  it('close() ends a running analysis', async () => {
    const { dir, dataDir } = manager();
    const id = 'rst-20260114T000000Z';
    seedOld(dir, id, 2);
    rmSync(join(dir, `${id}.report.json`));
    const { m } = manager({
      dataDir,
      analyzeCommand: [process.execPath, '-e', 'setTimeout(() => {}, 60_000)', '--'],
    });
    const pending = m.report(id).then(
      () => undefined,
      (e: unknown) => e,
    );
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    await m.close();
    const err = (await pending) as RstwatchError;
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(err.code).toBe('E_CAPTURE_ANALYZE');
    expect(err.message).toMatch(/SIGKILL/);
  });

  it.each([
    ['prints no valid report', `process.stdout.write('{"half": ')`, /printed no valid report/],
    [
      'crashes',
      `process.stderr.write('boom: something broke\\n'); process.exit(70)`,
      /exit code 70: boom: something broke/,
    ],
    ['is killed', `process.kill(process.pid, 'SIGKILL')`, /SIGKILL/],
  ])('an analysis that %s is E_CAPTURE_ANALYZE, with what it said', async (_what, code, message) => {
    const { dir, dataDir } = manager();
    const id = 'rst-20260113T000000Z';
    seedOld(dir, id, 2);
    rmSync(join(dir, `${id}.report.json`));
    const { m } = manager({ dataDir, analyzeCommand: [process.execPath, '-e', code, '--'] });
    const err = (await m.report(id).then(
      () => undefined,
      (e: unknown) => e,
    )) as RstwatchError;
    expect(err).toBeInstanceOf(RstwatchError);
    expect(err.code).toBe('E_CAPTURE_ANALYZE');
    expect(err.message).toMatch(message);
  });

  it('retention by count: the oldest captures go (file, sidecar, report), the newest stay', async () => {
    const { dir, dataDir } = manager();
    const old = ['rst-20260101T000000Z', 'rst-20260102T000000Z', 'rst-20260103T000000Z'];
    for (const id of old) seedOld(dir, id, 3);
    const { m } = manager({ dataDir, keep: 2 });
    expect(m.list().map((i) => i.id)).toEqual([...old].reverse());
    const a = m.start({ iface: 'lo', durationSeconds: 0.2 });
    await m.idle;
    expect(m.list().map((i) => i.id)).toEqual([a.id, old[2]]);
    for (const id of old.slice(0, 2))
      for (const ext of ['.pcap', '.json', '.report.json'])
        expect(existsSync(join(dir, id + ext))).toBe(false);
    expect(existsSync(join(dir, `${old[2]}.pcap`))).toBe(true);
  });

  it('retention by bytes: oldest first until the files fit', async () => {
    const { dir, dataDir } = manager();
    seedOld(dir, 'rst-20260101T000000Z', 100); // 7024 bytes
    seedOld(dir, 'rst-20260102T000000Z', 100);
    seedOld(dir, 'rst-20260103T000000Z', 10); // 724 bytes
    const { m } = manager({ dataDir, keepBytes: 9000 });
    expect(await m.applyRetention()).toEqual(['rst-20260101T000000Z']);
    expect(m.list().map((i) => i.id)).toEqual(['rst-20260103T000000Z', 'rst-20260102T000000Z']);
    const tight = manager({ dataDir, keepBytes: 100 }).m;
    // The newest is always kept, even alone over the budget.
    expect(await tight.applyRetention()).toEqual(['rst-20260102T000000Z']);
    expect(tight.list().map((i) => i.id)).toEqual(['rst-20260103T000000Z']);
  });

  it('a capture the previous agent left "running" is marked failed and its file cut to whole packets', async () => {
    const { dir, dataDir } = manager();
    const file = seedOld(dir, 'rst-20260105T000000Z', 5, { state: 'running' });
    writeFileSync(file, Buffer.concat([oldPcap(5), Buffer.alloc(20, 7)])); // torn tail
    const { m } = manager({ dataDir });
    expect(m.get('rst-20260105T000000Z')).toMatchObject({
      state: 'failed',
      error: { code: 'E_CAPTURE_TCPDUMP' },
    });
    for (let i = 0; i < 50 && statSync(file).size !== 24 + 5 * 70; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(statSync(file).size).toBe(24 + 5 * 70);
  });

  it('two captures in the same second get distinct ids', async () => {
    const fixed = new Date('2026-12-04T10:00:00.000Z');
    const { m } = manager({ now: () => fixed });
    const a = m.start({ iface: 'lo', durationSeconds: 0.2 });
    await m.idle;
    const b = m.start({ iface: 'lo', durationSeconds: 0.2 });
    await m.idle;
    expect([a.id, b.id]).toEqual(['rst-20261204T100000Z', 'rst-20261204T100000Z-2']);
  });

  it('close() stops the running capture, records it, and refuses new ones', async () => {
    const { m, dir } = manager();
    const a = m.start({ iface: 'lo', durationSeconds: 30 });
    await whenCapturing(m, a.id);
    await m.close();
    expect(m.get(a.id)?.state).toBe('done');
    expect((JSON.parse(readFileSync(join(dir, `${a.id}.json`), 'utf8')) as CaptureInfo).state).toBe('done');
    expect(code(() => m.start({ iface: 'lo' }))).toBe('E_CAPTURE_BUSY');
  });
});
