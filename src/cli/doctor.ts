/**
 * rstwatch doctor — reads the reset-related sysctls and samples the counters over --interval (default 3 s;
 * the agent has no API yet), then reports findings with severity, evidence and the exact command to fix.
 * Exit status: 0 ok/info, 1 a warning, 4 a critical finding, 2 usage, 3 runtime error (docs/doctor.md).
 */

import { detectOs, parseOs } from '../collect/factory.js';
import { parseNetnsSpec } from '../collect/netns.js';
import { formatProblem, type Problem, RstwatchError } from '../internal/errors.js';
import { runInNetns } from '../internal/netns-exec.js';
import type { Os } from '../model/charts.js';
import {
  diagnose,
  exitCodeFor,
  type Finding,
  type FindingSeverity,
  THRESHOLDS,
  worstSeverity,
} from '../remedy/doctor.js';
import { gatherDoctorInput, type Settings } from '../remedy/doctor-inputs.js';
import { parse, parseSeconds } from './args.js';
import type { Io } from './main.js';

const HELP = `Usage: rstwatch doctor [options]

Reads the sysctls that decide how TCP resets are sent and accepted, samples the kernel counters for
--interval, and reports findings worst first: severity, evidence (values and rates) and the exact
command that fixes each one. \`rstwatch explain <topic>\` tells more about a finding's topic.

Options:
  --interval DURATION   how long to sample the counters (default 3s; 0 checks the settings only)
  --json                print JSON: {os, netns, intervalSeconds, settings, findings, worst, problems}
  --netns NAME          diagnose this network namespace (an \`ip netns\` NAME, /path or pid:N); doctor
                        re-runs itself inside it, since sysctls are per namespace (needs root)
  --os linux|freebsd    which kernel's checks to run (default: this machine's)
  --proc-root DIR       Linux: read DIR/net/{snmp,netstat} and DIR/sys/net/... (default /proc)
  --netstat PATH        FreeBSD: the netstat program (default /usr/bin/netstat)
  --sysctl PATH         FreeBSD: the sysctl program (default /sbin/sysctl)
  -h, --help            this text

Exit status: 0 nothing above info; 1 a warning; 4 a critical finding; 2 usage error;
3 runtime error (also when the counters could not be read at all and nothing is above info).
`;

export const MAX_INTERVAL_SECONDS = 3600;

export interface DoctorReport {
  os: Os;
  netns: string;
  intervalSeconds: number;
  /** Unknown settings are null. */
  settings: Record<string, number | string | null>;
  findings: Finding[];
  worst: FindingSeverity;
  problems: Problem[];
}

export async function run(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, {
    interval: { type: 'string', default: '3s' },
    json: { type: 'boolean', default: false },
    netns: { type: 'string' },
    os: { type: 'string' },
    'proc-root': { type: 'string' },
    netstat: { type: 'string' },
    sysctl: { type: 'string' },
    // Internal: set by the --netns re-execution so the report names the namespace it ran in.
    'in-netns': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.out(HELP);
    return 0;
  }
  const interval = parseSeconds(values.interval, '--interval');
  if (interval > MAX_INTERVAL_SECONDS) throw new RstwatchError('E_USAGE', '--interval: at most 1h');
  const os = values.os === undefined ? detectOs() : parseOs(values.os);

  if (values.netns !== undefined) {
    const spec = parseNetnsSpec(values.netns);
    if (spec.kind !== 'host') {
      if (os === 'freebsd') {
        throw new RstwatchError(
          'E_NETNS_UNSUPPORTED',
          '--netns is for Linux network namespaces; FreeBSD VNET jails are not supported yet',
        );
      }
      // Sysctls under /proc/sys/net are the opener's namespace: run the whole doctor inside it.
      const inner = argv.filter((a, i) => a !== '--in-netns' && argv[i - 1] !== '--in-netns');
      return runInNetns(spec, 'doctor', [...inner, '--in-netns', spec.label]);
    }
  }

  const gopts: Parameters<typeof gatherDoctorInput>[0] = { os, intervalSeconds: interval };
  if (values['proc-root'] !== undefined) gopts.procRoot = values['proc-root'];
  if (values.netstat !== undefined) gopts.netstatPath = values.netstat;
  if (values.sysctl !== undefined) gopts.sysctlPath = values.sysctl;
  const gathered = await gatherDoctorInput(gopts);
  const findings = diagnose(gathered.input);
  const report: DoctorReport = {
    os,
    netns: values['in-netns'] ?? 'host',
    intervalSeconds: round(gathered.input.intervalSeconds, 4),
    settings: nullable(gathered.settings),
    findings,
    worst: worstSeverity(findings),
    problems: gathered.problems,
  };
  if (values.json) io.out(`${JSON.stringify(report, null, 2)}\n`);
  else io.out(renderDoctorText(report));
  return doctorExitCode(report, gathered.input.before, gathered.input.after);
}

