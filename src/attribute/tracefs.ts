/**
 * tracefs: find it (mount it when absent), and manage the agent's own instance.
 *
 * An instance (`instances/<name>`, Documentation/trace/ftrace.rst "Instances") has its own ring buffers and
 * its own event switches, so the agent never touches the global buffer that perf, trace-cmd or an
 * administrator's tracing may be using. Its name carries the agent's pid, which is how a stale one left by a
 * killed agent is recognised and removed at the next start. The kernel refuses `rmdir` of an instance while
 * one of its files is open (EBUSY, `__remove_instance`), so while the agent reads, nobody can remove it.
 */

import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CAP, hasCapability } from '../internal/caps.js';
import { errorMessage, RstwatchError, sysCode } from '../internal/errors.js';
import { findProgram } from '../internal/which.js';

export const DEFAULT_TRACEFS_CANDIDATES = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];
export const INSTANCE_PREFIX = 'rstwatch-';
export const RESET_EVENTS = ['tcp_send_reset', 'tcp_receive_reset'] as const;

export interface FindOptions {
  /** Use this tracefs root and nothing else (tests; also `attribution tracefs` if ever needed). */
  root?: string;
  candidates?: string[];
  mountsFile?: string;
  filesystemsFile?: string;
  /** Mount tracefs at the first candidate when none is mounted (default true). */
  mount?: boolean;
}

/**
 * stat, not existsSync: existsSync is access(2), which drops a non-root caller's capabilities (faccessat), so an
 * agent running as its own user with CAP_DAC_OVERRIDE would see no tracefs at all (docs/security.md).
 */
function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

const isTracefs = (dir: string) => exists(join(dir, 'instances')) && exists(join(dir, 'events'));

function permission(err: unknown): boolean {
  const c = sysCode(err);
  return c === 'EACCES' || c === 'EPERM';
}

export function permissionError(what: string, err: unknown): RstwatchError {
  const uid = process.getuid?.();
  return new RstwatchError(
    'E_ATTR_PERMISSION',
    `attribution needs root to use tracefs (${what}: ${sysCode(err) ?? errorMessage(err)}${uid !== undefined ? `, running as uid ${uid}` : ''})`,
    { hint: 'run the agent as root (or with CAP_DAC_OVERRIDE, docs/security.md), or set attribution = no' },
  );
}

/** Mount points of tracefs from /proc/self/mounts. */
export function tracefsMounts(mountsText: string): string[] {
  return mountsText
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2] === 'tracefs' && f[1] !== undefined)
    .map((f) => f[1]!.replace(/\\040/g, ' '));
}

function runMount(target: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    let stderr = '';
    const mount = findProgram('mount');
    if (mount === undefined) {
      resolve('mount(8) was not found on PATH');
      return;
    }
    const child = spawn(mount, ['-t', 'tracefs', 'nodev', target], { stdio: ['ignore', 'ignore', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve(e.message);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(code === 0 ? undefined : stderr.trim() || `mount exited with ${code}`);
    });
  });
}

