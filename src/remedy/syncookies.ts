/**
 * SYN cookies: show, enable and disable them, for the running kernel and (with --persist) at boot.
 *
 * Linux: `net.ipv4.tcp_syncookies` (per network namespace) through /proc/sys. FreeBSD:
 * `net.inet.tcp.syncookies`, and `net.inet.tcp.syncookies_only` only when asked for explicitly, through
 * sysctl(8). Persistence edits one sysctl configuration file: a drop-in `/etc/sysctl.d/90-rstwatch.conf`
 * by default on Linux, `/etc/sysctl.conf` on FreeBSD, or the file given.
 *
 * Order of a change, chosen so that a failure leaves nothing half-done:
 *   1. read everything and plan (unknown values, unreadable files: stop here, nothing written);
 *   2. check that the running value may be written (root, /proc/sys not read-only);
 *   3. write the file (backup next to it, then temp file + fsync + rename: the old file or the new one,
 *      never a mix); a failure here leaves the running value untouched;
 *   4. FreeBSD: reload the file the way rc does;
 *   5. write the running value and read it back;
 *   6. if 4 or 5 fails, put back what was changed: the running value (best effort), the file's old
 *      contents (or remove a file we created), and remove the backup.
 */

import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  copyFileSync,
  fchmodSync,
  fchownSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmdirSync,
  type Stats,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { NETSTAT_ARGS, parseNetstatTcp } from '../collect/freebsd.js';
import { LinuxCollector } from '../collect/linux.js';
import type { CommandRunner } from '../collect/types.js';
import { errorMessage, type Problem, RstwatchError, sysCode } from '../internal/errors.js';
import type { Os } from '../model/charts.js';
import {
  checkLinuxSysctlWritable,
  linuxSysctlFile,
  readFreeBsdSysctl,
  readLinuxSysctl,
  type SysctlValue,
  writeFreeBsdSysctl,
  writeLinuxSysctl,
} from './sysctl.js';
import {
  confInteger,
  findSysctl,
  normalizeSysctlName,
  type SetResult,
  setSysctl,
  unifiedDiff,
} from './sysctl-conf.js';

export const LINUX_SYNCOOKIES = 'net.ipv4.tcp_syncookies';
export const FREEBSD_SYNCOOKIES = 'net.inet.tcp.syncookies';
export const FREEBSD_SYNCOOKIES_ONLY = 'net.inet.tcp.syncookies_only';
/** Where `--persist` writes on Linux unless `--file` says otherwise. */
export const LINUX_DROPIN = '/etc/sysctl.d/90-rstwatch.conf';
export const FREEBSD_CONF = '/etc/sysctl.conf';

/**
 * Linux boot configuration, as systemd-sysctl(8) reads it: `*.conf` files of these directories, a name in
 * an earlier directory hiding the same name in a later one, applied in order of file name; then
 * /etc/sysctl.conf, which procps `sysctl --system` applies last (Debian also links it in as
 * /etc/sysctl.d/99-sysctl.conf, then it is read once, at that place).
 */
export const LINUX_SYSCTL_DIRS: readonly string[] = [
  '/etc/sysctl.d',
  '/run/sysctl.d',
  '/usr/local/lib/sysctl.d',
  '/usr/lib/sysctl.d',
  '/lib/sysctl.d',
];
/** FreeBSD's rc.d/sysctl applies these two, in this order. */
export const FREEBSD_CONF_FILES: readonly string[] = ['/etc/sysctl.conf', '/etc/sysctl.conf.local'];

// ---------------------------------------------------------------------------------------------------
// What the values mean

interface Knob {
  name: string;
  known: readonly number[];
  meanings: Readonly<Record<number, string>>;
}

const LINUX_KNOB: Knob = {
  name: LINUX_SYNCOOKIES,
  known: [0, 1, 2],
  meanings: {
    0: "off: no SYN cookies; when a listener's SYN queue is full, further SYNs are dropped",
    1: "SYN cookies when a listener's SYN queue overflows (the kernel default and the normal setting)",
    2:
      'always: every SYN is answered with a cookie, even with room in the queue; a cookie keeps only a coarse ' +
      'MSS and loses window scaling, SACK and ECN unless the client sends TCP timestamps, and a lost SYN-ACK ' +
      'is not retransmitted',
  },
};

const FREEBSD_KNOB: Knob = {
  name: FREEBSD_SYNCOOKIES,
  known: [0, 1],
  meanings: {
    0: 'off: when the syncache overflows, further SYNs are dropped',
    1: 'SYN cookies when the syncache overflows (the default and the normal setting)',
  },
};

const FREEBSD_ONLY_KNOB: Knob = {
  name: FREEBSD_SYNCOOKIES_ONLY,
  known: [0, 1],
  meanings: {
    0: 'the syncache is used; cookies only as its overflow fallback (the default)',
    1:
      'cookies only: the syncache is off and every SYN gets a cookie (only while net.inet.tcp.syncookies=1): ' +
      'lost SYN-ACKs are not retransmitted and the SYN options are reduced',
  },
};

const KNOBS: Readonly<Record<string, Knob>> = {
  [LINUX_SYNCOOKIES]: LINUX_KNOB,
  [FREEBSD_SYNCOOKIES]: FREEBSD_KNOB,
  [FREEBSD_SYNCOOKIES_ONLY]: FREEBSD_ONLY_KNOB,
};