/** Worst severity's code; 3 when nothing is above info but no counter could be read at all. */
export function doctorExitCode(
  report: Pick<DoctorReport, 'worst'>,
  before: Record<string, number>,
  after: Record<string, number>,
): number {
  const code = exitCodeFor(report.worst);
  if (code !== 0) return code;
  return Object.keys(before).length === 0 && Object.keys(after).length === 0 ? 3 : 0;
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

function nullable(s: Settings): Record<string, number | string | null> {
  const out: Record<string, number | string | null> = {};
  for (const [k, v] of Object.entries(s)) out[k] = v ?? null;
  return out;
}

const LABEL: Readonly<Record<FindingSeverity, string>> = {
  critical: 'CRITICAL',
  warning: 'WARNING',
  info: 'info',
  ok: 'ok',
};

/** One block per finding above ok, worst first; the passed checks as one line each at the end. */
export function renderDoctorText(r: DoctorReport): string {
  const lines: string[] = [];
  const where = r.netns === 'host' ? 'host namespace' : `namespace ${r.netns}`;
  const sampled =
    r.intervalSeconds > 0
      ? `counters sampled for ${r.intervalSeconds.toFixed(1)} s`
      : 'settings only (no sampling)';
  lines.push(`rstwatch doctor — ${r.os}, ${where}, ${sampled}`, '');
  const shown = r.findings.filter((f) => f.severity !== 'ok' && f.unknown !== true);
  for (const f of shown) {
    lines.push(`${LABEL[f.severity].padEnd(8)}  ${f.title}  [${f.id}]`);
    for (const e of f.evidence) lines.push(`          · ${e}`);
    if (f.fix !== undefined) lines.push(`          fix:  ${f.fix}`);
    if (f.advice !== undefined) lines.push(`          note: ${f.advice}`);
    lines.push(`          more: rstwatch explain ${f.topic}`, '');
  }
  const ok = r.findings.filter((f) => f.severity === 'ok');
  if (ok.length > 0) {
    lines.push('Passed:');
    for (const f of ok) lines.push(`  ok  ${f.title}  [${f.id}]`);
    lines.push('');
  }
  const unknown = r.findings.filter((f) => f.unknown === true);
  if (unknown.length > 0) {
    lines.push('Not checked:');
    for (const f of unknown) lines.push(`  --  ${f.title}  [${f.id}]: ${f.evidence.join('; ')}`);
    lines.push('');
  }
  for (const p of r.problems) lines.push(`problem: ${formatProblem(p)}`);
  if (r.problems.length > 0) lines.push('');
  lines.push(
    shown.length === 0
      ? unknown.length > 0
        ? 'Nothing found by the checks that ran.'
        : 'No findings: every check passed.'
      : `Worst: ${r.worst}. Thresholds: docs/doctor.md (listen queue overflows at ${THRESHOLDS.listenCriticalPerSecond}/s or more are critical).`,
  );
  return `${lines.join('\n')}\n`;
}
