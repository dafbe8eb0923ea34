/**
 * rstwatch capture — the field guide's tcpdump step done safely: a bounded capture of every TCP RST (IPv4,
 * IPv6, VLAN-tagged), a live line while it runs, then `rstwatch analyze` on the file. docs/capture.md.
 */

import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { analyzeCapture } from '../analyze/analyze.js';
import {
  type CaptureProgress,
  type CaptureResult,
  CaptureRun,
  ensureDir,
  prepareCapture,
} from '../capture/capture.js';
import { LocalCaptureManager, writeSidecar } from '../capture/manager.js';
import {
  captureId,
  captureLimits,
  capturesDir,
  chooseFormat,
  DEFAULT_MAX_BYTES,
  DURATION_CAP_SECONDS,
  extensionOf,
  parseBytes,
} from '../capture/plan.js';
import type { CaptureInfo } from '../capture/types.js';
import { detectOs } from '../collect/factory.js';
import { assertNoProblems, resolveSettings } from '../internal/config.js';
import { formatProblem, RstwatchError } from '../internal/errors.js';
import { createLogger } from '../internal/log.js';
import { analysisJson } from '../report/json.js';
import { renderText } from '../report/text.js';
import { parse, parseSeconds } from './args.js';
import type { Io } from './main.js';

const HELP = `Usage: rstwatch capture [options]

Captures every TCP reset (IPv4 and IPv6, untagged and VLAN-tagged), with the SYNs that opened connections,
using tcpdump, bounded in time, packets and bytes; then analyses the file as \`rstwatch analyze\` does. Needs root (CAP_NET_RAW) and tcpdump.
Ctrl-C stops the capture early; the file is valid either way.

Options:
  -i, --interface IFACE  interface (default: any on Linux; the default route's interface on FreeBSD)
  --duration D           how long: 30, 30s, 2m (default 60s)
  --max-duration D       raise the 5-minute cap on --duration (up to 24h)
  --max-packets N        stop after N packets
  --max-bytes N          stop before the file exceeds N bytes: 1048576, 512k, 10M, 1G (default 256M)
  -w, --write FILE       capture file (default <data dir>/captures/rst-YYYYmmddTHHMMSSZ.pcap)
  --format pcap|pcapng   file format (default pcap, or pcapng when FILE ends in .pcapng)
  --filter EXPR          a tcpdump (BPF) expression that narrows the capture, e.g. 'port 443';
                         ANDed with the RST test, passed to tcpdump as one argument
  --rst-only             keep RSTs only; by default the SYNs that open connections are kept too,
                         so the analysis can tell refused connections and scans from other resets
  --no-analyze           only capture
  --json                 print {capture, analysis} as JSON (analysis: the rstwatch analyze --json schema)
  --data-dir DIR         data folder for the default file (default /var/lib/rstwatch as root)
  --tcpdump PATH         tcpdump to run (default: tcpdump on PATH)
  -h, --help             this text

Exit status: 0 captured (and analysed); 2 usage error or refused limit; 3 the capture failed or ended
with an error (E_CAPTURE_*: the file, when there is one, is still valid and is analysed).
`;

/** Refusals of what was asked: exit status 2 like any usage error. */
const USAGE_CODES = new Set(['E_USAGE', 'E_CAPTURE_LIMIT', 'E_CAPTURE_FILTER', 'E_CAPTURE_BAD_IFACE']);

function version(): string {
  try {
    return (
      JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
    ).version;
  } catch {
    return 'unknown';
  }
}

function positiveInt(text: string, what: string): number {
  const v = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(v) || v < 1)
    throw new RstwatchError(
      'E_USAGE',
      `${what}: expected a positive whole number, got ${JSON.stringify(text)}`,
    );
  return v;
}

export function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** The live line: elapsed / limit, packets, size, top RST sources. */
export function liveLine(p: CaptureProgress, limitSeconds: number): string {
  const top = p.top.map((t) => `${t.key} ×${t.count}`).join(', ');
  return `  ${p.elapsedSeconds.toFixed(1)} s / ${limitSeconds} s  ${p.packets} packets (${p.rsts} RSTs)  ${humanBytes(p.bytes)}${top ? `  top: ${top}` : ''}`;
}

