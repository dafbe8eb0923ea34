/**
 * Linux collector: every `Tcp:` counter of /proc/net/snmp and every `TcpExt:` counter of /proc/net/netstat,
 * for one network namespace, through a configurable proc root (fixture trees in tests).
 *
 * The files are read synchronously: they are generated in memory by the kernel, a read costs tens of
 * microseconds, and an async read would cost more in bookkeeping than it saves.
 */

import { closeSync, openSync, readSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage, type Problem, RstwatchError, sysCode } from '../internal/errors.js';
import { NetnsHandle, type NetnsSpec, parseNetnsSpec } from './netns.js';
import { ProcNetFastParser, parseProcNet } from './proc-parse.js';
import type { Collector, CollectResult } from './types.js';

const SNMP_GROUPS: ReadonlySet<string> = new Set(['Tcp']);
const NETSTAT_GROUPS: ReadonlySet<string> = new Set(['TcpExt']);

/**
 * How often a namespace's name is looked up again while its two files are held open (milliseconds). An
 * open /proc/<pid>/net file is bound to its namespace when opened, so between checks the reads stay
 * right even if the process we opened them through exits; what a check finds is the name deleted or
 * re-created (`ip netns del NAME; ip netns add NAME`). A pid:N namespace is still checked at every read
 * (one readlink), so the process's exit is said at once. Checking every second was
 * a stat and a readlink per namespace per second, ~6 % of an idle agent's main thread (issue 2); every
 * 2 s halves that and still sees a re-created namespace within two samples.
 */
export const NETNS_RECHECK_MS = 2000;

/**
 * Counters whose absence is worth saying (once): without them the reset charts and alerts have holes.
 * The list is the field guide's §6.2; kernels older than the field simply lack it.
 */
export const LINUX_EXPECTED: readonly string[] = [
  'ActiveOpens',
  'PassiveOpens',
  'AttemptFails',
  'EstabResets',
  'OutRsts',
  'InErrs',
  'RetransSegs',
  'TCPAbortOnData',
  'TCPAbortOnClose',
  'TCPAbortOnMemory',
  'TCPAbortOnTimeout',
  'TCPAbortOnLinger',
  'TCPAbortFailed',
  'ListenOverflows',
  'ListenDrops',
  'TCPSynRetrans',
  'EmbryonicRsts',
  'SyncookiesSent',
  'SyncookiesRecv',
  'SyncookiesFailed',
  'TCPChallengeACK',
  'TCPSYNChallenge',
  'TCPReqQFullDrop',
  'TCPReqQFullDoCookies',
];

/** Pure: the counters of one namespace from the text of its snmp and netstat files. */
export function parseLinuxCounters(
  snmpText: string | undefined,
  netstatText: string | undefined,
  files: { snmp: string; netstat: string } = { snmp: '/proc/net/snmp', netstat: '/proc/net/netstat' },
): { counters: Record<string, number>; problems: Problem[] } {
  const counters: Record<string, number> = {};
  const problems: Problem[] = [];
  if (snmpText !== undefined) {
    const r = parseProcNet(snmpText, files.snmp, SNMP_GROUPS);
    problems.push(...r.problems);
    const tcp = r.groups.get('Tcp');
    if (!tcp) {
      problems.push({
        code: 'E_PROC_NO_GROUP',
        message: 'no "Tcp:" lines',
        severity: 'error',
        file: files.snmp,
      });
    } else for (const [k, v] of tcp) counters[k] = v;
  }
  if (netstatText !== undefined) {
    const r = parseProcNet(netstatText, files.netstat, NETSTAT_GROUPS);
    problems.push(...r.problems);
    const ext = r.groups.get('TcpExt');
    if (!ext) {
      problems.push({
        code: 'E_PROC_NO_GROUP',
        message: 'no "TcpExt:" lines',
        severity: 'error',
        file: files.netstat,
      });
    } else for (const [k, v] of ext) counters[k] = v;
  }
  return { counters, problems };
}

