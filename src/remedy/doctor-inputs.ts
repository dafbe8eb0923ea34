/**
 * rstwatch doctor, the gathering part: the sysctls the checks need and two counter reads `interval` apart
 * (the agent has no API yet, so doctor samples like `status`), plus the listening sockets at the end.
 *
 * Linux sysctls are read from `<procRoot>/sys/net/...` directly. Those files belong to the network
 * namespace of the process that opens them, so `--netns` re-executes doctor inside the namespace
 * (src/internal/netns-exec.ts) and this module only ever reads "its own" namespace. A file that cannot be
 * read makes that setting unknown (a warning problem), never a crash. FreeBSD settings come with the
 * collector's reads (`sysctl -i`).
 */

import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { createCollectors } from '../collect/factory.js';
import { FREEBSD_SYSCTLS } from '../collect/freebsd.js';
import type { CollectResult, CommandRunner } from '../collect/types.js';
import { errorMessage, type Problem, sysCode } from '../internal/errors.js';
import { runCommand } from '../internal/run.js';
import type { Os } from '../model/charts.js';
import { type DoctorInput, LINUX_DOCTOR_SETTINGS, type Listener } from './doctor.js';

export type Settings = Record<string, number | string | undefined>;

/** `net.ipv4.tcp_syncookies` → `<procRoot>/sys/net/ipv4/tcp_syncookies`. */
export function linuxSysctlFile(procRoot: string, name: string): string {
  return join(procRoot, 'sys', ...name.split('.'));
}

/** A sysctl file's text as a value: an integer when it is one, else the trimmed text. */
export function parseSysctlValue(text: string): number | string {
  const t = text.trim();
  return /^-?\d{1,15}$/.test(t) ? Number(t) : t;
}

/** Read the Linux sysctls the checks need. Missing files are unknown (undefined) with a warning. */
export function readLinuxSettings(
  procRoot = '/proc',
  names: readonly string[] = LINUX_DOCTOR_SETTINGS,
): { settings: Settings; problems: Problem[] } {
  const settings: Settings = {};
  const problems: Problem[] = [];
  for (const name of names) {
    const file = linuxSysctlFile(procRoot, name);
    try {
      settings[name] = parseSysctlValue(readFileSync(file, 'latin1'));
    } catch (err) {
      settings[name] = undefined;
      problems.push({
        code: 'W_SYSCTL_MISSING',
        message: `no value for ${name}: ${sysCode(err) ?? errorMessage(err)}`,
        severity: 'warning',
        file,
      });
    }
  }
  return { settings, problems };
}

/** `0100007F` (a u32 printed in host byte order) → `127.0.0.1`. */
function ipv4FromHex(hex: string, little: boolean): string {
  const bytes = [0, 2, 4, 6].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));
  return (little ? bytes.reverse() : bytes).join('.');
}

/** Four such u32 words → a compressed IPv6 address in brackets, the way ss prints it. */
function ipv6FromHex(hex: string, little: boolean): string {
  const words: string[] = [];
  for (let w = 0; w < 4; w++) {
    const pairs = [0, 2, 4, 6].map((i) => hex.slice(w * 8 + i, w * 8 + i + 2));
    const b = little ? pairs.reverse() : pairs;
    words.push(`${b[0]}${b[1]}`, `${b[2]}${b[3]}`);
  }
  try {
    return new URL(`http://[${words.join(':')}]/`).hostname;
  } catch {
    return `[${words.join(':')}]`;
  }
}

/**
 * Pure: the LISTEN sockets (state 0A) of a /proc/net/tcp or tcp6 text. For a listener the kernel puts the
 * accept-queue length in rx_queue; the backlog is not in this file (ss reads it over netlink).
 */
export function parseProcNetTcpListeners(
  text: string,
  family: 4 | 6,
  little = endianness() === 'LE',
): Listener[] {
  const out: Listener[] = [];
  const hexLen = family === 4 ? 8 : 32;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    // sl local rem st tx:rx …
    if (f.length < 5 || !/^\d+:$/.test(f[0] ?? '') || f[3] !== '0A') continue;
    const m = /^([0-9A-Fa-f]+):([0-9A-Fa-f]{4})$/.exec(f[1] ?? '');
    const q = /^[0-9A-Fa-f]{8}:([0-9A-Fa-f]{8})$/.exec(f[4] ?? '');
    if (!m || !q || m[1]!.length !== hexLen) continue;
    const addr = family === 4 ? ipv4FromHex(m[1]!, little) : ipv6FromHex(m[1]!, little);
    out.push({ local: `${addr}:${Number.parseInt(m[2]!, 16)}`, queued: Number.parseInt(q[1]!, 16) });
  }
  return out;
}

