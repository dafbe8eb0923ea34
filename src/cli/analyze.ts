/**
 * rstwatch analyze FILE|- — read a pcap/pcapng capture (gzip too), track every TCP connection, give every
 * reset a cause with its evidence, and print a report (text, or `--json`: schema in docs/analyze.md).
 *
 * Bad input never crashes: the reader's problems are printed with byte offsets, whatever was read is
 * reported and marked partial; exit 3 only when nothing at all could be read.
 */

import { readFileSync } from 'node:fs';
import { analyzeCapture } from '../analyze/analyze.js';
import { DEFAULT_MAX_FLOWS } from '../analyze/flows.js';
import { RstwatchError } from '../internal/errors.js';
import { renderJson } from '../report/json.js';
import { renderText } from '../report/text.js';
import { parse } from './args.js';
import type { Io } from './main.js';

const HELP = `Usage: rstwatch analyze FILE|- [options]

Reads a pcap or pcapng capture (gzip-compressed too; - reads standard input, e.g.
\`tcpdump -w - | rstwatch analyze -\`), follows every TCP connection, and gives every reset a
cause — refused, scan, application abort, idle timeout, queue overflow, TIME-WAIT
assassination, half-open, SYN-flood backscatter, injection, RST flood — with its evidence and
a confidence (certain, likely, possible). What the capture cannot explain stays "unexplained".

Options:
  --json             print JSON (schemaVersion 1, docs/analyze.md)
  --top N            length of the top-talker and findings lists (default 10)
  --max-flows N      most connections tracked at once (default ${DEFAULT_MAX_FLOWS})
  -h, --help         this text

Exit status: 0 report printed (also for a partial capture: see the PARTIAL marker);
3 nothing could be read (E_CAPTURE_*); 2 usage error.
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

export async function run(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      json: { type: 'boolean', default: false },
      top: { type: 'string' },
      'max-flows': { type: 'string' },
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

  const report = await analyzeCapture(file === '-' ? process.stdin : file, { top, maxFlows, name: file });
  const problems = report.capture.problems;
  for (const p of problems)
    io.err(`rstwatch analyze: ${file}: byte ${p.offset}: ${p.severity}: ${p.code}: ${p.message}\n`);
  const fatal = report.summary.packets === 0 && problems.some((p) => p.severity === 'error');
  if (fatal) return 3;
  if (report.capture.partial)
    io.err(`rstwatch analyze: ${file}: PARTIAL: reading stopped early; the report covers what was read\n`);
  io.out(values.json ? renderJson(report, version()) : renderText(report, { color: io.isTty }));
  return 0;
}