const STOPPED: Record<CaptureResult['stoppedBy'], string> = {
  duration: 'duration reached',
  packets: 'packet limit reached',
  bytes: 'byte limit reached',
  interrupted: 'interrupted',
  'disk-full': 'disk nearly full',
  'tcpdump-exited': 'tcpdump exited',
};

function printError(io: Io, err: RstwatchError): void {
  io.err(`rstwatch capture: ${formatProblem(err.toProblem())}\n`);
  if (err.hint) io.err(`  hint: ${err.hint}\n`);
}

export async function run(argv: string[], io: Io): Promise<number> {
  try {
    return await capture(argv, io);
  } catch (err) {
    if (err instanceof RstwatchError && USAGE_CODES.has(err.code)) {
      printError(io, err);
      return 2;
    }
    throw err;
  }
}

async function capture(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, {
    interface: { type: 'string', short: 'i' },
    duration: { type: 'string' },
    'max-duration': { type: 'string' },
    'max-packets': { type: 'string' },
    'max-bytes': { type: 'string' },
    write: { type: 'string', short: 'w' },
    format: { type: 'string' },
    filter: { type: 'string' },
    'rst-only': { type: 'boolean', default: false },
    'no-analyze': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    'data-dir': { type: 'string' },
    tcpdump: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.out(HELP);
    return 0;
  }
  const cap =
    values['max-duration'] !== undefined
      ? parseSeconds(values['max-duration'], '--max-duration')
      : DURATION_CAP_SECONDS;
  const limits = captureLimits(
    {
      ...(values.duration !== undefined
        ? { durationSeconds: parseSeconds(values.duration, '--duration') }
        : {}),
      ...(values['max-packets'] !== undefined
        ? { maxPackets: positiveInt(values['max-packets'], '--max-packets') }
        : {}),
      maxBytes:
        values['max-bytes'] !== undefined
          ? parseBytes(values['max-bytes'], '--max-bytes')
          : DEFAULT_MAX_BYTES,
    },
    cap,
  );
  if (values.write === '-')
    throw new RstwatchError(
      'E_USAGE',
      '-w -: rstwatch capture writes a file; for a stream use `tcpdump -w - | rstwatch analyze -`',
    );
  const format = chooseFormat(values.format, values.write);
  const os = detectOs();

  // The default file lives in the data folder, where the agent lists it and the retention limit applies.
  let file: string;
  let managed: { dataDir: string; keep: number; keepBytes: number } | undefined;
  if (values.write !== undefined) file = resolve(values.write);
  else {
    const resolved = resolveSettings({
      flags: values['data-dir'] !== undefined ? { 'data-dir': values['data-dir'] } : {},
    });
    for (const p of resolved.problems) io.err(`rstwatch capture: ${formatProblem(p)}\n`);
    assertNoProblems(resolved.problems);
    const s = resolved.settings;
    managed = { dataDir: s.dataDir, keep: s.captureKeep, keepBytes: s.captureKeepBytes };
    const dir = capturesDir(s.dataDir);
    await ensureDir(dir);
    const now = new Date();
    let id = captureId(now);
    for (let i = 2; ['.pcap', '.pcapng', '.json'].some((e) => existsSync(join(dir, id + e))); i++)
      id = captureId(now, i);
    file = join(dir, `${id}${extensionOf(format)}`);
  }

  const prepared = await prepareCapture(
    {
      ...(values.interface !== undefined ? { iface: values.interface } : {}),
      limits,
      ...(values.filter !== undefined ? { userFilter: values.filter } : {}),
      rstOnly: values['rst-only'],
      file,
      format,
    },
    { os, ...(values.tcpdump !== undefined ? { tcpdumpPath: values.tcpdump } : {}) },
  );

  const startedAt = new Date();
  const runner = new CaptureRun(prepared);
  const onSignal = () => runner.stop('interrupted');
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);
  let live: NodeJS.Timeout | undefined;
  let result: CaptureResult;
  try {
    await runner.ready;
    if (runner.running) {
      const bounds = [`${limits.durationSeconds} s`];
      if (limits.maxPackets !== undefined) bounds.push(`${limits.maxPackets} packets`);
      bounds.push(humanBytes(limits.maxBytes));
      io.err(
        `rstwatch capture: capturing TCP resets on ${prepared.iface} into ${file} (at most ${bounds.join(', ')}; Ctrl-C stops)\n`,
      );
      if (io.isTty)
        live = setInterval(
          () => io.err(`\r\x1b[K${liveLine(runner.progress(), limits.durationSeconds)}`),
          500,
        );
    }
    result = await runner.done;
  } finally {
    if (live !== undefined) clearInterval(live);
    for (const s of signals) process.off(s, onSignal);
  }
  if (live !== undefined) io.err('\r\x1b[K');

  io.err(
    `rstwatch capture: ${result.packets} packets, ${humanBytes(result.bytes)} in ${result.elapsedSeconds.toFixed(1)} s on ${result.iface} → ${result.file} (${STOPPED[result.stoppedBy]})\n`,
  );
  if (result.kernelDrops)
    io.err(`rstwatch capture: warning: the kernel dropped ${result.kernelDrops} packets (tcpdump's count)\n`);
  if (result.cutBytes > 0)
    io.err(
      `rstwatch capture: cut ${result.cutBytes} bytes of an incomplete last packet or beyond --max-bytes; the file is valid\n`,
    );
  if (result.error) printError(io, result.error);

  const info: CaptureInfo = {
    id: idOf(result.file),
    state: result.error ? 'failed' : 'done',
    startedAt: startedAt.toISOString(),
    endedAt: new Date().toISOString(),
    file: result.file,
    bytes: result.bytes,
    packets: result.packets,
    request: {
      iface: result.iface,
      durationSeconds: limits.durationSeconds,
      maxBytes: limits.maxBytes,
      format: result.format,
      ...(limits.maxPackets !== undefined ? { maxPackets: limits.maxPackets } : {}),
      ...(values.filter !== undefined ? { filter: values.filter } : {}),
    },
  };
  if (result.error) info.error = { code: result.error.code, message: result.error.message };
  if (managed) {
    await writeSidecar(capturesDir(managed.dataDir), info).catch(() => undefined);
    await new LocalCaptureManager({
      ...managed,
      os,
      log: createLogger({ level: 'warn', write: (l) => io.err(`${l}\n`) }),
    })
      .applyRetention()
      .catch(() => undefined);
  }

  const exit = result.error ? 3 : 0;
  const haveFile = result.bytes > 0;
  if (values['no-analyze'] || !haveFile) {
    if (values.json)
      io.out(`${JSON.stringify({ capture: captureJson(result, info), analysis: null }, null, 2)}\n`);
    return exit;
  }
  const report = await analyzeCapture(result.file, { name: result.file });
  if (values.json)
    io.out(
      `${JSON.stringify({ capture: captureJson(result, info), analysis: analysisJson(report, version()) }, null, 2)}\n`,
    );
  else io.out(renderText(report, { color: io.isTty && !process.env.NO_COLOR }));
  return exit;
}

function idOf(file: string): string {
  const base = file.slice(file.lastIndexOf('/') + 1);
  return base.replace(/\.(pcapng|pcap)$/i, '');
}

function captureJson(r: CaptureResult, info: CaptureInfo) {
  return {
    ...info,
    iface: r.iface,
    filter: r.filter,
    format: r.format,
    rsts: r.rsts,
    elapsedSeconds: Number(r.elapsedSeconds.toFixed(3)),
    stoppedBy: r.stoppedBy,
    kernelDrops: r.kernelDrops ?? null,
    cutBytes: r.cutBytes,
    topSources: r.top,
  };
}