/** The warning printed whenever `--only` turns cookies-only mode on (docs/syncookies.md, syncache(4)). */
export const COOKIES_ONLY_WARNING =
  `${FREEBSD_SYNCOOKIES_ONLY}=1 turns the syncache off: every SYN is answered with a cookie and no state is ` +
  'kept, so a lost SYN-ACK is never retransmitted (the client has to resend its SYN); the TCP options of the ' +
  'SYN are only partly kept — the MSS is rounded down to one of a few sizes and the window scale ' +
  'approximated; and, as syncache(4) warns, a flood of ACKs may hit a valid cookie and open a connection, ' +
  'which can get past a firewall that filters only SYNs. Use it while a SYN flood overwhelms the syncache, ' +
  'not as a default; `rstwatch syncookies disable --only` turns it off.';

export function isKnownValue(name: string, value: number | undefined): boolean {
  const knob = KNOBS[normalizeSysctlName(name)];
  return knob !== undefined && value !== undefined && knob.known.includes(value);
}

/** One phrase on what a value of one of our settings does. */
export function meaningOf(name: string, value: number | undefined, raw = String(value)): string {
  const knob = KNOBS[normalizeSysctlName(name)];
  if (knob && value !== undefined && knob.known.includes(value)) return knob.meanings[value]!;
  const known = knob ? knob.known.join(', ') : '';
  return `unknown value ${JSON.stringify(raw)}${known ? ` (rstwatch knows ${known})` : ''}`;
}

function unknownValueError(name: string, raw: string, where: string, file?: string, line?: number) {
  const knob = KNOBS[name];
  const hint =
    file !== undefined
      ? `fix line ${line} of ${file} by hand (or remove it), then run the command again`
      : `set it by hand (sysctl -w ${name}=N) if you are sure, then run the command again`;
  return new RstwatchError(
    'E_SYSCTL_VALUE',
    `${where} has ${name} = ${JSON.stringify(raw)}, which rstwatch does not know (it knows ` +
      `${knob?.known.join(', ') ?? '?'}); it does not overwrite a value it does not understand`,
    { file, line, hint },
  );
}

// ---------------------------------------------------------------------------------------------------
// Environment

/** How the running value is read and written; swapped in tests. */
export interface Backend {
  /** What a diff of the running value is labelled with (the /proc/sys file, or `sysctl NAME`). */
  label(name: string): string;
  read(name: string): Promise<SysctlValue>;
  /** Throw (E_SYSCTL_PERMISSION, E_SYSCTL_READONLY, …) if the value could not be written, changing nothing. */
  preflight(name: string): Promise<void>;
  write(name: string, value: number): Promise<void>;
}

export interface Env {
  os: Os;
  /** Linux: where proc is mounted (default /proc). */
  procRoot: string;
  /** Prefix of every file path (default /): /etc/sysctl.d/x.conf is read and written as ROOT/etc/sysctl.d/x.conf. */
  root: string;
  runner: CommandRunner;
  /** FreeBSD programs. */
  sysctlPath: string;
  netstatPath: string;
  servicePath: string;
  rcSysctlPath: string;
  /** The network namespace this process is in, for the output (`host`, an `ip netns` name, …). */
  netns: string;
  /** Epoch milliseconds (backup names). */
  now: () => number;
  /** The caller's uid (FreeBSD: changing sysctls needs root). */
  uid: number | undefined;
  /** Override how the running value is read and written (tests). */
  backend?: Backend;
}

export function makeEnv(partial: Partial<Env> & { os: Os; runner: CommandRunner }): Env {
  return {
    procRoot: '/proc',
    root: '/',
    sysctlPath: '/sbin/sysctl',
    netstatPath: '/usr/bin/netstat',
    servicePath: '/usr/sbin/service',
    rcSysctlPath: '/etc/rc.d/sysctl',
    netns: 'host',
    now: () => Date.now(),
    uid: process.getuid?.(),
    ...partial,
  };
}

function backendOf(env: Env): Backend {
  if (env.backend) return env.backend;
  if (env.os === 'linux') {
    const opts = { procRoot: env.procRoot };
    return {
      label: (name) => linuxSysctlFile(name, opts),
      read: async (name) => readLinuxSysctl(name, opts),
      preflight: async (name) => checkLinuxSysctlWritable(name, opts),
      write: async (name, value) => writeLinuxSysctl(name, value, opts),
    };
  }
  const opts = { sysctlPath: env.sysctlPath };
  return {
    label: (name) => `sysctl ${name}`,
    read: (name) => readFreeBsdSysctl(name, env.runner, opts),
    preflight: async (name) => {
      if (env.uid !== undefined && env.uid !== 0)
        throw new RstwatchError('E_SYSCTL_PERMISSION', `changing ${name} needs root`, {
          hint: 'run it as root',
        });
    },
    write: (name, value) => writeFreeBsdSysctl(name, value, env.runner, opts),
  };
}

/** A path as seen under the root: `/etc/x` → `ROOT/etc/x`. A relative path is taken from the cwd (no root) or the root. */
export function underRoot(root: string, path: string): string {
  if (root === '/' || root === '') return resolve(path);
  return join(resolve(root), resolve('/', path));
}

// ---------------------------------------------------------------------------------------------------
// Boot configuration

export interface PersistedSetting {
  file: string;
  line: number;
  value: string;
  ignoreFailure: boolean;
}

export interface BootConfig {
  /** Files that set the name, every assignment, in the order they are applied. */
  settings: PersistedSetting[];
  /** The one applied last: what boot leaves the value at (undefined: the kernel's default). */
  effective: PersistedSetting | undefined;
  /** Every configuration file read, in order. */
  files: string[];
  problems: Problem[];
}

/**
 * Follow symbolic links, keeping absolute targets under the root. Returns the path of the final file.
 *
 * Under a root other than `/` every component is resolved by us with chroot semantics (path_resolution(7)):
 * a directory link (`DIR/etc -> /etc`) and a relative link climbing with `..` past DIR stay inside DIR, as
 * they would for a system booted from it. Left to the kernel, either would make `--root DIR --persist`
 * write the host's own /etc/sysctl.d (docs/security.md).
 */
