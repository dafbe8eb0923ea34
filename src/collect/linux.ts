/**
 * Linux collector: every `Tcp:` counter of /proc/net/snmp and every `TcpExt:` counter of /proc/net/netstat,
 * for one network namespace, through a configurable proc root (fixture trees in tests).
 *
 * The files are read synchronously: they are generated in memory by the kernel, a read costs tens of
 * microseconds, and an async read would cost more in bookkeeping than it saves.
 */

import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage, type Problem, RstwatchError, sysCode } from '../internal/errors.js';
import { NetnsHandle, type NetnsSpec, parseNetnsSpec } from './netns.js';
import { ProcNetFastParser, parseProcNet } from './proc-parse.js';
import type { Collector, CollectResult } from './types.js';

const SNMP_GROUPS: ReadonlySet<string> = new Set(['Tcp']);
const NETSTAT_GROUPS: ReadonlySet<string> = new Set(['TcpExt']);

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

  constructor(opts: LinuxCollectorOptions = {}) {
    this.procRoot = opts.procRoot ?? '/proc';
    const spec =
      typeof opts.netns === 'string' ? parseNetnsSpec(opts.netns) : (opts.netns ?? parseNetnsSpec('host'));
    this.netns = spec.label;
    const nsOpts: ConstructorParameters<typeof NetnsHandle>[1] = { procRoot: this.procRoot };
    if (opts.netnsDir !== undefined) nsOpts.netnsDir = opts.netnsDir;
    if (opts.spawnHolder !== undefined) nsOpts.spawnHolder = opts.spawnHolder;
    this.handle = new NetnsHandle(spec, nsOpts);
  }

  describe(): string {
    const where = this.netns === 'host' ? join(this.procRoot, 'net') : `namespace ${this.netns}`;
    return `${where}/{snmp,netstat} (Tcp, TcpExt)`;
  }

  /** Synchronous form used by the sampler's hot path. Never throws. */
  collectSync(): CollectResult {
    const problems: Problem[] = [];
    let dir: string;
    try {
      dir = this.handle.netDir();
    } catch (err) {
      const e =
        err instanceof RstwatchError ? err : new RstwatchError('E_NETNS_UNREADABLE', errorMessage(err));
      return { source: this.source, netns: this.netns, counters: {}, problems: [e.toProblem()] };
    }
    if (this.files?.dir !== dir) this.files = { dir, snmp: join(dir, 'snmp'), netstat: join(dir, 'netstat') };
    const files = this.files;
    // Each file: read into the shared buffer, then the fast parser; the full parser (which says what is
    // wrong, and where) only when the fast one declines. The fast one never commits part of a file.
    const counters: Record<string, number> = {};
    const snmpLen = readProcFile(files.snmp, problems);
    if (snmpLen >= 0 && !this.snmpFast.parse(readBuffer, snmpLen, counters)) {
      const parsed = parseLinuxCounters(readBuffer.toString('latin1', 0, snmpLen), undefined, files);
      Object.assign(counters, parsed.counters);
      problems.push(...parsed.problems);
    }
    const netstatLen = readProcFile(files.netstat, problems);
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
    this.handle.close();
  }
}

/**
 * One buffer for every read of every collector (the sampler reads one file at a time, synchronously);
 * it grows when a file fills it, so a kernel with more counters than today's is still read whole.
 */
let readBuffer = Buffer.allocUnsafe(64 * 1024);

/** Read a whole /proc file into `readBuffer`: its length, or -1 with the problem said. */
function readProcFile(file: string, problems: Problem[]): number {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    let len = 0;
    for (;;) {
      if (len === readBuffer.length) {
        const bigger = Buffer.allocUnsafe(readBuffer.length * 2);
        readBuffer.copy(bigger, 0, 0, len);
        readBuffer = bigger;
      }
      const n = readSync(fd, readBuffer, len, readBuffer.length - len, null);
      if (n === 0) return len;
      len += n;
    }
  } catch (err) {
    const code = sysCode(err);
    problems.push({
      code: code === 'ENOENT' ? 'E_PROC_MISSING' : 'E_PROC_UNREADABLE',
      message: `cannot read: ${code ?? errorMessage(err)}`,
      severity: 'error',
      file,
    });
    return -1;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
