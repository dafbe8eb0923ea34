/**
 * `rstwatch capture` as a command, with the stand-in tcpdump (--tcpdump): the default file in the data folder,
 * its sidecar and retention, JSON and text output, exit statuses. The real tcpdump runs in
 * test/e2e/capture.test.ts.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { liveLine, run } from '../../src/cli/capture.js';
import type { Io } from '../../src/cli/main.js';
import { FIXTURES } from '../helpers/paths.js';

const FAKE = `${FIXTURES}/bin/fake-tcpdump`;
const tmp = mkdtempSync(join(tmpdir(), 'rw-capcli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
afterEach(() => {
  delete process.env.RSTWATCH_CAPTURE_KEEP;
  delete process.env.FAKE_TCPDUMP_MODE;
});

async function capture(args: string[], isTty = false) {
  let out = '';
  let err = '';
  const io: Io = {
    out: (s) => {
      out += s;
    },
    err: (s) => {
      err += s;
    },
    isTty,
  };
  const code = await run(['--tcpdump', FAKE, '-i', 'lo', ...args], io);
  return { code, out, err };
}

describe('rstwatch capture (stand-in tcpdump)', () => {
  it('writes a timestamped file in <data dir>/captures with a sidecar, and prints the analysis', async () => {
    const dataDir = join(tmp, 'd1');
    const r = await capture(['--duration', '0.5s', '--data-dir', dataDir]);
    expect(r.code).toBe(0);
    const files = readdirSync(join(dataDir, 'captures')).sort();
    expect(files).toHaveLength(2);
    expect(files[0]).toMatch(/^rst-\d{8}T\d{6}Z\.json$/);
    expect(files[1]).toMatch(/^rst-\d{8}T\d{6}Z\.pcap$/);
    const info = JSON.parse(readFileSync(join(dataDir, 'captures', files[0]!), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(info).toMatchObject({ state: 'done', file: join(dataDir, 'captures', files[1]!) });
    expect(r.err).toMatch(
      /capturing TCP resets on lo into .*rst-\d{8}T\d{6}Z\.pcap \(at most 0\.5 s, 256\.0 MiB; Ctrl-C stops\)/,
    );
    expect(r.err).toMatch(/\d+ packets, .* in 1\.\d s on lo → .* \(duration reached\)/);
    expect(r.out).toContain('rstwatch analyze:');
    expect(r.out).toMatch(/Resets: \d+/);
  });

  it('applies the retention limit (capture keep) to the data folder', async () => {
    const dataDir = join(tmp, 'd2');
    process.env.RSTWATCH_CAPTURE_KEEP = '1';
    expect((await capture(['--duration', '0.3s', '--data-dir', dataDir, '--no-analyze'])).code).toBe(0);
    await new Promise((r) => setTimeout(r, 1100)); // a new second, a new name
    expect((await capture(['--duration', '0.3s', '--data-dir', dataDir, '--no-analyze'])).code).toBe(0);
    const pcaps = readdirSync(join(dataDir, 'captures')).filter((f) => f.endsWith('.pcap'));
    expect(pcaps).toHaveLength(1);
  });

  it('--json prints {capture, analysis} with the analyze schema', async () => {
    const file = join(tmp, 'j.pcap');
    const r = await capture(['--duration', '0.5s', '-w', file, '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as {
      capture: {
        file: string;
        packets: number;
        rsts: number;
        stoppedBy: string;
        filter: string;
        format: string;
      };
      analysis: { schemaVersion: number; summary: { rsts: number } };
    };
    expect(j.capture).toMatchObject({ file, stoppedBy: 'duration', format: 'pcap' });
    expect(j.capture.packets).toBeGreaterThan(0);
    expect(j.capture.filter).toContain('vlan');
    expect(j.analysis.schemaVersion).toBe(1);
    expect(j.analysis.summary.rsts).toBe(j.capture.rsts);
    // -w elsewhere: no sidecar next to the user's file.
    expect(existsSync(join(tmp, 'j.json'))).toBe(false);
  });

  it('--no-analyze --json: analysis null; pcapng chosen from the file name', async () => {
    const file = join(tmp, 'n.pcapng');
    const r = await capture(['--duration', '0.3s', '-w', file, '--json', '--no-analyze']);
    const j = JSON.parse(r.out) as { capture: { format: string; file: string }; analysis: null };
    expect(j).toMatchObject({ capture: { format: 'pcapng', file }, analysis: null });
    expect(readFileSync(file).readUInt32LE(0)).toBe(0x0a0d0d0a);
  });

  it('a TTY gets the live line', async () => {
    const r = await capture(['--duration', '1.2s', '-w', join(tmp, 't.pcap'), '--no-analyze'], true);
    expect(r.err).toMatch(
      /\r\x1b\[K {2}\d\.\d s \/ 1\.2 s {2}\d+ packets \(\d+ RSTs\) {2}[\d.]+ (B|KiB) {2}top: 10\.0\.0\.\d ×\d+/,
    );
  });

  it('a failing capture exits 3 with the code, and still analyses what was captured', async () => {
    process.env.FAKE_TCPDUMP_MODE = 'die';
    const r = await capture(['--duration', '5s', '-w', join(tmp, 'die.pcap')]);
    expect(r.code).toBe(3);
    expect(r.err).toContain('error: E_CAPTURE_TCPDUMP: tcpdump failed: The interface went down');
    expect(r.out).toMatch(/Resets: 3 /);
  });

  it.each([
    [['--duration', '6m'], 'E_CAPTURE_LIMIT'],
    [['--duration', 'soon'], 'E_USAGE'],
    [['--max-packets', '0'], 'E_USAGE'],
    [['--max-bytes', '1k'], 'E_CAPTURE_LIMIT'],
    [['--format', 'erf'], 'E_USAGE'],
    [['--filter', '(port 80'], 'E_CAPTURE_FILTER'],
    [['-w', '-'], 'E_USAGE'],
    [['--bogus'], 'E_USAGE'],
  ])('%j: exit 2 with %s', async (args, code) => {
    const r = await capture([...args, ...(args.includes('-w') ? [] : ['-w', join(tmp, 'never.pcap')])]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`error: ${code}: `);
    expect(existsSync(join(tmp, 'never.pcap'))).toBe(false);
  });

  it('--help lists every option', async () => {
    const r = await capture(['--help']);
    expect(r.code).toBe(0);
    for (const o of [
      '--interface',
      '--duration',
      '--max-duration',
      '--max-packets',
      '--max-bytes',
      '--write',
      '--format',
      '--filter',
      '--rst-only',
      '--no-analyze',
      '--json',
    ])
      expect(r.out).toContain(o);
  });

  it('the live line', () => {
    expect(
      liveLine(
        {
          elapsedSeconds: 12.34,
          packets: 40,
          rsts: 30,
          bytes: 3000,
          top: [
            { key: '10.0.0.1', count: 20 },
            { key: 'fd00::1', count: 10 },
          ],
        },
        60,
      ),
    ).toBe('  12.3 s / 60 s  40 packets (30 RSTs)  2.9 KiB  top: 10.0.0.1 ×20, fd00::1 ×10');
  });
});