export interface LinuxCollectorOptions {
  procRoot?: string;
  netns?: string | NetnsSpec;
  netnsDir?: string;
  spawnHolder?: boolean;
  /** Milliseconds between namespace checks while the files are held open (default NETNS_RECHECK_MS). */
  netnsRecheckMs?: number;
}

export class LinuxCollector implements Collector {
  readonly source = 'linux-proc' as const;
  readonly netns: string;
  private readonly handle: NetnsHandle;
  private readonly procRoot: string;
  private warnedMissing = false;
  private readonly snmpFast = new ProcNetFastParser(SNMP_GROUPS);
  private readonly netstatFast = new ProcNetFastParser(NETSTAT_GROUPS);
  private files: { dir: string; snmp: string; netstat: string } | undefined;
  /**
   * On procfs, the two files stay open and are read again from offset 0 (seq_file regenerates them), which
   * saves an open and a close per file per second (issue 2: idle cost). Reopened whenever the namespace's
   * directory changes (netDir() re-validates it every NETNS_RECHECK_MS) or a read fails. Elsewhere (fixture trees
   * in tests, whose files are replaced or removed) each read opens the file, so a missing file is seen.
   */
  private open: { dir: string; snmp: number; netstat: number } | undefined;
  private readonly keepOpen: boolean;
  /** When netDir() last validated the namespace (performance.now()); see NETNS_RECHECK_MS. */
  private validatedAt = Number.NEGATIVE_INFINITY;
  private readonly recheckMs: number;

  constructor(opts: LinuxCollectorOptions = {}) {
    this.procRoot = opts.procRoot ?? '/proc';
    const spec =
      typeof opts.netns === 'string' ? parseNetnsSpec(opts.netns) : (opts.netns ?? parseNetnsSpec('host'));
    this.netns = spec.label;
    const nsOpts: ConstructorParameters<typeof NetnsHandle>[1] = { procRoot: this.procRoot };
    if (opts.netnsDir !== undefined) nsOpts.netnsDir = opts.netnsDir;
    if (opts.spawnHolder !== undefined) nsOpts.spawnHolder = opts.spawnHolder;
    this.handle = new NetnsHandle(spec, nsOpts);
    this.keepOpen = isProcfs(this.procRoot);
    // pid:N names a process, not a namespace: its exit is said at the next read (one readlink).
    this.recheckMs = spec.kind === 'pid' ? 0 : (opts.netnsRecheckMs ?? NETNS_RECHECK_MS);
  }

  describe(): string {
    const where = this.netns === 'host' ? join(this.procRoot, 'net') : `namespace ${this.netns}`;
    return `${where}/{snmp,netstat} (Tcp, TcpExt)`;
  }

  /** Synchronous form used by the sampler's hot path. Never throws. */
  collectSync(): CollectResult {
    const problems: Problem[] = [];
    let dir: string;
    const now = performance.now();
    const open = this.open;
    try {
      if (
        open !== undefined &&
        open.snmp >= 0 &&
        open.netstat >= 0 &&
        now - this.validatedAt < this.recheckMs
      ) {
        dir = open.dir; // both files held open and checked recently: see NETNS_RECHECK_MS
      } else {
        dir = this.handle.netDir();
        this.validatedAt = now;
      }
    } catch (err) {
      this.closeFiles(); // a kept file would hold a deleted namespace alive
      const e =
        err instanceof RstwatchError ? err : new RstwatchError('E_NETNS_UNREADABLE', errorMessage(err));
      return { source: this.source, netns: this.netns, counters: {}, problems: [e.toProblem()] };
    }
    if (this.files?.dir !== dir) this.files = { dir, snmp: join(dir, 'snmp'), netstat: join(dir, 'netstat') };
    const files = this.files;
    // Each file: read into the shared buffer, then the fast parser; the full parser (which says what is
    // wrong, and where) only when the fast one declines. The fast one never commits part of a file.
    const counters: Record<string, number> = {};
    if (this.keepOpen && this.open?.dir !== dir) this.reopen(dir, files);
    const snmpLen = this.read('snmp', files.snmp, problems);
    if (snmpLen >= 0 && !this.snmpFast.parse(readBuffer, snmpLen, counters)) {
      const parsed = parseLinuxCounters(readBuffer.toString('latin1', 0, snmpLen), undefined, files);
      Object.assign(counters, parsed.counters);
      problems.push(...parsed.problems);
    }
    const netstatLen = this.read('netstat', files.netstat, problems);
    if (netstatLen >= 0 && !this.netstatFast.parse(readBuffer, netstatLen, counters)) {
      const parsed = parseLinuxCounters(undefined, readBuffer.toString('latin1', 0, netstatLen), files);
      Object.assign(counters, parsed.counters);
      problems.push(...parsed.problems);
    }
    if (!this.warnedMissing && snmpLen >= 0 && netstatLen >= 0) {
      this.warnedMissing = true;
      const missing = LINUX_EXPECTED.filter((k) => !(k in counters));
      if (missing.length > 0) {
        problems.push({
          code: 'W_PROC_MISSING',
          message: `not reported by this kernel (or unreadable): ${missing.join(', ')}; their series stay empty`,
          severity: 'warning',
          file: files.netstat,
        });
      }
    }
    return { source: this.source, netns: this.netns, counters, problems };
  }