/** Pure: listeners from `ss -ltn` (Recv-Q = accept queue length, Send-Q = backlog). */
export function parseSsListeners(text: string): Listener[] {
  const out: Listener[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(?:LISTEN\s+)?(\d+)\s+(\d+)\s+(\S+)\s+\S+/.exec(line);
    if (!m || /^\s*State\b/.test(line)) continue;
    out.push({ local: m[3]!, queued: Number(m[1]), backlog: Number(m[2]) });
  }
  return out;
}

/**
 * The listening sockets of the current namespace: `ss -ltn` when reading the live /proc (it knows the
 * backlogs), else (or when ss is missing) /proc/net/tcp and tcp6 under the proc root (queue lengths only).
 */
export async function readLinuxListeners(
  procRoot = '/proc',
  runner: CommandRunner = runCommand,
): Promise<{ listeners: Listener[] | undefined; source: string }> {
  if (procRoot === '/proc') {
    try {
      const r = await runner('ss', ['-ltn'], { timeoutMs: 3_000 });
      if (r.error === undefined && r.code === 0)
        return { listeners: parseSsListeners(r.stdout), source: 'ss -ltn' };
    } catch {
      // fall back to /proc
    }
  }
  const listeners: Listener[] = [];
  let read = false;
  for (const [file, family] of [
    ['tcp', 4],
    ['tcp6', 6],
  ] as const) {
    try {
      listeners.push(
        ...parseProcNetTcpListeners(readFileSync(join(procRoot, 'net', file), 'latin1'), family),
      );
      read = true;
    } catch {
      // no IPv6, or not readable: the other family still counts
    }
  }
  return { listeners: read ? listeners : undefined, source: join(procRoot, 'net', 'tcp{,6}') };
}

export interface GatherOptions {
  os: Os;
  /** Seconds between the two counter reads; 0 reads once (settings checks only). */
  intervalSeconds: number;
  procRoot?: string;
  netstatPath?: string;
  sysctlPath?: string;
  runner?: CommandRunner;
  /** Injectable for tests. */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

export interface Gathered {
  input: DoctorInput;
  /** Settings as read (unknown ones present with undefined), for the report. */
  settings: Settings;
  problems: Problem[];
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function dedupe(problems: readonly Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = `${p.code}\u0000${p.file ?? ''}\u0000${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Read counters, wait, read again; read the settings and the listeners. Never throws for bad input. */
export async function gatherDoctorInput(opts: GatherOptions): Promise<Gathered> {
  const sleep = opts.sleep ?? realSleep;
  const now = opts.now ?? (() => performance.now());
  const copts: Parameters<typeof createCollectors>[0] = { os: opts.os };
  if (opts.procRoot !== undefined) copts.procRoot = opts.procRoot;
  if (opts.netstatPath !== undefined) copts.netstatPath = opts.netstatPath;
  if (opts.sysctlPath !== undefined) copts.sysctlPath = opts.sysctlPath;
  if (opts.runner !== undefined) copts.runner = opts.runner;
  const [collector] = await createCollectors(copts);
  if (collector === undefined) throw new Error('createCollectors returned no collector');
  const problems: Problem[] = [];
  let first: CollectResult;
  let second: CollectResult;
  let seconds = 0;
  try {
    first = await collector.collect();
    const t0 = now();
    if (opts.intervalSeconds > 0) {
      const until = t0 + opts.intervalSeconds * 1000;
      for (let left = until - now(); left > 0; left = until - now()) await sleep(Math.min(left, 1000));
      second = await collector.collect();
      seconds = (now() - t0) / 1000;
    } else {
      second = first;
    }
  } finally {
    await collector.close();
  }
  problems.push(...first.problems, ...second.problems);

  let settings: Settings;
  let listeners: Listener[] | undefined;
  if (opts.os === 'linux') {
    const procRoot = opts.procRoot ?? '/proc';
    const s = readLinuxSettings(procRoot);
    settings = s.settings;
    problems.push(...s.problems);
    listeners = (await readLinuxListeners(procRoot, opts.runner)).listeners;
  } else {
    const read = second.settings ?? first.settings ?? {};
    settings = {};
    for (const name of FREEBSD_SYSCTLS) settings[name] = Object.hasOwn(read, name) ? read[name] : undefined;
  }
  const input: DoctorInput = {
    os: opts.os,
    settings,
    before: first.counters,
    after: second.counters,
    intervalSeconds: seconds,
  };
  if (listeners !== undefined) input.listeners = listeners;
  return { input, settings, problems: dedupe(problems) };
}
