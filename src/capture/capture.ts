/**
 * One bounded capture: prepare (check everything before spawning), run tcpdump, watch the limits, stop it with
 * SIGINT, and leave a valid file behind whatever happened.
 *
 * tcpdump stops cleanly on SIGINT: it breaks its loop, flushes and closes the savefile (tcpdump.c cleanup()).
 * Limits: the duration is our timer (and a timeout(1) backstop in case rstwatch dies), packets are tcpdump's
 * `-c`, bytes and free disk space are polled by us, and the file is cut to the last whole record within the
 * byte limit afterwards, so it never exceeds --max-bytes and a full disk or a killed tcpdump never leaves a
 * torn record.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { open, rename, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errorMessage, RstwatchError, sysCode } from '../internal/errors.js';
import { FileFollower, followCapture, type LiveCounts, newLiveCounts, topSources } from './follow.js';
import { pcapToPcapng, repairPcap } from './pcapfile.js';
import { tcpdumpArgs, withBackstop } from './plan.js';
import { type CaptureEnv, classifyTcpdumpError, type PreparedCapture } from './prepare.js';
import { freeBytes } from './system.js';
import type { StopReason } from './types.js';

export {
  type CaptureEnv,
  type CaptureSpec,
  ensureDir,
  type PreparedCapture,
  prepareCapture,
} from './prepare.js';

export interface CaptureProgress {
  elapsedSeconds: number;
  packets: number;
  rsts: number;
  bytes: number;
  top: { key: string; count: number }[];
}

export interface CaptureResult {
  iface: string;
  filter: string;
  /** The valid capture file (the pcap when a pcapng conversion failed). */
  file: string;
  format: 'pcap' | 'pcapng';
  packets: number;
  rsts: number;
  bytes: number;
  elapsedSeconds: number;
  stoppedBy: StopReason;
  /** From tcpdump's "N packets dropped by kernel". */
  kernelDrops?: number;
  /** Bytes of an incomplete last record (or beyond --max-bytes) that were cut off. */
  cutBytes: number;
  top: { key: string; count: number }[];
  error?: RstwatchError;
}

const STDERR_MAX = 64 * 1024;
/** Wait between a stop request and SIGINT, so libpcap hands over its last block (see CaptureRun.stop). */
export const DRAIN_MS = 1200;

/**
 * Create the capture file empty and owner-only before tcpdump opens it. tcpdump opens its savefile with
 * fopen("w") (truncate: same inode, owner and mode kept), so the packets are never readable by other users:
 * left to itself it creates the file 0644 (umask 022) and, run as root, chowns it to its own user (Debian's
 * tcpdump drops to "tcpdump"). O_EXCL never follows a symbolic link planted under the name. Returns an error
 * only when the name is taken again right after we removed it (someone else writes into this folder);
 * any other failure is left for tcpdump to report in its own words.
 */
async function createPrivateFile(path: string): Promise<Error | undefined> {
  try {
    const fh = await open(path, 'wx', 0o600);
    await fh.close();
    return undefined;
  } catch (err) {
    if (sysCode(err) === 'EEXIST')
      return new Error(`${path} reappeared after it was removed: refusing to capture through it`);
    return undefined;
  }
}

/** A running capture. `done` never rejects: failures come back as `result.error` with the file still valid. */
export class CaptureRun {
  readonly done: Promise<CaptureResult>;
  /** Resolves when tcpdump listens (or the capture ended before that). */
  readonly ready: Promise<void>;
  private child: ChildProcess | undefined;
  private readonly counts: LiveCounts = newLiveCounts();
  private readonly follower: FileFollower;
  private stopReason: StopReason | undefined;
  private startedMs: number | undefined;
  private endedMs: number | undefined;
  private stderr = '';
  private timers: NodeJS.Timeout[] = [];
  private markReady: () => void = () => undefined;
  private spawnError: Error | undefined;
  private signalled = false;

  constructor(
    readonly plan: PreparedCapture,
    private readonly env: Pick<CaptureEnv, 'pollMs' | 'startTimeoutSeconds' | 'stopGraceMs' | 'drainMs'> = {},
  ) {
    this.follower = new FileFollower(plan.rawFile, env.pollMs ?? 200);
    this.ready = new Promise((resolve) => {
      this.markReady = resolve;
    });
    this.done = this.run();
  }

  progress(top = 3): CaptureProgress {
    const now = this.endedMs ?? Date.now();
    return {
      elapsedSeconds: this.startedMs === undefined ? 0 : (now - this.startedMs) / 1000,
      packets: this.counts.packets,
      rsts: this.counts.rsts,
      bytes: this.counts.bytes,
      top: topSources(this.counts, top),
    };
  }

  get running(): boolean {
    return this.endedMs === undefined;
  }