  async collect(): Promise<CollectResult> {
    return this.collectSync();
  }

  async close(): Promise<void> {
    this.closeFiles();
    this.handle.close();
  }

  /** Read one file: through its kept fd when there is one (a failure closes both, reopened next time). */
  private read(which: 'snmp' | 'netstat', file: string, problems: Problem[]): number {
    const fd = this.open?.[which];
    if (fd === undefined || fd < 0) return readProcFile(file, problems);
    const len = readFd(fd, file, problems);
    if (len < 0) this.closeFiles();
    return len;
  }

  private reopen(dir: string, files: { snmp: string; netstat: string }): void {
    this.closeFiles();
    const openOne = (file: string): number => {
      try {
        return openSync(file, 'r');
      } catch {
        return -1; // read the usual way this time: its problem is said there
      }
    };
    this.open = { dir, snmp: openOne(files.snmp), netstat: openOne(files.netstat) };
  }

  private closeFiles(): void {
    if (!this.open) return;
    for (const fd of [this.open.snmp, this.open.netstat]) {
      if (fd < 0) continue;
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
    this.open = undefined;
  }
}

/** procfs (PROC_SUPER_MAGIC 0x9fa0): files that stay valid while open and regenerate at offset 0. */
function isProcfs(dir: string): boolean {
  try {
    return statfsSync(dir).type === 0x9fa0;
  } catch {
    return false;
  }
}

/**
 * One buffer for every read of every collector (the sampler reads one file at a time, synchronously);
 * it grows when a file fills it, so a kernel with more counters than today's is still read whole.
 */
let readBuffer = Buffer.allocUnsafe(64 * 1024);

/** Read a whole /proc file into `readBuffer`: its length, or -1 with the problem said. */
function readProcFile(file: string, problems: Problem[]): number {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    said(err, file, problems);
    return -1;
  }
  try {
    return readFd(fd, file, problems);
  } finally {
    closeSync(fd);
  }
}

/** Read an open file whole from offset 0 into `readBuffer` (positioned reads: a kept fd reads afresh). */
function readFd(fd: number, file: string, problems: Problem[]): number {
  try {
    let len = 0;
    for (;;) {
      if (len === readBuffer.length) {
        const bigger = Buffer.allocUnsafe(readBuffer.length * 2);
        readBuffer.copy(bigger, 0, 0, len);
        readBuffer = bigger;
      }
      const n = readSync(fd, readBuffer, len, readBuffer.length - len, len);
      if (n === 0) return len;
      len += n;
    }
  } catch (err) {
    said(err, file, problems);
    return -1;
  }
}

function said(err: unknown, file: string, problems: Problem[]): void {
  const code = sysCode(err);
  problems.push({
    code: code === 'ENOENT' ? 'E_PROC_MISSING' : 'E_PROC_UNREADABLE',
    message: `cannot read: ${code ?? errorMessage(err)}`,
    severity: 'error',
    file,
  });
}
