/**
 * rstwatch analyze FILE|- — read a pcap/pcapng capture (gzip too), track every TCP connection, give every
 * reset a cause with its evidence, and print a report: text, `--json` (schema in docs/analyze.md), and/or a
 * self-contained HTML page with `--html OUT`.
 *
 * Bad input never crashes: the reader's problems are printed with their code and byte offset, whatever was
 * read is reported and marked PARTIAL; exit 3 only when nothing at all could be read.
 */

import { fstatSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { analyzeCapture as AnalyzeCapture } from '../analyze/analyze.js';
import { DEFAULT_MAX_FLOWS } from '../analyze/limits.js';
import { prestartClassifyWorker } from '../analyze/prestart.js';
import { crypto, tty } from '../internal/builtins.js';
import { errorMessage, RstwatchError } from '../internal/errors.js';
import { DEFAULT_HTML_MAX_ROWS } from '../report/html-limits.js';
import { writeJson } from '../report/json.js';
import { createProgress } from '../report/progress.js';
import { parse } from './args.js';
import type { Io } from './main.js';

const DEFAULT_MAX_CONNECTIONS = 1000;

const HELP = `Usage: rstwatch analyze FILE|- [options]

Reads a pcap or pcapng capture (gzip-compressed too; - reads standard input, e.g.
\`tcpdump -w - | rstwatch analyze -\`), follows every TCP connection, and gives every reset a
cause — refused, scan, application abort, idle timeout, queue overflow, TIME-WAIT
assassination, half-open, SYN-flood backscatter, injection, RST flood — with its evidence and
a confidence (certain, likely, possible). What the capture cannot explain stays "unexplained".

Options:
  --json                 print JSON instead of text (schemaVersion 1, docs/analyze.md)
  --html OUT             also write a self-contained HTML report (charts, tables) to OUT
  --top N                length of the top-talker and findings lists (default 10)
  --max-connections N    connections listed with their evidence in --json/--html
                         (default ${DEFAULT_MAX_CONNECTIONS}; "all" lists every one in the JSON;
                         the HTML table shows at most ${DEFAULT_HTML_MAX_ROWS})
  --max-flows N          most connections tracked at once (default ${DEFAULT_MAX_FLOWS})
  --engine auto|native|js
                         connection tracking in the native engine (C, built by npm run build)
                         or in TypeScript (the reference: the same report, ~2x slower);
                         auto (default): native when it is built
  --threads auto|1|2     1: all in this thread; 2: a second thread (with the native engine it
                         classifies, with the TypeScript one it tracks connections, faster with a
                         free core, for more CPU); auto (default): one thread with the native
                         engine; with the TypeScript one, 2 for a stream or a file of 16 MiB or
                         more if the process may use 2 CPUs
  -q, --quiet            no progress bar
  -h, --help             this text

Colour only when standard output is a terminal and NO_COLOR is unset. A progress bar goes to
standard error when it is a terminal and the input is a file of 8 MiB or more.

Reading a pipe (tcpdump -w - | rstwatch analyze -), the first Ctrl-C waits for the capture to
end (tcpdump flushes and closes the pipe) and then reports; a second one stops reading and
reports what was read (PARTIAL).

Exit status: 0 report printed (also for a partial capture: see the PARTIAL marker);
3 nothing could be read (E_CAPTURE_*) or the HTML file could not be written (E_ANALYZE_OUTPUT);
2 usage error; 130 (SIGINT) stopped by a second Ctrl-C, after the report; 141 the reader of
the output went away.
`;

function version(): string {
  try {
    return (
      JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
    ).version;
  } catch {
    return 'unknown';
  }
}

function positiveInt(text: string | undefined, what: string, dflt: number): number {
  if (text === undefined) return dflt;
  const v = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(v) || v < 1)
    throw new RstwatchError('E_USAGE', `${what}: expected a positive integer, got ${JSON.stringify(text)}`);
  return v;
}

