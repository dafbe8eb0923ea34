/**
 * rstwatch syncookies status|enable|disable — show SYN cookies, turn them on or off, now and (with --persist)
 * at boot. The logic lives in remedy/syncookies.ts; this file parses flags and prints. docs/syncookies.md.
 */

import { readlinkSync, statSync } from 'node:fs';
import { detectOs, parseOs } from '../collect/factory.js';
import { parseNetnsSpec } from '../collect/netns.js';
import type { CommandRunner } from '../collect/types.js';
import { formatProblem, type Problem, RstwatchError } from '../internal/errors.js';
import { runInNetns } from '../internal/netns-exec.js';
import { runCommand } from '../internal/run.js';
import {
  type ApplyReport,
  applySyncookies,
  type Backend,
  FREEBSD_SYNCOOKIES,
  makeEnv,
  meaningOf,
  type StatusReport,
  syncookiesStatus,
} from '../remedy/syncookies.js';
import { parse } from './args.js';
import type { Io } from './main.js';

const HELP = `Usage: rstwatch syncookies status|enable|disable [options]

SYN cookies let a listener answer SYNs when its SYN queue is full, without keeping state, so that a SYN
flood does not shut real clients out. \`status\` shows the setting, what sets it at boot and how often
cookies were used; \`enable\` and \`disable\` change it. See \`rstwatch explain syncookies\`.

  Linux    net.ipv4.tcp_syncookies (per network namespace): 0 off, 1 when the SYN queue overflows (the
           default), 2 always. enable sets 1 (--always: 2), disable sets 0.
  FreeBSD  net.inet.tcp.syncookies: 1 (the default) uses cookies when the syncache overflows. enable sets
           1, disable 0. net.inet.tcp.syncookies_only is changed only with --only.

Options:
  --persist             also make it the boot value: Linux writes /etc/sysctl.d/90-rstwatch.conf,
                        FreeBSD edits /etc/sysctl.conf (then reloads it: service sysctl reload)
  --file PATH           with --persist: edit this file instead (e.g. /etc/sysctl.conf); the line is
                        changed in place, other lines and comments are kept, a backup is made first
  --dry-run             print what would change (a unified diff) and change nothing
  --always              Linux, enable: 2, a cookie for every SYN (costs TCP options; not for normal use)
  --only                FreeBSD: enable sets net.inet.tcp.syncookies_only=1 too (no syncache at all; read
                        the warning it prints), disable sets it back to 0 and leaves syncookies alone
  --netns NS            Linux: act on this network namespace (an \`ip netns\` NAME, /path or pid:N; root)
  --root DIR            prefix every file path with DIR (/etc/sysctl.d/… is DIR/etc/sysctl.d/…)
  --json                print JSON
  --os linux|freebsd    which system's settings (default: this machine's)
  --proc-root DIR       Linux: read DIR/sys/net/ipv4/tcp_syncookies and DIR/net/* (default /proc)
  --sysctl PATH         FreeBSD: the sysctl program (default /sbin/sysctl)
  --netstat PATH        FreeBSD: the netstat program (default /usr/bin/netstat)
  -h, --help            this text

Exit status: 0 done, or already so; 2 usage error; 3 error (the code says which; nothing is left
half-changed).
`;

/** Set for the re-executed command inside a namespace, so that its output names the namespace. */
const NETNS_LABEL_ENV = 'RSTWATCH_NETNS_LABEL';

export interface Deps {
  runner?: CommandRunner;
  now?: () => number;
  backend?: Backend;
  uid?: number;
}

/** Which namespace this process is in, for the output. */
function currentNetns(): string {
  const label = process.env[NETNS_LABEL_ENV];
  if (label) return label;
  try {
    const self = readlinkSync('/proc/self/ns/net');
    const init = readlinkSync('/proc/1/ns/net');
    return self === init ? 'host' : self;
  } catch {
    return 'host';
  }
}

