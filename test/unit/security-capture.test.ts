/**
 * Capture files hold packets (docs/security.md, "Captures"): they are created owner-only (0600) whatever the
 * umask and whoever tcpdump runs as, and never written through a symbolic link planted under their name or
 * under the temporary name of the pcapng conversion. With test/fixtures/bin/fake-tcpdump (which opens its
 * file with "w", as tcpdump's fopen does) everywhere, and with the real tcpdump on loopback when root.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type CaptureEnv, CaptureRun, prepareCapture } from '../../src/capture/capture.js';
import { LocalCaptureManager } from '../../src/capture/manager.js';
import { pcapToPcapng } from '../../src/capture/pcapfile.js';
import { memoryLogger } from '../../src/internal/log.js';
import { BIN, FIXTURES, requireCapability } from '../helpers/paths.js';
import { request, startHarness } from './server-harness.js';

const FAKE = `${FIXTURES}/bin/fake-tcpdump`;
const tmp = mkdtempSync(join(tmpdir(), 'rw-sec-cap-'));
chmodSync(tmp, 0o755);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const ENV: CaptureEnv = { os: 'linux', tcpdumpPath: FAKE, backstop: false, pollMs: 50, drainMs: 0 };
const mode = (f: string) => statSync(f).mode & 0o777;

async function capture(file: string, format: 'pcap' | 'pcapng') {
  const prepared = await prepareCapture(
    { iface: 'lo', limits: { durationSeconds: 0.4, maxBytes: 1 << 20 }, file, format },
    ENV,
  );
  return new CaptureRun(prepared, ENV).done;
}

describe('capture files are private', () => {
  it('pcap and pcapng captures are 0600 even with umask 000', async () => {
    const old = process.umask(0);
    try {
      for (const format of ['pcap', 'pcapng'] as const) {
        const file = join(tmp, `private.${format}`);
        const r = await capture(file, format);
        expect(r.error).toBeUndefined();
        expect(r.packets).toBeGreaterThan(0);
        expect(r.file).toBe(file);
        expect(mode(file), format).toBe(0o600);
      }
    } finally {
      process.umask(old);
    }
  });

  it('a symbolic link planted under the capture name is removed, never written through', async () => {
    const victim = join(tmp, 'victim-a');
    writeFileSync(victim, 'precious\n');
    const file = join(tmp, 'planted.pcap');
    symlinkSync(victim, file);
    const r = await capture(file, 'pcap');
    expect(r.error).toBeUndefined();
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(lstatSync(file).isFile()).toBe(true);
    expect(mode(file)).toBe(0o600);
  });

  it('the pcapng conversion never writes through a link planted at its temporary name', async () => {
    const src = join(tmp, 'conv-src.pcap');
    expect((await capture(src, 'pcap')).error).toBeUndefined();
    const victim = join(tmp, 'victim-b');
    writeFileSync(victim, 'precious\n');
    const out = join(tmp, 'conv.pcapng');
    symlinkSync(victim, `${out}.tmp`);
    await pcapToPcapng(src, out, 'lo');
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(mode(out)).toBe(0o600);
    expect(existsSync(`${out}.tmp`)).toBe(false);
  });

  it('a tcpdump that fails before writing leaves no empty file behind (as before we created it)', async () => {
    // Compiles the filter (-d) but cannot open the device, like tcpdump on a vanished interface.
    const failing = join(tmp, 'tcpdump-nodev');
    writeFileSync(
      failing,
      '#!/bin/sh\nfor a; do [ "$a" = -d ] && exit 0; done\necho "tcpdump: lo: No such device exists" >&2\nexit 1\n',
      { mode: 0o755 },
    );
    chmodSync(failing, 0o755);
    const file = join(tmp, 'never.pcap');
    const env = { ...ENV, tcpdumpPath: failing };
    const prepared = await prepareCapture(
      { iface: 'lo', limits: { durationSeconds: 5, maxBytes: 1 << 20 }, file, format: 'pcap' },
      env,
    );
    const r = await new CaptureRun(prepared, env).done;
    expect(r.error?.code).toBe('E_CAPTURE_BAD_IFACE');
    expect(existsSync(file)).toBe(false);
  });
});

describe('what a capture request through the API can make tcpdump do', () => {
  const log = join(tmp, 'argv.jsonl');
  afterEach(() => {
    delete process.env.FAKE_TCPDUMP_LOG;
  });

  it('the filter is one argument after "--", ANDed in parentheses; option-like interface names are refused', async () => {
    process.env.FAKE_TCPDUMP_LOG = log;
    const dataDir = mkdtempSync(join(tmp, 'mgr-'));
    const manager = new LocalCaptureManager({
      dataDir,
      keep: 5,
      keepBytes: 1 << 30,
      os: 'linux',
      log: memoryLogger(),
      env: { tcpdumpPath: FAKE, backstop: false, pollMs: 50, drainMs: 0 },
    });
    const h = await startHarness({ captures: manager });
    try {
      const post = (body: object) =>
        request(`${h.url}/api/rstwatch/captures`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${h.token}`, 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        });
      // Interface names that would read as options, or walk paths: refused before anything runs.
      for (const iface of ['-w/etc/passwd', '--version', '../x', 'lo;id', 'lo 1']) {
        const r = await post({ iface, durationSeconds: 1 });
        expect(r.status, iface).toBe(400);
        expect(r.json<{ error: { code: string } }>().error.code, iface).toMatch(
          /^E_(API_PARAM|CAPTURE_BAD_IFACE)$/,
        );
      }
      // Filters that try to close the RST test's parentheses or smuggle options.
      for (const filter of ['port 80) or (udp', 'tcp or (']) {
        const r = await post({ iface: 'lo', durationSeconds: 1, filter });
        expect(r.status, filter).toBe(400);
        expect(r.json<{ error: { code: string } }>().error.code).toBe('E_CAPTURE_FILTER');
      }
      expect(existsSync(log)).toBe(false); // tcpdump never ran for any of them
      const hostile = '-w /etc/passwd -Z root -z /bin/sh';
      const ok = await post({ iface: 'lo', durationSeconds: 1, filter: hostile });
      expect(ok.status).toBe(201);
      await manager.idle;
      const calls = readFileSync(log, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as string[]);
      expect(calls.length).toBeGreaterThanOrEqual(2); // tcpdump -d (compile), then the capture
      for (const argv of calls) {
        const dd = argv.indexOf('--');
        expect(dd).toBe(argv.length - 2); // "--", then the whole expression as ONE argument
        expect(argv[dd + 1]).toContain(`(${hostile}) and (`);
        expect(argv.slice(0, dd)).not.toContain('/etc/passwd');
        expect(argv.slice(0, dd)).not.toContain('-Z');
        expect(argv.slice(0, dd)).not.toContain('-z');
      }
      const capture = calls.find((a) => a.includes('-w'))!;
      expect(capture[capture.indexOf('-w') + 1]).toMatch(
        new RegExp(`^${dataDir}/captures/rst-\\d{8}T\\d{6}Z\\.pcap$`),
      );
    } finally {
      await h.close();
      await manager.close();
    }
  });

  it('retention deletes only the files it made, whatever a sidecar claims', async () => {
    const dataDir = mkdtempSync(join(tmp, 'ret-'));
    const dir = join(dataDir, 'captures');
    const victim = join(tmp, 'victim-c');
    writeFileSync(victim, 'precious\n');
    mkdirSync(dir, { recursive: true });
    for (const id of ['rst-20260101T000000Z', 'rst-20260101T000001Z', 'rst-20260101T000002Z']) {
      writeFileSync(join(dir, `${id}.pcap`), Buffer.alloc(24));
      // A hostile (or damaged) sidecar naming a file outside the folder.
      writeFileSync(
        join(dir, `${id}.json`),
        JSON.stringify({
          id,
          state: 'done',
          startedAt: '2026-01-01T00:00:00.000Z',
          file: victim,
          bytes: 24,
          packets: 0,
          request: {},
        }),
      );
    }
    writeFileSync(join(dir, 'notes.txt'), 'not a capture\n');
    const manager = new LocalCaptureManager({
      dataDir,
      keep: 1,
      keepBytes: 1 << 30,
      os: 'linux',
      log: memoryLogger(),
    });
    const removed = await manager.applyRetention();
    expect(removed).toEqual(['rst-20260101T000000Z', 'rst-20260101T000001Z']);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('not a capture\n');
    expect(existsSync(join(dir, 'rst-20260101T000002Z.pcap'))).toBe(true);
    await manager.close();
  });
});

const isRoot = process.geteuid?.() === 0;
const haveTcpdump = spawnSync('tcpdump', ['--version']).status === 0;
requireCapability(isRoot && haveTcpdump, 'root and tcpdump (scripts/setup-test-env.sh)');
if (!(isRoot && haveTcpdump))
  console.warn('SKIPPED: the real-tcpdump capture mode test needs root and tcpdump');

describe.skipIf(!(isRoot && haveTcpdump))('with the real tcpdump (which drops root to its own user)', () => {
  it('rstwatch capture -w FILE leaves a 0600 file, pcap and pcapng', () => {
    for (const ext of ['pcap', 'pcapng']) {
      const file = join(tmp, `real.${ext}`);
      const r = spawnSync(
        process.execPath,
        [BIN, 'capture', '-i', 'lo', '--duration', '1s', '-w', file, '--no-analyze', '--json'],
        { encoding: 'utf8', timeout: 60_000 },
      );
      expect(r.status, r.stderr).toBe(0);
      expect(mode(file), ext).toBe(0o600);
    }
  });
});