export function resolveUnderRoot(root: string, path: string): string {
  if (root !== '/' && root !== '') return resolveInsideRoot(resolve(root), path);
  let p = path;
  for (let i = 0; i < 32; i++) {
    let st: Stats;
    try {
      st = lstatSync(p);
    } catch {
      return p;
    }
    if (!st.isSymbolicLink()) return p;
    const target = readlinkSync(p);
    p = isAbsolute(target) ? underRoot(root, target) : resolve(dirname(p), target);
  }
  throw new RstwatchError('E_SYSCTL_WRITE', `${path}: too many levels of symbolic links`, { file: path });
}

function resolveInsideRoot(base: string, path: string): string {
  const rel = relative(base, resolve(path));
  // A path that is not under the root at all is taken as a path inside it (underRoot's rule).
  const pending = (rel === '..' || rel.startsWith('../') || isAbsolute(rel) ? resolve('/', path) : rel)
    .split('/')
    .filter((c) => c !== '' && c !== '.');
  let cur = base;
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      if (cur !== base) cur = dirname(cur);
      continue;
    }
    const next = join(cur, part);
    let st: Stats;
    try {
      st = lstatSync(next);
    } catch {
      // Not there (yet): the rest is taken literally; nothing below it can be a link.
      return join(next, ...pending.filter((c) => c !== '..'));
    }
    if (!st.isSymbolicLink()) {
      cur = next;
      continue;
    }
    if (++links > 32)
      throw new RstwatchError('E_SYSCTL_WRITE', `${path}: too many levels of symbolic links`, { file: path });
    const target = readlinkSync(next);
    if (isAbsolute(target)) cur = base;
    pending.unshift(...target.split('/').filter((c) => c !== '' && c !== '.'));
  }
  return cur;
}