  /**
   * Ask tcpdump to finish. Idempotent, except that a full disk turns a pending stop into an immediate one.
   *
   * SIGINT comes `drainMs` (1.2 s) after the request: libpcap's TPACKET_V3 ring hands tcpdump a block of
   * packets only when it is full or after tcpdump's 1000 ms buffer timeout (pcap-linux.c, tp_retire_blk_tov;
   * FreeBSD's BPF store buffer has the same read timeout), and an interrupted tcpdump never sees the packets of
   * the block still open — measured here: 10 of 30,840 RSTs lost when stopped 0.5 s after the last one, none
   * after 1.3 s. (`--immediate-mode` would avoid the wait, but waking tcpdump per packet made the kernel drop
   * 29 % of a 4,600 RST/s storm, against none without it.) On a full disk there is no waiting.
   */
  stop(reason: StopReason = 'interrupted'): void {
    if (this.endedMs !== undefined) return;
    if (this.stopReason !== undefined) {
      if (reason === 'disk-full' && this.stopReason !== 'disk-full' && !this.signalled) {
        this.stopReason = reason;
        this.signal();
      }
      return;
    }
    this.stopReason = reason;
    const drainMs = this.env.drainMs ?? DRAIN_MS;
    if (reason === 'disk-full' || this.startedMs === undefined || drainMs <= 0) this.signal();
    else this.timers.push(setTimeout(() => this.signal(), drainMs));
  }