export async function run(argv: string[], io: Io, deps: Deps = {}): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      persist: { type: 'boolean', default: false },
      file: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      always: { type: 'boolean', default: false },
      only: { type: 'boolean', default: false },
      netns: { type: 'string' },
      root: { type: 'string' },
      json: { type: 'boolean', default: false },
      os: { type: 'string' },
      'proc-root': { type: 'string' },
      sysctl: { type: 'string' },
      netstat: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    true,
  );
  if (values.help) {
    io.out(HELP);
    return 0;
  }
  const [sub, ...extra] = positionals;
  if (sub !== 'status' && sub !== 'enable' && sub !== 'disable')
    throw new RstwatchError(
      'E_USAGE',
      sub === undefined
        ? 'say status, enable or disable'
        : `unknown subcommand ${JSON.stringify(sub)}: status, enable or disable`,
      { hint: 'see --help' },
    );
  if (extra.length > 0) throw new RstwatchError('E_USAGE', `unexpected argument ${JSON.stringify(extra[0])}`);
  if (sub === 'status') {
    for (const f of ['persist', 'file', 'dry-run', 'always', 'only'] as const)
      if (values[f] !== undefined && values[f] !== false)
        throw new RstwatchError('E_USAGE', `--${f} goes with enable or disable, not status`);
  }
  if (values.file !== undefined && !values.persist)
    throw new RstwatchError('E_USAGE', '--file goes with --persist');
  const os = values.os === undefined ? detectOs() : parseOs(values.os);
  if (os === 'freebsd' && values['proc-root'] !== undefined)
    throw new RstwatchError('E_USAGE', '--proc-root is for Linux');
  if (values.root !== undefined) {
    let isDir = false;
    try {
      isDir = statSync(values.root).isDirectory();
    } catch {
      // reported below
    }
    if (!isDir) throw new RstwatchError('E_USAGE', `--root ${values.root}: not a directory`);
  }

  if (values.netns !== undefined) {
    const spec = parseNetnsSpec(values.netns);
    if (spec.kind !== 'host') {
      if (os === 'freebsd')
        throw new RstwatchError(
          'E_NETNS_UNSUPPORTED',
          '--netns is for Linux network namespaces; FreeBSD VNET jails are not supported yet',
        );
      // /proc/sys/net is the opener's namespace: run this very command inside the namespace.
      const saved = process.env[NETNS_LABEL_ENV];
      process.env[NETNS_LABEL_ENV] = spec.label;
      try {
        return await runInNetns(spec, 'syncookies', argv);
      } finally {
        if (saved === undefined) delete process.env[NETNS_LABEL_ENV];
        else process.env[NETNS_LABEL_ENV] = saved;
      }
    }
  }

  const env = makeEnv({
    os,
    runner: deps.runner ?? runCommand,
    netns: currentNetns(),
    ...(values['proc-root'] !== undefined ? { procRoot: values['proc-root'] } : {}),
    ...(values.root !== undefined ? { root: values.root } : {}),
    ...(values.sysctl !== undefined ? { sysctlPath: values.sysctl } : {}),
    ...(values.netstat !== undefined ? { netstatPath: values.netstat } : {}),
    ...(deps.now ? { now: deps.now } : {}),
    ...(deps.backend ? { backend: deps.backend } : {}),
    ...(deps.uid !== undefined ? { uid: deps.uid } : {}),
  });

  if (sub === 'status') {
    const report = await syncookiesStatus(env);
    if (values.json) io.out(`${JSON.stringify(report, null, 2)}\n`);
    else io.out(renderStatus(report));
    return report.problems.some((p) => p.severity === 'error') ? 3 : 0;
  }

  const opts: Parameters<typeof applySyncookies>[1] = {
    action: sub,
    always: values.always,
    only: values.only,
    persist: values.persist,
    dryRun: values['dry-run'],
  };
  if (values.file !== undefined) opts.file = values.file;
  const report = await applySyncookies(env, opts);
  for (const w of report.warnings) io.err(`warning: ${formatProblem(w).replace(/^(.*?)warning: /, '$1')}\n`);
  if (values.json) io.out(`${JSON.stringify(report, null, 2)}\n`);
  else io.out(renderApply(report));
  return 0;
}

// ---------------------------------------------------------------------------------------------------
// Text output