/** The configuration files applied at boot, in order (see LINUX_SYSCTL_DIRS / FREEBSD_CONF_FILES). */
export function bootConfigFiles(os: Os, root: string, extra: readonly string[] = []): string[] {
  if (os === 'freebsd') return FREEBSD_CONF_FILES.map((f) => underRoot(root, f));
  const byName = new Map<string, string>();
  for (const dir of LINUX_SYSCTL_DIRS) {
    const full = underRoot(root, dir);
    let names: string[] = [];
    try {
      names = readdirSync(full);
    } catch {
      // A directory that does not exist holds nothing.
    }
    for (const e of extra) if (dirname(e) === full) names.push(basename(e));
    for (const n of names) if (n.endsWith('.conf') && !byName.has(n)) byName.set(n, join(full, n));
  }
  const files = [...byName.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((n) => byName.get(n)!);
  const conf = underRoot(root, '/etc/sysctl.conf');
  const real = new Set(files.map((f) => resolveUnderRoot(root, f)));
  if (!real.has(resolveUnderRoot(root, conf))) files.push(conf);
  return files;
}

/**
 * Which files set `name` at boot and what the value ends up as. `overlay` replaces one file's text (what it
 * would be after a change; undefined: as if it did not exist).
 */
export function scanBootConfig(
  os: Os,
  name: string,
  root: string,
  overlay?: { file: string; text: string | undefined },
): BootConfig {
  const overlayReal = overlay ? resolveUnderRoot(root, overlay.file) : undefined;
  const files = bootConfigFiles(os, root, overlay ? [overlay.file] : []);
  const settings: PersistedSetting[] = [];
  const problems: Problem[] = [];
  const read: string[] = [];
  for (const file of files) {
    let text: string | undefined;
    if (overlayReal !== undefined && resolveUnderRoot(root, file) === overlayReal) text = overlay!.text;
    else {
      try {
        text = readFileSync(file, 'latin1');
      } catch (err) {
        const code = sysCode(err);
        if (code !== 'ENOENT')
          problems.push({
            code: 'W_SYSCTL_CONF_UNREADABLE',
            message: `cannot read: ${code ?? errorMessage(err)}`,
            severity: 'warning',
            file,
          });
      }
    }
    if (text === undefined) continue;
    read.push(file);
    for (const e of findSysctl(text, name))
      settings.push({ file, line: e.line, value: e.value, ignoreFailure: e.ignoreFailure });
  }
  return { settings, effective: settings.at(-1), files: read, problems };
}

// ---------------------------------------------------------------------------------------------------
// Status

export interface SettingStatus {
  name: string;
  raw: string;
  value: number | undefined;
  known: boolean;
  meaning: string;
  /** What boot sets it to, and where; null when no file sets it (the kernel's default applies). */
  boot: (PersistedSetting & { numeric: number | undefined; known: boolean }) | null;
  /** Every file assignment, in the order applied (the last one wins). */
  bootSources: PersistedSetting[];
}

export interface StatusReport {
  command: 'status';
  os: Os;
  netns: string;
  settings: SettingStatus[];
  /** The SYN-cookie counters (since boot, or since the namespace was created). */
  counters: Record<string, number>;
  verdict: string;
  problems: Problem[];
}

const LINUX_COUNTERS = [
  'SyncookiesSent',
  'SyncookiesRecv',
  'SyncookiesFailed',
  'TCPReqQFullDoCookies',
  'TCPReqQFullDrop',
] as const;
const FREEBSD_COUNTERS = [
  'syncache.sent-cookies',
  'syncache.receivd-cookies',
  'syncache.cache-overflow',
  'syncache.bucket-overflow',
] as const;

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** One line on what the Linux setting and counters say, and what (if anything) to do. */
export function linuxVerdict(value: number | undefined, counters: Record<string, number>): string {
  const sent = counters.SyncookiesSent;
  const recv = counters.SyncookiesRecv ?? 0;
  const failed = counters.SyncookiesFailed ?? 0;
  const drops = counters.TCPReqQFullDrop ?? 0;
  if (value === 0) {
    return drops > 0
      ? `SYN cookies are off and ${plural(drops, 'SYN was', 'SYNs were')} dropped because a SYN queue was full: ` +
          '`rstwatch syncookies enable` would have answered them'
      : 'SYN cookies are off: no SYN has been dropped for a full SYN queue yet, but a SYN flood would shut ' +
          'real clients out; `rstwatch syncookies enable` restores the kernel default';
  }
  if (value !== 1 && value !== 2)
    return 'unknown setting: the kernel treats any value other than 0 and 2 like 1, but check who set it';
  if (sent === undefined) return 'the SYN-cookie counters could not be read (see the problems)';
  const back = `${plural(recv, 'came', 'came')} back valid, ${failed} invalid`;
  if (value === 2)
    return `always on: ${plural(sent, 'cookie')} sent (${back}); every handshake pays the cookie's costs — use 1 unless you are testing or under a sustained flood`;
  if (sent === 0) return 'on when needed, and never needed so far: no SYN queue has overflowed';
  const flood = failed > recv ? '; more invalid than valid cookie ACKs: spoofed ACKs or a flood' : '';
  return (
    `${plural(sent, 'cookie')} sent: SYN queues overflowed (a SYN flood, or a listen backlog too small for the ` +
    `load — compare ListenOverflows and the listeners' backlog); ${back}${flood}`
  );
}

/** One line on what the FreeBSD settings and counters say. */
export function freebsdVerdict(
  cookies: number | undefined,
  only: number | undefined,
  counters: Record<string, number>,
): string {
  const sent = counters['syncache.sent-cookies'];
  const recv = counters['syncache.receivd-cookies'];
  const seen = sent === undefined ? '' : ` (${plural(sent, 'cookie')} sent, ${recv ?? '?'} received)`;
  if (cookies === 0) {
    return (
      `SYN cookies are off: when the syncache overflows, SYNs are dropped${seen}; ` +
      '`rstwatch syncookies enable` restores the default' +
      (only === 1 ? ` (${FREEBSD_SYNCOOKIES_ONLY}=1 has no effect while cookies are off)` : '')
    );
  }
  if (cookies !== 1) return `unknown value of ${FREEBSD_SYNCOOKIES}: check who set it`;
  if (only === 1)
    return (
      `cookies only: the syncache is off${seen}; every connection pays the cookie's costs — ` +
      '`rstwatch syncookies disable --only` brings the syncache back once the flood is over'
    );
  if (sent === undefined || sent === 0)
    return `SYN cookies as the syncache's fallback (the default)${seen}; nothing to do`;
  return `SYN cookies as the syncache's fallback (the default)${seen}: the syncache overflowed — a SYN flood, or more connection attempts than it holds`;
}

function linuxCounters(procRoot: string, problems: Problem[]): Record<string, number> {
  const collector = new LinuxCollector({ procRoot });
  const r = collector.collectSync();
  void collector.close();
  const out: Record<string, number> = {};
  for (const k of LINUX_COUNTERS) if (r.counters[k] !== undefined) out[k] = r.counters[k];
  for (const p of r.problems) if (p.severity === 'error') problems.push({ ...p, severity: 'warning' });
  return out;
}

async function freebsdCounters(env: Env, problems: Problem[]): Promise<Record<string, number>> {
  const cmd = `${env.netstatPath} ${NETSTAT_ARGS.join(' ')}`;
  let text = '';
  try {
    const r = await env.runner(env.netstatPath, [...NETSTAT_ARGS], { timeoutMs: 5_000 });
    if (r.error !== undefined || r.code !== 0) {
      problems.push({
        code: 'W_SYSCTL_COUNTERS',
        message: `${cmd}: ${r.error ?? `exited with code ${r.code}`}`,
        severity: 'warning',
      });
      return {};
    }
    text = r.stdout;
  } catch (e) {
    problems.push({ code: 'W_SYSCTL_COUNTERS', message: `${cmd}: ${errorMessage(e)}`, severity: 'warning' });
    return {};
  }
  const parsed = parseNetstatTcp(text, cmd);
  for (const p of parsed.problems) if (p.severity === 'error') problems.push({ ...p, severity: 'warning' });
  const out: Record<string, number> = {};
  for (const k of FREEBSD_COUNTERS) if (parsed.counters[k] !== undefined) out[k] = parsed.counters[k];
  return out;
}

/** Everything `syncookies status` shows. Throws only when the setting itself cannot be read. */
export async function syncookiesStatus(env: Env): Promise<StatusReport> {
  const backend = backendOf(env);
  const names = env.os === 'linux' ? [LINUX_SYNCOOKIES] : [FREEBSD_SYNCOOKIES, FREEBSD_SYNCOOKIES_ONLY];
  const problems: Problem[] = [];
  const settings: SettingStatus[] = [];
  for (const name of names) {
    let v: SysctlValue;
    try {
      v = await backend.read(name);
    } catch (err) {
      // syncookies_only is context: a kernel without it still has a status.
      if (
        name !== FREEBSD_SYNCOOKIES_ONLY ||
        !(err instanceof RstwatchError) ||
        err.code !== 'E_SYSCTL_MISSING'
      )
        throw err;
      problems.push({ ...err.toProblem('warning'), code: 'W_SYSCTL_MISSING' });
      continue;
    }
    const known = isKnownValue(name, v.value);
    if (!known)
      problems.push({
        code: 'E_SYSCTL_VALUE',
        message: `the running ${name} is ${JSON.stringify(v.raw)}, a value rstwatch does not know`,
        severity: 'error',
        file: v.source,
      });
    const boot = scanBootConfig(env.os, name, env.root);
    problems.push(...boot.problems);
    const eff = boot.effective;
    const numeric = eff ? confInteger(eff.value) : undefined;
    if (eff && !isKnownValue(name, numeric))
      problems.push({
        code: 'E_SYSCTL_VALUE',
        message: `sets ${name} = ${JSON.stringify(eff.value)} at boot, a value rstwatch does not know`,
        severity: 'error',
        file: eff.file,
        line: eff.line,
      });
    settings.push({
      name,
      raw: v.raw,
      value: v.value,
      known,
      meaning: meaningOf(name, v.value, v.raw),
      boot: eff ? { ...eff, numeric, known: isKnownValue(name, numeric) } : null,
      bootSources: boot.settings,
    });
  }
  const counters =
    env.os === 'linux' ? linuxCounters(env.procRoot, problems) : await freebsdCounters(env, problems);
  const verdict =
    env.os === 'linux'
      ? linuxVerdict(settings[0]!.value, counters)
      : freebsdVerdict(settings[0]!.value, settings[1]?.value, counters);
  return { command: 'status', os: env.os, netns: env.netns, settings, counters, verdict, problems };
}

// ---------------------------------------------------------------------------------------------------
// Files: backup and atomic replace

function fileError(err: unknown, file: string, doing: string): RstwatchError {
  if (err instanceof RstwatchError) return err;
  const code = sysCode(err);
  const why = code ?? errorMessage(err);
  if (code === 'EACCES' || code === 'EPERM')
    return new RstwatchError('E_SYSCTL_PERMISSION', `cannot ${doing} ${file}: ${why}`, {
      file,
      cause: err,
      hint: 'run it as root (sudo)',
    });
  if (code === 'EROFS')
    return new RstwatchError('E_SYSCTL_READONLY', `cannot ${doing} ${file}: the file system is read-only`, {
      file,
      cause: err,
    });
  if (code === 'ENOSPC' || code === 'EDQUOT')
    return new RstwatchError('E_SYSCTL_WRITE', `cannot ${doing} ${file}: the disk is full (${code})`, {
      file,
      cause: err,
    });
  return new RstwatchError('E_SYSCTL_WRITE', `cannot ${doing} ${file}: ${why}`, { file, cause: err });
}

function fsyncPath(path: string, flags: number): void {
  const fd = openSync(path, flags);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Replace a file's contents atomically: write a temporary file in the same directory (mode and owner as
 * given), fsync it, rename it over the file, fsync the directory. Readers see the old file or the new one.
 * The temporary name starts with a dot and does not end in `.conf`, so no sysctl tool ever reads it.
 */
export function writeFileAtomic(
  path: string,
  data: string | Buffer,
  opts: { mode: number; uid?: number | undefined; gid?: number | undefined },
): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.rstwatch-tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', opts.mode);
    const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off);
    if (opts.uid !== undefined && opts.gid !== undefined) fchownSync(fd, opts.uid, opts.gid);
    fchmodSync(fd, opts.mode); // openSync's mode is filtered by the umask
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // It was never created, or the rename took it.
    }
    throw fileError(err, path, 'write');
  }
  try {
    fsyncPath(dir, constants.O_RDONLY);
  } catch {
    // Some file systems cannot fsync a directory; the rename is done either way.
  }
}