  /** SIGINT now; SIGTERM after the grace period; then SIGKILL to the process group. */
  private signal(): void {
    if (this.signalled) return;
    this.signalled = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGINT');
    const pid = child.pid;
    const graceMs = this.env.stopGraceMs ?? 5000;
    this.timers.push(
      setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      }, graceMs),
      setTimeout(() => {
        // The whole process group (timeout and tcpdump): a SIGKILLed timeout would leave tcpdump behind.
        if (child.exitCode === null && child.signalCode === null && pid !== undefined) {
          try {
            process.kill(-pid, 'SIGKILL');
          } catch {
            child.kill('SIGKILL');
          }
        }
      }, graceMs + Math.min(3000, graceMs)),
    );
  }

  private async run(): Promise<CaptureResult> {
    const p = this.plan;
    const { cmd, args } = withBackstop(
      p.timeoutPath,
      p.limits.durationSeconds,
      p.tcpdump,
      tcpdumpArgs({
        iface: p.iface,
        rawFile: p.rawFile,
        filter: p.filter,
        ...(p.limits.maxPackets !== undefined ? { maxPackets: p.limits.maxPackets } : {}),
      }),
    );
    // A stale file of the same name would be read as if tcpdump had written it.
    await unlink(p.rawFile).catch(() => undefined);
    const taken = await createPrivateFile(p.rawFile);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      if (this.stopReason !== undefined) {
        resolve({ code: null, signal: null }); // stopped before it started
        return;
      }
      if (taken !== undefined) {
        this.spawnError = taken;
        resolve({ code: null, signal: null });
        return;
      }
      let child: ChildProcess;
      try {
        // Own process group: a terminal's Ctrl-C reaches rstwatch only, which stops tcpdump in order.
        child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], shell: false, detached: true });
      } catch (err) {
        this.spawnError = err as Error;
        resolve({ code: null, signal: null });
        return;
      }
      this.child = child;
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (d: string) => {
        if (this.stderr.length < STDERR_MAX) this.stderr += d;
        if (this.startedMs === undefined && /listening on/.test(this.stderr)) this.onListening();
      });
      child.on('error', (err) => {
        this.spawnError = err;
      });
      child.on('close', (code, signal) => resolve({ code, signal }));
    });
    const following = followCapture(this.follower, this.counts);
    this.timers.push(
      setTimeout(
        () => {
          if (this.startedMs === undefined) this.stop('tcpdump-exited');
        },
        (this.env.startTimeoutSeconds ?? 15) * 1000,
      ),
    );
    const exit = await exited;
    this.endedMs = Date.now();
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    this.markReady();
    this.follower.stop();
    await following.catch(() => undefined);
    return this.finish(exit);
  }

  private onListening(): void {
    this.startedMs = Date.now();
    this.markReady();
    const p = this.plan;
    this.timers.push(setTimeout(() => this.stop('duration'), p.limits.durationSeconds * 1000));
    const dir = dirname(p.rawFile);
    const poll = setInterval(() => {
      if (this.stopReason !== undefined) return;
      stat(p.rawFile).then(
        (st) => {
          if (st.size >= p.limits.maxBytes) this.stop('bytes');
        },
        () => undefined,
      );
      const free = freeBytes(dir);
      if (free !== undefined && free < p.reserveBytes) this.stop('disk-full');
    }, this.env.pollMs ?? 200);
    this.timers.push(poll as unknown as NodeJS.Timeout);
  }

  private async finish(exit: { code: number | null; signal: NodeJS.Signals | null }): Promise<CaptureResult> {
    const p = this.plan;
    let error: RstwatchError | undefined;
    let stoppedBy: StopReason = this.stopReason ?? 'tcpdump-exited';
    const byUs = this.stopReason !== undefined && this.startedMs !== undefined;
    if (this.spawnError) {
      error = new RstwatchError('E_CAPTURE_TCPDUMP', `cannot run ${p.tcpdump}: ${this.spawnError.message}`);
    } else if (this.startedMs === undefined && this.stopReason === 'interrupted') {
      error = new RstwatchError(
        'E_CAPTURE_TCPDUMP',
        'the capture was stopped before tcpdump started capturing',
      );
    } else if (this.startedMs === undefined) {
      error =
        exit.code !== null && exit.code !== 0
          ? classifyTcpdumpError(this.stderr, p.iface, p.rawFile)
          : new RstwatchError(
              'E_CAPTURE_TCPDUMP',
              `tcpdump did not start capturing: ${this.stderr.trim() || 'no message'}`,
            );
    } else if (this.stopReason === 'disk-full') {
      error = new RstwatchError(
        'E_CAPTURE_DISK_FULL',
        `the file system of ${dirname(p.rawFile)} is nearly full (less than ${p.reserveBytes} bytes free): capture stopped; what was captured is kept`,
        { file: p.file, hint: 'free some space, or capture elsewhere with -w' },
      );
    } else if (!byUs) {
      if (exit.signal !== null) {
        error = new RstwatchError(
          'E_CAPTURE_TCPDUMP',
          `tcpdump was killed by ${exit.signal} (not by rstwatch); the packets written before are kept`,
        );
      } else if (exit.code === 0 && p.limits.maxPackets !== undefined) {
        stoppedBy = 'packets';
      } else if (exit.code === 124 && p.timeoutPath !== undefined) {
        stoppedBy = 'duration'; // timeout(1)'s backstop interrupted it
      } else {
        error =
          exit.code === 0
            ? new RstwatchError(
                'E_CAPTURE_TCPDUMP',
                `tcpdump stopped on its own: ${this.stderr.trim() || 'no message'}`,
              )
            : classifyTcpdumpError(this.stderr, p.iface, p.rawFile);
      }
    } else if (exit.signal === 'SIGKILL') {
      error = new RstwatchError(
        'E_CAPTURE_TCPDUMP',
        'tcpdump did not stop after SIGINT and SIGTERM and was killed',
      );
    }

    // Leave a valid file: cut an incomplete last record (full disk, SIGKILL) and anything past --max-bytes.
    let packets = 0;
    let bytes = 0;
    let cutBytes = 0;
    let file = p.rawFile;
    try {
      const fixed = await repairPcap(p.rawFile, p.limits.maxBytes);
      if (fixed.header === undefined) {
        // The empty file we created for tcpdump, never written: leave nothing behind, as before it existed.
        if (fixed.fileBytes === 0) await unlink(p.rawFile).catch(() => undefined);
        error ??= new RstwatchError('E_CAPTURE_WRITE', `tcpdump left no valid capture file at ${p.rawFile}`);
      } else {
        packets = fixed.records;
        bytes = fixed.validBytes;
        cutBytes = fixed.cutBytes;
        if (p.format === 'pcapng') {
          try {
            await pcapToPcapng(p.rawFile, p.file, p.iface);
            await unlink(p.rawFile).catch(() => undefined);
            file = p.file;
            bytes = (await stat(p.file)).size;
          } catch (err) {
            const kept = p.file.replace(/\.pcapng$/i, '') + '.pcap';
            await rename(p.rawFile, kept).then(
              () => {
                file = kept;
              },
              () => undefined,
            );
            error ??= new RstwatchError(
              sysCode(err) === 'ENOSPC' ? 'E_CAPTURE_DISK_FULL' : 'E_CAPTURE_WRITE',
              `cannot write the pcapng file ${p.file} (${errorMessage(err)}); the capture is kept as pcap in ${file}`,
            );
          }
        }
      }
    } catch (err) {
      if (sysCode(err) === 'ENOENT')
        error ??= new RstwatchError('E_CAPTURE_WRITE', `tcpdump wrote no capture file at ${p.rawFile}`);
      else
        error ??= new RstwatchError(
          'E_CAPTURE_WRITE',
          `cannot check the capture file ${p.rawFile}: ${errorMessage(err)}`,
        );
    }

    const drops = /(\d+) packets? dropped by kernel/.exec(this.stderr);
    const result: CaptureResult = {
      iface: p.iface,
      filter: p.filter,
      file,
      format: file === p.file ? p.format : 'pcap',
      packets,
      rsts: Math.min(this.counts.rsts, packets),
      bytes,
      elapsedSeconds:
        this.startedMs === undefined ? 0 : ((this.endedMs ?? Date.now()) - this.startedMs) / 1000,
      stoppedBy,
      cutBytes,
      top: topSources(this.counts, 10),
    };
    if (drops) result.kernelDrops = Number(drops[1]);
    if (error) result.error = error;
    return result;
  }
}
