/**
 * rstwatch status — works without an agent: reads the counters, waits --interval seconds, reads again,
 * and prints rates and totals with one line of meaning each. `--watch` redraws like top; `--json` prints
 * an object (schema in docs/status.md). Needs no privileges for the host namespace.
 */

import { readFileSync } from 'node:fs';
import { createCollectors, detectOs, parseOs } from '../collect/factory.js';
import type { Collector, CollectResult } from '../collect/types.js';
import { RstwatchError } from '../internal/errors.js';
import { buildNamespaceStatus, type NamespaceStatus, renderText, statusJson } from '../status/report.js';
import { parse, parseSeconds } from './args.js';
import type { Io } from './main.js';

const HELP = `Usage: rstwatch status [options]

Reads the kernel's TCP counters twice, --interval apart, and prints the reset-related rates and
totals, grouped, with one line of meaning each. Works without an agent and as non-root.

Options:
  --interval DURATION   time between the two reads (default 1s; 0 prints totals only)
  --watch               redraw every interval, like top (Ctrl-C to stop)
  --count N             with --watch: stop after N refreshes
  --json                print JSON: {source, netns, counters, rates, groups, problems, namespaces}
  --netns NS            also read this network namespace: an \`ip netns\` NAME, a /path to a
                        namespace file, or pid:N (repeatable; needs root unless a process of
                        yours lives in it)
  --proc-root DIR       read DIR/net/snmp and DIR/net/netstat instead of /proc (default /proc)
  --os linux|freebsd    which collector to use (default: this machine's)
  --netstat PATH        FreeBSD: the netstat program (default /usr/bin/netstat)
  --sysctl PATH         FreeBSD: the sysctl program (default /sbin/sysctl)
  -h, --help            this text

Exit status: 0 all namespaces read; 3 one of them could not be read at all; 2 usage error.
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

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function collectAll(collectors: Collector[]): Promise<{ results: CollectResult[]; mono: number }> {
  const results = await Promise.all(collectors.map((c) => c.collect()));
  return { results, mono: performance.now() };
}

export async function run(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, {
    interval: { type: 'string', default: '1s' },
    watch: { type: 'boolean', default: false },
    count: { type: 'string' },
    json: { type: 'boolean', default: false },
    netns: { type: 'string', multiple: true },
    'proc-root': { type: 'string' },
    os: { type: 'string' },
    netstat: { type: 'string' },
    sysctl: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.out(HELP);
    return 0;
  }
  const interval = parseSeconds(values.interval, '--interval');
  if (interval > 3600) throw new RstwatchError('E_USAGE', '--interval: at most 1h');
  if (values.watch && interval <= 0)
    throw new RstwatchError('E_USAGE', '--watch needs an --interval above 0');
  const count = values.count === undefined ? Number.POSITIVE_INFINITY : Number(values.count);
  if (!(count >= 1)) throw new RstwatchError('E_USAGE', '--count must be a positive number');
  const os = values.os === undefined ? detectOs() : parseOs(values.os);
  const opts: Parameters<typeof createCollectors>[0] = { os, netns: values.netns ?? [] };
  if (values['proc-root'] !== undefined) opts.procRoot = values['proc-root'];
  if (values.netstat !== undefined) opts.netstatPath = values.netstat;
  if (values.sysctl !== undefined) opts.sysctlPath = values.sysctl;
  const collectors = await createCollectors(opts);

  let stopped = false;
  const onSignal = () => {
    stopped = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    let prev = await collectAll(collectors);
    if (interval <= 0) return print(io, values.json, os, prev.results, prev.results, 0);
    let code = 0;
    for (let n = 0; n < count && !stopped; n++) {
      const until = prev.mono + interval * 1000;
      while (!stopped && performance.now() < until) await sleep(Math.min(200, until - performance.now()));
      if (stopped) break;
      const next = await collectAll(collectors);
      if (values.watch && io.isTty && !values.json) io.out('\x1b[H\x1b[2J');
      code = print(io, values.json, os, prev.results, next.results, (next.mono - prev.mono) / 1000);
      if (!values.watch) break;
      prev = next;
    }
    return code;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await Promise.all(collectors.map((c) => c.close()));
  }
}

function print(
  io: Io,
  json: boolean,
  os: 'linux' | 'freebsd',
  first: CollectResult[],
  second: CollectResult[],
  seconds: number,
): number {
  const all: NamespaceStatus[] = second.map((r, i) => buildNamespaceStatus(os, first[i]!, r, seconds));
  const now = new Date();
  if (json) io.out(`${JSON.stringify(statusJson(version(), now, all), null, 2)}\n`);
  else io.out(renderText(all, now));
  // A namespace with no counter at all could not be read: say so in the exit status too.
  return all.some((ns) => Object.keys(ns.counters).length === 0) ? 3 : 0;
}