/** Where tracefs is, mounting it if allowed and needed. Throws E_ATTR_NO_TRACEFS / E_ATTR_PERMISSION. */
export async function findTracefs(opts: FindOptions = {}): Promise<{ root: string; mounted: boolean }> {
  if (opts.root !== undefined) {
    if (!exists(join(opts.root, 'events'))) {
      throw new RstwatchError('E_ATTR_NO_TRACEFS', `no tracefs at ${opts.root} (no events folder)`);
    }
    return { root: opts.root, mounted: false };
  }
  let mounts: string[] = [];
  try {
    mounts = tracefsMounts(readFileSync(opts.mountsFile ?? '/proc/self/mounts', 'utf8'));
  } catch {
    // no /proc: fall back to the usual places
  }
  const candidates = opts.candidates ?? DEFAULT_TRACEFS_CANDIDATES;
  // A mounted tracefs we may not enter (mode 0700, not root, no CAP_DAC_OVERRIDE) is a permission problem;
  // trying to mount another one would only say "already mounted".
  for (const dir of mounts) {
    try {
      statSync(join(dir, 'instances'));
      statSync(join(dir, 'events'));
      return { root: dir, mounted: false };
    } catch (err) {
      if (permission(err)) throw permissionError(`open ${dir}`, err);
    }
  }
  for (const dir of candidates) if (isTracefs(dir)) return { root: dir, mounted: false };
  let supported = true;
  try {
    supported = /\btracefs\b/.test(readFileSync(opts.filesystemsFile ?? '/proc/filesystems', 'utf8'));
  } catch {
    // unknown: try anyway
  }
  if (!supported) {
    throw new RstwatchError('E_ATTR_NO_TRACEFS', 'this kernel has no tracefs (not in /proc/filesystems)', {
      hint: 'a kernel built with CONFIG_FTRACE and CONFIG_EVENT_TRACING is needed',
    });
  }
  const target = candidates[0];
  if (opts.mount === false || target === undefined || !exists(target)) {
    throw new RstwatchError(
      'E_ATTR_NO_TRACEFS',
      `tracefs is not mounted (looked in ${candidates.join(', ')})`,
      {
        hint: 'mount -t tracefs nodev /sys/kernel/tracing',
      },
    );
  }
  // mount(2) needs CAP_SYS_ADMIN; root has it unless systemd's bounding set or SECBIT_NOROOT took it away.
  if (!hasCapability(CAP.SYS_ADMIN)) {
    throw permissionError(
      `mount tracefs on ${target}`,
      Object.assign(new Error('not root'), { code: 'EPERM' }),
    );
  }
  const problem = await runMount(target);
  if (problem !== undefined || !isTracefs(target)) {
    throw new RstwatchError(
      'E_ATTR_NO_TRACEFS',
      `tracefs is not mounted and mounting it on ${target} failed: ${problem ?? 'no instances folder after mount'}`,
      { hint: 'mount -t tracefs nodev /sys/kernel/tracing' },
    );
  }
  return { root: target, mounted: true };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return sysCode(err) === 'EPERM';
  }
}

/** Disable the events of an instance and remove it; returns an error text or undefined. */
export function removeInstance(dir: string): string | undefined {
  try {
    writeFileSync(join(dir, 'events', 'tcp', 'enable'), '0');
  } catch {
    // no tcp events there, or already gone
  }
  try {
    rmdirSync(dir);
    return undefined;
  } catch (err) {
    if (sysCode(err) === 'ENOENT') return undefined;
    return `${sysCode(err) ?? ''} ${errorMessage(err)}`.trim();
  }
}

/** Remove `rstwatch-<pid>` instances whose agent is dead; returns the names removed. */
export function removeStaleInstances(root: string, alive: (pid: number) => boolean = pidAlive): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(join(root, 'instances'));
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = /^rstwatch-(\d+)$/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || alive(pid)) continue;
    if (removeInstance(join(root, 'instances', name)) === undefined) removed.push(name);
  }
  return removed;
}

export interface InstanceSettings {
  /** Per-CPU ring buffer size in KiB. */
  bufferKiB: number;
}

/**
 * A sensible per-CPU buffer: at most 64 MiB over all CPUs and at most 1/64 of the machine's memory, between
 * 512 KiB and 20 MiB per CPU. 20 MiB holds 226,204 events of the 6.10+ layout (92 bytes), 1.13 s of a
 * storm at the design rate (200k/s on one CPU), so on machines with up to three CPUs an idle agent reads
 * the buffers once per sample, in the sample's own wake-up (idlePollMs, LiveAttribution.pulse). It was
 * 8 MiB per CPU (0.45 s at that rate): the reader then woke up 2.5 times a second on its own, 0.06 % of a
 * core on this project's machine (issue 2). The buffer is kernel memory, allocated when the instance is made.
 */
export function defaultBufferKiB(cpus: number, memTotalKiB = Number.POSITIVE_INFINITY): number {
  const total = Math.min(65536, Math.floor(memTotalKiB / 64));
  return Math.max(512, Math.min(20480, Math.floor(total / Math.max(1, cpus))));
}

export class TraceInstance {
  readonly dir: string;
  /** trace_clock is CLOCK_MONOTONIC ("mono"), so event times convert to wall time exactly. */
  monoClock = false;

  constructor(
    readonly root: string,
    readonly name: string,
  ) {
    this.dir = join(root, 'instances', name);
  }

  exists(): boolean {
    return exists(join(this.dir, 'events'));
  }