const COUNTER_MEANINGS: Readonly<Record<string, string>> = {
  SyncookiesSent: 'SYN-ACKs sent with a cookie',
  SyncookiesRecv: 'ACKs with a valid cookie (connections made from a cookie)',
  SyncookiesFailed: 'ACKs whose cookie did not check out',
  TCPReqQFullDoCookies: 'SYNs answered with a cookie because the SYN queue was full',
  TCPReqQFullDrop: 'SYNs dropped because the SYN queue was full (no cookie)',
  'syncache.sent-cookies': 'SYN-ACKs sent with a cookie',
  'syncache.receivd-cookies': 'connections made from a cookie',
  'syncache.cache-overflow': 'syncache entries dropped: the cache was full',
  'syncache.bucket-overflow': 'syncache entries dropped: a hash bucket was full',
};

const KERNEL_DEFAULT: Readonly<Record<string, number>> = {
  'net.ipv4.tcp_syncookies': 1,
  [FREEBSD_SYNCOOKIES]: 1,
  'net.inet.tcp.syncookies_only': 0,
};

function problemLine(p: Problem): string {
  return `  ${formatProblem(p)}\n`;
}

export function renderStatus(r: StatusReport): string {
  let out = `SYN cookies — ${r.os === 'linux' ? 'Linux' : 'FreeBSD'}, ${r.netns === 'host' ? 'host' : `network namespace ${r.netns}`}\n\n`;
  for (const s of r.settings) {
    out += `${s.name} = ${s.raw}\n  ${s.meaning}\n`;
    if (s.boot) {
      out += `  at boot: ${s.boot.value}, set by ${s.boot.file} line ${s.boot.line}`;
      out += s.boot.known ? '\n' : ` (${meaningOf(s.name, s.boot.numeric, s.boot.value)})\n`;
      for (const o of s.bootSources.slice(0, -1))
        out += `           (${o.file} line ${o.line} sets ${o.value} earlier: no effect)\n`;
      if (s.boot.numeric !== s.value)
        out += `  note: the running value differs from the boot value; a reboot would set ${s.boot.value}\n`;
    } else {
      const def = KERNEL_DEFAULT[s.name];
      out += `  at boot: no sysctl file sets it: the kernel default${def === undefined ? '' : ` (${def})`} applies\n`;
      if (def !== undefined && s.value !== def)
        out += `  note: the running value differs from the default; a reboot would set ${def}\n`;
    }
  }
  if (r.netns !== 'host' && r.settings.some((s) => s.boot))
    out += "  (boot files are applied to the host's namespace, not to this one)\n";
  const names = Object.keys(r.counters);
  out += '\nCounters (since boot, or since the namespace was created):\n';
  if (names.length === 0) out += '  (unavailable)\n';
  const width = Math.max(0, ...names.map((n) => n.length));
  for (const n of names)
    out += `  ${n.padEnd(width)}  ${String(r.counters[n]).padStart(8)}  ${COUNTER_MEANINGS[n] ?? ''}\n`;
  out += `\nVerdict: ${r.verdict}\n`;
  if (r.problems.length > 0) out += `\nProblems:\n${r.problems.map(problemLine).join('')}`;
  out += '\nMore: rstwatch explain syncookies\n';
  return out;
}

export function renderApply(r: ApplyReport): string {
  let out = '';
  if (r.dryRun) {
    if (!r.changed) return `dry run: ${r.summary}; nothing would change\n`;
    out += `dry run: nothing was changed. \`${r.command}\` would make these changes:\n\n${r.diff}`;
    return out;
  }
  out += `${r.summary}\n`;
  for (const s of r.settings) out += `  ${s.name} = ${s.target} — ${s.meaning}\n`;
  const p = r.persist;
  if (p) {
    const lines = Object.entries(p.lines)
      .map(([, l]) => l)
      .join(', ');
    if (!p.changed) out += `  persisted: ${p.file} already says so (line ${lines}); not touched\n`;
    else if (p.action === 'created') out += `  persisted: created ${p.file} (line ${lines})\n`;
    else
      out += `  persisted: ${p.file} line ${lines} ${p.action === 'added' ? 'added' : 'changed'}${p.backup ? `; backup: ${p.backup}` : ''}\n`;
  }
  for (const rl of r.reload)
    out += `  ${rl.ok ? 'reloaded' : 'reload failed'}: ${rl.command}${rl.detail ? ` (${rl.detail})` : ''}\n`;
  return out;
}