/** Copy a file to `<file>.rstwatch-bak-<epoch seconds>` (`-2`, `-3`, … if taken), same mode and owner. */
export function backupFile(path: string, epochSeconds: number, st: Stats): string {
  for (let n = 1; n < 1000; n++) {
    const bak = `${path}.rstwatch-bak-${epochSeconds}${n === 1 ? '' : `-${n}`}`;
    try {
      copyFileSync(path, bak, constants.COPYFILE_EXCL);
    } catch (err) {
      if (sysCode(err) === 'EEXIST') continue;
      throw fileError(err, bak, 'write the backup');
    }
    try {
      const fd = openSync(bak, 'r+');
      try {
        if (process.getuid?.() === 0) fchownSync(fd, st.uid, st.gid);
        fchmodSync(fd, st.mode & 0o7777);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      unlinkSync(bak);
      throw fileError(err, bak, 'write the backup');
    }
    return bak;
  }
  throw new RstwatchError('E_SYSCTL_WRITE', `${path}: too many backups from the same second`, { file: path });
}

// ---------------------------------------------------------------------------------------------------
// Enable / disable

export interface ApplyOptions {
  action: 'enable' | 'disable';
  /** Linux: enable with 2 (cookies for every SYN) instead of 1. */
  always?: boolean;
  /** FreeBSD: act on net.inet.tcp.syncookies_only (enable: set both to 1; disable: syncookies_only back to 0). */
  only?: boolean;
  persist?: boolean;
  /** The file to persist in (before the root prefix); default LINUX_DROPIN or FREEBSD_CONF. */
  file?: string;
  dryRun?: boolean;
}

export interface SettingChange {
  name: string;
  before: number | undefined;
  beforeRaw: string;
  target: number;
  /** Read back after the change (equal to target); before, in a dry run or when nothing changed. */
  after: number | undefined;
  changed: boolean;
  meaning: string;
}

export interface PersistReport {
  /** The file written (symbolic links followed), root included. */
  file: string;
  existed: boolean;
  changed: boolean;
  action: 'unchanged' | 'replaced' | 'added' | 'created';
  /** Where the effective assignment is after the change (per setting). */
  lines: Record<string, number>;
  backup: string | null;
  diff: string;
}

export interface ApplyReport {
  command: 'enable' | 'disable';
  os: Os;
  netns: string;
  dryRun: boolean;
  /** Whether anything was (or, in a dry run, would be) changed. */
  changed: boolean;
  settings: SettingChange[];
  persist: PersistReport | null;
  /** FreeBSD: the reload commands run, in order. */
  reload: { command: string; ok: boolean; detail?: string }[];
  /** Unified diff of everything changed: the running value(s) and the file. */
  diff: string;
  warnings: Problem[];
  summary: string;
}

interface Plan {
  name: string;
  target: number;
}

function plans(os: Os, o: ApplyOptions): Plan[] {
  if (os === 'linux') {
    if (o.only)
      throw new RstwatchError(
        'E_USAGE',
        '--only is for FreeBSD (net.inet.tcp.syncookies_only); Linux has --always',
        {
          hint: 'see --help',
        },
      );
    if (o.always && o.action === 'disable') throw new RstwatchError('E_USAGE', '--always goes with enable');
    return [{ name: LINUX_SYNCOOKIES, target: o.action === 'disable' ? 0 : o.always ? 2 : 1 }];
  }
  if (o.always)
    throw new RstwatchError(
      'E_USAGE',
      "--always is for Linux (tcp_syncookies=2); FreeBSD's nearest is --only (net.inet.tcp.syncookies_only), read its warning first",
    );
  if (o.action === 'enable')
    return o.only
      ? [
          { name: FREEBSD_SYNCOOKIES, target: 1 },
          { name: FREEBSD_SYNCOOKIES_ONLY, target: 1 },
        ]
      : [{ name: FREEBSD_SYNCOOKIES, target: 1 }];
  return o.only ? [{ name: FREEBSD_SYNCOOKIES_ONLY, target: 0 }] : [{ name: FREEBSD_SYNCOOKIES, target: 0 }];
}

interface FilePlan {
  file: string;
  before: string | undefined;
  after: string;
  st: Stats | undefined;
  results: { name: string; r: SetResult }[];
}

function planFile(env: Env, o: ApplyOptions, items: Plan[], warnings: Problem[]): FilePlan {
  const requested = underRoot(env.root, o.file ?? (env.os === 'linux' ? LINUX_DROPIN : FREEBSD_CONF));
  const file = resolveUnderRoot(env.root, requested);
  let before: string | undefined;
  let st: Stats | undefined;
  try {
    st = statSync(file);
  } catch (err) {
    if (sysCode(err) !== 'ENOENT') throw fileError(err, file, 'examine');
  }
  if (st && !st.isFile())
    throw new RstwatchError(
      'E_SYSCTL_WRITE',
      `${file} is not a regular file${file !== requested ? ` (${requested} links to it: masked?)` : ''}`,
      { file },
    );
  if (st) {
    try {
      before = readFileSync(file, 'latin1');
    } catch (err) {
      throw fileError(err, file, 'read');
    }
  }
  let text = before ?? '';
  const results: FilePlan['results'] = [];
  for (const it of items) {
    const entries = findSysctl(text, it.name);
    const last = entries.at(-1);
    if (last && !isKnownValue(it.name, confInteger(last.value)))
      throw unknownValueError(it.name, last.value, `${file} line ${last.line}`, file, last.line);
    const r = setSysctl(text, it.name, String(it.target), {
      style: env.os === 'freebsd' ? 'compact' : 'spaced',
      comment: results.some((r) => r.r.action === 'added')
        ? []
        : before === undefined
          ? ['Written by rstwatch syncookies (see `rstwatch syncookies status`).']
          : ['Added by rstwatch syncookies.'],
    });
    if (r.shadowed.length > 0)
      warnings.push({
        code: 'W_SYSCTL_DUPLICATE',
        message:
          `${it.name} is set on lines ${[...r.shadowed, r.line].join(', ')}; sysctl applies the last one, line ${r.line}` +
          `${r.changed ? ', which is the one changed' : ''}; the earlier ${r.shadowed.length === 1 ? 'line has' : 'lines have'} no effect and ${r.shadowed.length === 1 ? 'is' : 'are'} left as ${r.shadowed.length === 1 ? 'it is' : 'they are'}`,
        severity: 'warning',
        file,
        line: r.line,
      });
    results.push({ name: it.name, r });
    text = r.text;
  }
  return { file, before, after: text, st, results };
}

/** Warnings about boot: a later file that overrides ours, a file no boot tool reads. */
function bootWarnings(env: Env, fp: FilePlan, items: Plan[], warnings: Problem[]): void {
  const files = bootConfigFiles(env.os, env.root, [fp.file]).map((f) => resolveUnderRoot(env.root, f));
  if (!files.includes(fp.file)) {
    warnings.push({
      code: 'W_SYSCTL_NOT_AT_BOOT',
      message:
        env.os === 'linux'
          ? `${fp.file} is not read at boot: systemd-sysctl and \`sysctl --system\` read /etc/sysctl.conf and *.conf in /etc/sysctl.d, /run/sysctl.d, /usr/local/lib/sysctl.d and /usr/lib/sysctl.d`
          : `${fp.file} is not read at boot: rc.d/sysctl reads /etc/sysctl.conf and /etc/sysctl.conf.local`,
      severity: 'warning',
      file: fp.file,
    });
    return;
  }
  for (const it of items) {
    const boot = scanBootConfig(env.os, it.name, env.root, { file: fp.file, text: fp.after });
    const eff = boot.effective;
    if (eff && resolveUnderRoot(env.root, eff.file) !== fp.file && confInteger(eff.value) !== it.target) {
      warnings.push({
        code: 'W_SYSCTL_OVERRIDDEN',
        message: `${eff.file} line ${eff.line} sets ${it.name} = ${eff.value} and is applied after ${fp.file}: at boot the value will be ${eff.value}, not ${it.target} (--file ${eff.file} would edit that line instead)`,
        severity: 'warning',
        file: eff.file,
        line: eff.line,
      });
    }
  }
  if (env.os === 'linux' && env.netns !== 'host')
    warnings.push({
      code: 'W_SYSCTL_NETNS_BOOT',
      message: `files under /etc/sysctl.d are applied at boot to the host's namespace; namespace ${env.netns} gets the kernel default (1) when it is created unless whoever creates it applies them (ip netns exec NAME sysctl --system)`,
      severity: 'warning',
    });
}

function valueDiff(label: string, before: string, after: string, action: string): string {
  return unifiedDiff(`${before}\n`, `${after}\n`, {
    before: `${label} (running)`,
    after: `${label} (after ${action})`,
  });
}

/** File text (latin1: bytes as they are) to display text: UTF-8 comments come out readable in the diff. */
function forDisplay(text: string | undefined): string | undefined {
  return text === undefined ? undefined : Buffer.from(text, 'latin1').toString('utf8');
}

function summaryOf(o: ApplyOptions, os: Os, settings: SettingChange[], changedRunning: boolean): string {
  const main = settings.at(-1)!;
  const what =
    os === 'freebsd' && o.only
      ? o.action === 'enable'
        ? 'cookies-only mode on'
        : 'cookies-only mode off (the syncache is back)'
      : o.action === 'disable'
        ? 'SYN cookies disabled'
        : main.target === 2
          ? 'SYN cookies always on'
          : 'SYN cookies enabled';
  const state = settings
    .map((s) => `${s.name} ${s.changed ? `${s.beforeRaw} → ${s.target}` : `= ${s.target}`}`)
    .join(', ');
  if (!changedRunning) {
    const already =
      os === 'freebsd' && o.only
        ? o.action === 'enable'
          ? 'cookies-only mode already on'
          : 'cookies-only mode already off'
        : o.action === 'disable'
          ? 'SYN cookies already disabled'
          : main.target === 2
            ? 'SYN cookies already always on'
            : 'SYN cookies already enabled';
    return `${already} (${state})`;
  }
  return `${what} (${state})`;
}

/**
 * Enable or disable SYN cookies (see the order of steps at the top of this file). Returns what was done;
 * throws RstwatchError with everything put back when a step fails.
 */
export async function applySyncookies(env: Env, o: ApplyOptions): Promise<ApplyReport> {
  const backend = backendOf(env);
  const items = plans(env.os, o);
  if (o.file !== undefined && !o.persist) throw new RstwatchError('E_USAGE', '--file goes with --persist');
  const warnings: Problem[] = [];
  if (env.os === 'freebsd' && o.only && o.action === 'enable')
    warnings.push({ code: 'W_SYSCTL_COOKIES_ONLY', message: COOKIES_ONLY_WARNING, severity: 'warning' });

  // 1. Read and plan.
  const current = new Map<string, SysctlValue>();
  for (const it of items) {
    const v = await backend.read(it.name);
    if (!isKnownValue(it.name, v.value))
      throw unknownValueError(it.name, v.raw, `the running kernel (${v.source})`);
    current.set(it.name, v);
  }
  if (env.os === 'freebsd' && o.action === 'enable' && !o.only) {
    // Not ours to change without --only: just say so when it is on.
    try {
      const only = await backend.read(FREEBSD_SYNCOOKIES_ONLY);
      if (only.value === 1)
        warnings.push({
          code: 'W_SYSCTL_COOKIES_ONLY',
          message: `${FREEBSD_SYNCOOKIES_ONLY} is 1: cookies-only mode stays on (the syncache is off); \`rstwatch syncookies disable --only\` turns it off`,
          severity: 'warning',
        });
    } catch {
      // An older kernel without it: nothing to say.
    }
  }
  const fp = o.persist ? planFile(env, o, items, warnings) : undefined;
  if (fp) bootWarnings(env, fp, items, warnings);
  const toWrite = items.filter((it) => current.get(it.name)!.value !== it.target);
  const fileChanges = fp !== undefined && (fp.before === undefined || fp.after !== fp.before);

  const settings: SettingChange[] = items.map((it) => {
    const v = current.get(it.name)!;
    return {
      name: it.name,
      before: v.value,
      beforeRaw: v.raw,
      target: it.target,
      after: v.value,
      changed: v.value !== it.target,
      meaning: meaningOf(it.name, it.target),
    };
  });
  const fileDiff = fp
    ? unifiedDiff(forDisplay(fp.before), forDisplay(fp.after), { before: fp.file, after: fp.file })
    : '';
  const diff =
    toWrite
      .map((it) => valueDiff(backend.label(it.name), current.get(it.name)!.raw, String(it.target), o.action))
      .join('') + fileDiff;
  const persist: PersistReport | null = fp
    ? {
        file: fp.file,
        existed: fp.before !== undefined,
        changed: fileChanges,
        action:
          fp.before === undefined
            ? 'created'
            : (fp.results.find((r) => r.r.changed)?.r.action ?? 'unchanged'),
        lines: Object.fromEntries(fp.results.map((r) => [r.name, r.r.line])),
        backup: null,
        diff: fileDiff,
      }
    : null;
  const report: ApplyReport = {
    command: o.action,
    os: env.os,
    netns: env.netns,
    dryRun: Boolean(o.dryRun),
    changed: toWrite.length > 0 || fileChanges,
    settings,
    persist,
    reload: [],
    diff,
    warnings,
    summary: summaryOf(o, env.os, settings, toWrite.length > 0),
  };
  if (!report.changed || o.dryRun) return report;

  // 2. May we write the running value at all? (Before any file is touched.)
  for (const it of toWrite) await backend.preflight(it.name);

  // 3. The file.
  const undo: (() => Promise<void> | void)[] = [];
  if (fp && fileChanges) {
    const createdDir = fp.before === undefined ? makeParent(fp.file) : undefined;
    if (createdDir !== undefined) undo.push(() => removeDirs(createdDir, dirname(fp.file)));
    let backup: string | undefined;
    try {
      if (fp.st) backup = backupFile(fp.file, Math.floor(env.now() / 1000), fp.st);
      writeFileAtomic(fp.file, fp.after, {
        mode: fp.st ? fp.st.mode & 0o7777 : 0o644,
        uid: fp.st && process.getuid?.() === 0 ? fp.st.uid : undefined,
        gid: fp.st && process.getuid?.() === 0 ? fp.st.gid : undefined,
      });
    } catch (err) {
      if (backup !== undefined) tryUnlink(backup);
      for (const u of undo.reverse()) await u();
      const e = fileError(err, fp.file, 'write');
      throw new RstwatchError(e.code, `${e.message} (nothing was changed)`, {
        file: e.file,
        hint: e.hint,
        cause: err,
      });
    }
    persist!.backup = backup ?? null;
    const before = fp.before;
    const st = fp.st;
    undo.push(() => {
      if (before === undefined) tryUnlink(fp.file);
      else
        writeFileAtomic(fp.file, before, {
          mode: st!.mode & 0o7777,
          uid: process.getuid?.() === 0 ? st!.uid : undefined,
          gid: process.getuid?.() === 0 ? st!.gid : undefined,
        });
      if (backup !== undefined) tryUnlink(backup);
      persist!.backup = null;
    });
  }

  try {
    // 4. FreeBSD applies its file the way rc does.
    if (env.os === 'freebsd' && fp && fileChanges) await reloadFreeBsd(env, report);
    // 5. The running value, then read it back.
    const reloaded = report.reload.some((r) => r.ok);
    for (const it of items) {
      const old = current.get(it.name)!.value!;
      // After a reload the file has been applied already; read what it left.
      const now = reloaded ? (await backend.read(it.name)).value : old;
      const restore = async () => {
        await backend.write(it.name, old);
      };
      // The reload changed it already: it needs putting back whatever happens next.
      if (now !== old) undo.push(restore);
      if (now !== it.target) {
        await backend.write(it.name, it.target);
        if (now === old) undo.push(restore);
      }
    }
    for (const s of settings) {
      const v = await backend.read(s.name);
      s.after = v.value;
      if (v.value !== s.target)
        throw new RstwatchError(
          'E_SYSCTL_VERIFY',
          `${s.name} reads ${JSON.stringify(v.raw)} after being set to ${s.target} (${v.source}): something else manages it, or the kernel refused the value`,
          { file: v.source },
        );
    }
  } catch (err) {
    // 6. Put back what was changed, newest first.
    const failed: string[] = [];
    for (const u of undo.reverse()) {
      try {
        await u();
      } catch (e) {
        failed.push(errorMessage(e));
      }
    }
    const e =
      err instanceof RstwatchError
        ? err
        : new RstwatchError('E_SYSCTL_WRITE', errorMessage(err), { cause: err });
    const note =
      failed.length === 0
        ? 'everything was put back as it was'
        : `putting things back failed too: ${failed.join('; ')}`;
    throw new RstwatchError(e.code, `${e.message} (${note})`, {
      file: e.file,
      line: e.line,
      hint: e.hint,
      cause: err,
    });
  }
  return report;
}

function tryUnlink(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone.
  }
}