/** --threads: 1 → in this thread, 2 → with the flow worker, auto (default) → analyze.ts decides. */
function threadsOption(text: string | undefined): boolean | 'auto' {
  const t = text?.trim();
  if (t === undefined || t === 'auto') return 'auto';
  if (t === '1') return false;
  if (t === '2') return true;
  throw new RstwatchError('E_USAGE', `--threads: expected auto, 1 or 2, got ${JSON.stringify(text)}`);
}

/** --engine: auto (default), native or js (analyze.ts AnalyzeOptions.engine). */
function engineOption(text: string | undefined): 'auto' | 'native' | 'js' {
  const t = text?.trim();
  if (t === undefined || t === 'auto') return 'auto';
  if (t === 'native' || t === 'js') return t;
  throw new RstwatchError('E_USAGE', `--engine: expected auto, native or js, got ${JSON.stringify(text)}`);
}

/** Size of the input when it is a regular file (a path, or stdin redirected from one); else 0 (no bar). */
function inputSize(file: string): number {
  try {
    const st = file === '-' ? fstatSync(0) : statSync(file);
    return st.isFile() ? st.size : 0;
  } catch {
    return 0; // the reader reports why it cannot open it
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Writes through a temporary file in the same folder and renames: a reader never sees half a page. The
 * temporary name is random and opened with O_EXCL ('wx'), so a symbolic link planted in a shared folder such
 * as /tmp is never written through (a predictable `.OUT.<pid>.tmp` was; docs/security.md).
 */
function writeAtomically(path: string, text: string): void {
  const tmp = join(
    dirname(path),
    `.${basename(path)}.${process.pid}-${crypto().randomBytes(6).toString('hex')}.tmp`,
  );
  try {
    writeFileSync(tmp, text, { mode: 0o644, flag: 'wx' });
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // never created
    }
    throw new RstwatchError(
      'E_ANALYZE_OUTPUT',
      `cannot write the HTML report to ${path}: ${errorMessage(err)}`,
    );
  }
}

export async function run(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      json: { type: 'boolean', default: false },
      html: { type: 'string' },
      top: { type: 'string' },
      'max-connections': { type: 'string' },
      'max-flows': { type: 'string' },
      threads: { type: 'string' },
      engine: { type: 'string' },
      quiet: { type: 'boolean', short: 'q', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    true,
  );
  if (values.help) {
    io.out(HELP);
    return 0;
  }
  if (positionals.length !== 1)
    throw new RstwatchError(
      'E_USAGE',
      positionals.length === 0
        ? 'which capture? give a FILE, or - for standard input'
        : 'give exactly one capture',
      { hint: 'see --help' },
    );
  const file = positionals[0]!;
  const top = positiveInt(values.top, '--top', 10);
  const maxFlows = positiveInt(values['max-flows'], '--max-flows', DEFAULT_MAX_FLOWS);
  const maxConnections =
    values['max-connections'] === 'all'
      ? Number.MAX_SAFE_INTEGER
      : positiveInt(values['max-connections'], '--max-connections', DEFAULT_MAX_CONNECTIONS);
  const parallel = threadsOption(values.threads);
  const engine = engineOption(values.engine);
  if (values.html === '') throw new RstwatchError('E_USAGE', '--html: give the file to write');
  // Fail before a long analysis, not after it, when the HTML report has nowhere to go.
  if (values.html !== undefined && !isDirectory(dirname(values.html)))
    throw new RstwatchError(
      'E_ANALYZE_OUTPUT',
      `cannot write the HTML report to ${values.html}: ${dirname(values.html)} is not a folder`,
    );
  // isatty(0), not process.stdin.isTTY: creating process.stdin makes a pipe on descriptor 0 non-blocking, and
  // the capture is read from the descriptor itself (src/packet/reader.ts readDescriptor).
  if (file === '-' && tty().isatty(0))
    throw new RstwatchError('E_USAGE', 'standard input is a terminal, not a capture', {
      hint: 'pipe one in: tcpdump -w - | rstwatch analyze -',
    });

  // The classification worker boots while this thread loads the analyzer (prestart.ts); then the analyzer.
  if (engine !== 'js') prestartClassifyWorker(parallel);
  const { analyzeCapture } = await import('../analyze/analyze.js');

  const progress = createProgress({
    totalBytes: values.quiet ? 0 : inputSize(file),
    write: (s) => process.stderr.write(s),
    isTty: Boolean(process.stderr.isTTY),
    columns: process.stderr.columns,
  });
  const interrupt = watchInterrupts(file, io);
  let report: Awaited<ReturnType<typeof AnalyzeCapture>>;
  try {
    report = await analyzeCapture(file === '-' ? 0 : file, {
      top,
      maxFlows,
      maxConnections,
      parallel,
      engine,
      name: file,
      onProgress: (n) => progress.update(n),
      ...(interrupt !== undefined ? { signal: interrupt.signal } : {}),
    });
  } finally {
    progress.done();
    interrupt?.stop();
  }

  const problems = report.capture.problems;
  // The offset once, at the end, whether or not the reader's message already carries it.
  for (const p of problems)
    io.err(
      `rstwatch analyze: ${file}: ${p.severity}: ${p.code}: ${p.message.replace(/ \(at byte offset \d+\)$/, '')} (at byte offset ${p.offset})\n`,
    );
  const fatal = report.summary.packets === 0 && problems.some((p) => p.severity === 'error');
  if (fatal) return 3;
  if (report.capture.partial)
    io.err(`rstwatch analyze: ${file}: PARTIAL: reading stopped early; the report covers what was read\n`);

  if (values.html !== undefined) {
    // The renderers are loaded only when used: `--json` (the common case in scripts) never pays for them.
    const { renderHtml } = await import('../report/html.js');
    writeAtomically(values.html, renderHtml(report, { version: version() }));
    io.err(`rstwatch analyze: wrote ${values.html}\n`);
  }
  if (values.json) writeJson(report, version(), io.out);
  else {
    const color = io.isTty && !process.env.NO_COLOR;
    const { renderText } = await import('../report/text.js');
    io.out(renderText(report, { color, width: io.isTty ? process.stdout.columns : undefined }));
  }
  if (interrupt?.signal.aborted === true) {
    // Stopped by a second Ctrl-C: a read of the pipe may still wait (in the pipe reader's thread, or in
    // libuv's thread pool) for a writer that never writes or closes, and process.exit() would wait for that
    // thread forever (Node joins its threads at exit). Everything is written: end the way an interrupted program does, by the signal itself with
    // its default action (status 130 in a shell).
    await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
    process.removeAllListeners('SIGINT');
    process.kill(process.pid, 'SIGINT');
  }
  return 0;
}

/**
 * Ctrl-C while reading a pipe or a FIFO (`tcpdump -w - | rstwatch analyze -`): the terminal sends SIGINT to
 * both; tcpdump writes what it has and closes the pipe, and the report must still come — so the first
 * SIGINT only says that rstwatch waits for the end of its input, and a second one stops reading at once and
 * reports what was read (E_CAPTURE_INTERRUPTED, PARTIAL). A regular file keeps the default: Ctrl-C ends
 * the process. Undefined when the input is a file.
 */
function watchInterrupts(file: string, io: Io): { signal: AbortSignal; stop: () => void } | undefined {
  try {
    if ((file === '-' ? fstatSync(0) : statSync(file)).isFile()) return undefined;
  } catch {
    return undefined; // the reader reports why it cannot read it
  }
  const controller = new AbortController();
  let count = 0;
  const onSignal = () => {
    count++;
    if (count === 1) {
      io.err(
        'rstwatch analyze: interrupted: the report comes when the capture on the input ends (Ctrl-C again to stop reading now)\n',
      );
    } else {
      io.err('rstwatch analyze: interrupted again: reporting what was read\n');
      controller.abort();
      process.removeListener('SIGINT', onSignal);
    }
  };
  process.on('SIGINT', onSignal);
  return { signal: controller.signal, stop: () => process.removeListener('SIGINT', onSignal) };
}