  /** mkdir the instance (a leftover of our own pid is reused), then configure it. */
  create(settings: InstanceSettings): void {
    try {
      // tracefs creates the instance's files on mkdir (instance_mkdir); a plain folder would be wrong.
      mkdirSync(this.dir);
    } catch (err) {
      if (sysCode(err) !== 'EEXIST') {
        if (permission(err)) throw permissionError(`mkdir ${this.dir}`, err);
        throw new RstwatchError('E_ATTR_INSTANCE', `cannot create ${this.dir}: ${errorMessage(err)}`);
      }
    }
    this.configure(settings);
  }

  private write(rel: string, value: string): void {
    try {
      writeFileSync(join(this.dir, rel), value);
    } catch (err) {
      if (permission(err)) throw permissionError(`write ${rel}`, err);
      throw new RstwatchError(
        'E_ATTR_INSTANCE',
        `cannot write ${value} to ${join(this.dir, rel)}: ${errorMessage(err)}`,
      );
    }
  }

  configure(settings: InstanceSettings): void {
    this.write('tracing_on', '0');
    this.write('buffer_size_kb', String(settings.bufferKiB));
    // Drop new events rather than overwrite unread ones when the buffer is full: what was read is then a
    // clean prefix, and the loss is counted exactly in per_cpu/cpuN/stats "dropped events".
    try {
      this.write('options/overwrite', '0');
    } catch {
      // older kernels without the per-instance option: overruns are still counted
    }
    try {
      this.write('trace_clock', 'mono');
      this.monoClock = true;
    } catch {
      this.monoClock = false;
    }
    for (const e of RESET_EVENTS) this.write(`events/tcp/${e}/enable`, '1');
    this.write('tracing_on', '1');
  }

  /** What is wrong with a running instance (events switched off, tracing off, gone), if anything. */
  check(): string | undefined {
    if (!this.exists()) return 'the tracefs instance was removed';
    try {
      if (readFileSync(join(this.dir, 'tracing_on'), 'utf8').trim() !== '1')
        return 'tracing was switched off';
      for (const e of RESET_EVENTS) {
        const v = readFileSync(join(this.dir, 'events', 'tcp', e, 'enable'), 'utf8').trim();
        if (v !== '1') return `the ${e} event was disabled`;
      }
    } catch (err) {
      return `cannot read the instance: ${errorMessage(err)}`;
    }
    return undefined;
  }

  /**
   * check(), off the event loop: these reads take the kernel's tracing locks, which another process creating
   * or removing an instance can hold for a long time; a synchronous read would stall sampling meanwhile.
   */
  async checkAsync(): Promise<string | undefined> {
    try {
      await stat(join(this.dir, 'events'));
    } catch {
      return 'the tracefs instance was removed';
    }
    try {
      if ((await readFile(join(this.dir, 'tracing_on'), 'utf8')).trim() !== '1')
        return 'tracing was switched off';
      for (const e of RESET_EVENTS) {
        const v = (await readFile(join(this.dir, 'events', 'tcp', e, 'enable'), 'utf8')).trim();
        if (v !== '1') return `the ${e} event was disabled`;
      }
    } catch (err) {
      return `cannot read the instance: ${errorMessage(err)}`;
    }
    return undefined;
  }

  cpus(): number[] {
    try {
      return readdirSync(join(this.dir, 'per_cpu'))
        .map((d) => /^cpu(\d+)$/.exec(d))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => Number(m[1]))
        .sort((a, b) => a - b);
    } catch {
      return [];
    }
  }

  /** Events lost in the kernel (overrun + dropped), summed over CPUs (per_cpu/cpuN/stats). */
  lostEvents(): number {
    let lost = 0;
    for (const c of this.cpus()) {
      let text: Buffer;
      try {
        text = readFileSync(join(this.dir, 'per_cpu', `cpu${c}`, 'stats'));
      } catch {
        continue;
      }
      lost +=
        Math.max(0, statsField(text, '\noverrun:')) + Math.max(0, statsField(text, '\ndropped events:'));
    }
    return lost;
  }

  remove(): string | undefined {
    return removeInstance(this.dir);
  }
}

/** The decimal after `label` in a per-CPU `stats` text (`entries: 12`), or -1 when absent. */
export function statsField(b: Buffer, label: string): number {
  const at = b.indexOf(label);
  if (at < 0) return -1;
  let i = at + label.length;
  while (i < b.length && b[i] === 32) i++;
  let v = 0;
  let digits = 0;
  for (; i < b.length; i++) {
    const d = b[i]! - 48;
    if (d < 0 || d > 9) break;
    v = v * 10 + d;
    digits++;
  }
  return digits > 0 ? v : -1;
}
