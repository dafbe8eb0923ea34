/**
 * rstwatch doctor — reads the reset-related sysctls and the counters' recent movement — from the running
 * agent's history when there is one (the last --window, default 60 s), else by sampling for --interval
 * (default 3 s) — then reports findings with severity, evidence and the exact command to fix.
 * Exit status: 0 ok/info, 1 a warning, 4 a critical finding, 2 usage, 3 runtime error (docs/doctor.md).
 */

import { detectOs, parseOs } from '../collect/factory.js';
import { parseNetnsSpec } from '../collect/netns.js';
import { defaultDataDir } from '../internal/config.js';
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
import { beforeFromMovement, readAgentMovement } from '../remedy/doctor-agent.js';
import { gatherDoctorInput, type Settings } from '../remedy/doctor-inputs.js';
import { parse, parseSeconds } from './args.js';
import type { Io } from './main.js';

const HELP = `Usage: rstwatch doctor [options]

Reads the sysctls that decide how TCP resets are sent and accepted and how the kernel counters moved
recently — from the running agent's history (the last --window) when an agent runs on the data folder,
else by sampling them for --interval — and reports findings worst first: severity, evidence (values and
rates) and the exact command that fixes each one. \`rstwatch explain <topic>\` tells more about a topic.

Options:
  --source auto|agent|sample
                        where counter movements come from (default auto: the agent when one runs on
                        --data-dir, else a fresh sample); agent fails when no agent data is there
  --window DURATION     agent source: how much history to look at (default 60s, at most 24h)
  --data-dir DIR        the agent's data folder (default /var/lib/rstwatch as root, else
                        $XDG_STATE_HOME/rstwatch; or RSTWATCH_DATA_DIR)
  --interval DURATION   sample source: how long to sample the counters (default 3s; 0 checks the
                        settings only)
  --json                print JSON: {os, netns, source, intervalSeconds, settings, findings, worst,
                        problems}
  --netns NAME          diagnose this network namespace (an \`ip netns\` NAME, /path or pid:N); doctor
                        re-runs itself inside it, since sysctls are per namespace (needs root); the
                        counters are then sampled
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
  /** Where the counter movements came from: the agent's history (with its file) or a fresh sample. */
  source: { kind: 'agent'; db: string; windowSeconds: number } | { kind: 'sample'; note?: string };
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
    source: { type: 'string', default: 'auto' },
    window: { type: 'string', default: '60s' },
    'data-dir': { type: 'string' },
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
  const source = values.source;
  if (source !== 'auto' && source !== 'agent' && source !== 'sample')
    throw new RstwatchError(
      'E_USAGE',
      `--source: expected auto, agent or sample, got ${JSON.stringify(source)}`,
    );
  const windowSeconds = parseSeconds(values.window, '--window');
  if (windowSeconds < 1 || windowSeconds > 86400)
    throw new RstwatchError('E_USAGE', '--window: between 1s and 24h');

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
  // The agent's history speaks for the host namespace; a --netns run (re-executed inside the namespace)
  // samples for itself.
  let reportSource: DoctorReport['source'] = { kind: 'sample' };
  let movement: ReturnType<typeof readAgentMovement> | undefined;
  const agentUsable = values['in-netns'] === undefined;
  if (source === 'agent' && !agentUsable)
    throw new RstwatchError('E_USAGE', '--source agent reads the host namespace only (not with --netns)');
  if (source !== 'sample' && agentUsable) {
    const dataDir = values['data-dir'] ?? process.env.RSTWATCH_DATA_DIR ?? defaultDataDir();
    movement = readAgentMovement(dataDir, os, windowSeconds, Math.floor(Date.now() / 1000));
    if (!movement.ok) {
      if (source === 'agent')
        throw new RstwatchError(movement.code, movement.why, {
          hint: 'start the agent (rstwatch agent), give its --data-dir, or use --source sample',
        });
      reportSource = { kind: 'sample', note: movement.why };
    }
  }
  if (movement?.ok) gopts.intervalSeconds = 0;
  const gathered = await gatherDoctorInput(gopts);
  if (movement?.ok) {
    const m = movement.movement;
    gathered.input.before = beforeFromMovement(gathered.input.after, m.delta);
    gathered.input.intervalSeconds = m.seconds;
    reportSource = { kind: 'agent', db: m.db, windowSeconds: m.seconds };
  }
  const findings = diagnose(gathered.input);
  const report: DoctorReport = {
    os,
    netns: values['in-netns'] ?? 'host',
    source: reportSource,
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
    r.source.kind === 'agent'
      ? `counters from the agent's history, last ${r.intervalSeconds.toFixed(0)} s`
      : r.intervalSeconds > 0
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