/** mkdir -p the file's directory; returns the first directory created (undefined when it existed). */
function makeParent(file: string): string | undefined {
  // One level at a time: mkdirSync({recursive}) reports ENOENT instead of EROFS on a read-only file system.
  const missing: string[] = [];
  for (let d = dirname(file); d !== dirname(d); d = dirname(d)) {
    try {
      statSync(d);
      break;
    } catch {
      missing.unshift(d);
    }
  }
  for (const d of missing) {
    try {
      mkdirSync(d, 0o755);
    } catch (err) {
      if (d !== missing[0]) removeDirs(missing[0]!, dirname(d));
      throw fileError(err, d, 'create the directory');
    }
  }
  return missing[0];
}

/** Remove the directories mkdir -p created, deepest first, if they are empty. */
function removeDirs(first: string, deepest: string): void {
  const chain: string[] = [];
  for (let d = deepest; ; d = dirname(d)) {
    chain.push(d);
    if (d === first || relative(first, d).startsWith('..') || d === dirname(d)) break;
  }
  for (const d of chain) {
    try {
      rmdirSync(d);
    } catch {
      return;
    }
  }
}

/** `service sysctl reload`, or `/etc/rc.d/sysctl reload` when service(8) fails: rc's way to apply the file. */
async function reloadFreeBsd(env: Env, report: ApplyReport): Promise<void> {
  const tries: [string, string[]][] = [
    [env.servicePath, ['sysctl', 'reload']],
    [env.rcSysctlPath, ['reload']],
  ];
  for (const [cmd, args] of tries) {
    const command = [cmd, ...args].join(' ');
    let ok = false;
    let detail: string | undefined;
    try {
      const r = await env.runner(cmd, args, { timeoutMs: 30_000 });
      ok = r.error === undefined && r.code === 0;
      if (!ok) detail = r.error ?? `exited with code ${r.code}: ${r.stderr.trim().split('\n')[0] ?? ''}`;
    } catch (e) {
      detail = errorMessage(e);
    }
    report.reload.push(detail === undefined ? { command, ok } : { command, ok, detail });
    if (ok) return;
  }
  report.warnings.push({
    code: 'W_SYSCTL_RELOAD',
    message: `could not reload the sysctl configuration (${report.reload.map((r) => `${r.command}: ${r.detail}`).join('; ')}); setting the value directly`,
    severity: 'warning',
  });
}
