/**
 * The agent's captures: one bounded capture at a time, kept in `<dataDir>/captures` under a retention limit,
 * each with a JSON sidecar (`<id>.json`, its CaptureInfo) and its analysis cached next to it
 * (`<id>.report.json`), so a restarted agent still lists them and never analyses a file twice.
 *
 * A sidecar still saying "running" at start-up belongs to a capture the agent did not see end (it was killed):
 * the file is cut to its last whole record and the capture is marked failed.
 *
 * The analysis runs in a child process (`rstwatch analyze --json FILE`), not in the agent: analysing a large
 * capture takes seconds of CPU and up to ~256 MB (docs/benchmarks.md, part 7) and sets a process-wide V8 heap
 * flag; in a child it neither delays the agent's sampling nor stays in its memory. A child that fails, prints
 * no report or outlives `analyzeTimeoutMs` is a clear error (E_CAPTURE_ANALYZE, or the reader's own code when
 * the file cannot be read at all).
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage, RstwatchError } from '../internal/errors.js';
import type { Logger } from '../internal/log.js';
import type { Os } from '../model/charts.js';
import { type CaptureEnv, CaptureRun, ensureDir, prepareCapture } from './capture.js';
import { checkUserFilter } from './filter.js';
import { repairPcap } from './pcapfile.js';
import {
  CAPTURE_ID_RE,
  captureId,
  captureLimits,
  capturesDir,
  checkIfaceName,
  DEFAULT_MAX_BYTES,
  extensionOf,
} from './plan.js';
import type { CaptureInfo, CaptureManager, CaptureRequest } from './types.js';

export interface CaptureManagerOptions {
  dataDir: string;
  /** Most captures kept (setting `capture keep`). */
  keep: number;
  /** Most bytes of capture files kept (setting `capture keep bytes`); also bounds one capture. */
  keepBytes: number;
  os: Os;
  log: Logger;
  env?: Omit<CaptureEnv, 'os'>;
  now?: () => Date;
  /** rstwatch's version, written into cached reports. */
  version?: string;
  /**
   * The analysis command, to which `--json --quiet FILE` is appended (default: this Node and this package's
   * bin/rstwatch.js `analyze`). Tests replace it.
   */
  analyzeCommand?: readonly string[];
  /** How long an analysis may take (default DEFAULT_ANALYZE_TIMEOUT_MS). */
  analyzeTimeoutMs?: number;
}

/** A 1 GiB capture takes ~5–10 s; ten minutes is for a very slow or very busy machine. */
export const DEFAULT_ANALYZE_TIMEOUT_MS = 10 * 60_000;
/** The report of the default 1,000 listed connections is a few MB; anything far larger is not one. */
const MAX_REPORT_BYTES = 256 * 1024 * 1024;
const MAX_STDERR_BYTES = 64 * 1024;
const BIN = fileURLToPath(new URL('../../bin/rstwatch.js', import.meta.url));

/**
 * Runs the analysis of `file` in a child process and parses its JSON report. Rejects with E_CAPTURE_ANALYZE
 * (or the reader's own E_CAPTURE_* code when the capture could not be read at all) and a message naming the
 * capture.
 */
export function analyzeInChild(
  file: string,
  opts: { command?: readonly string[]; timeoutMs?: number; track?: (child: ChildProcess) => () => void } = {},
): Promise<unknown> {
  const command = opts.command ?? [process.execPath, BIN, 'analyze'];
  const timeoutMs = opts.timeoutMs ?? DEFAULT_ANALYZE_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const fail = (message: string, code = 'E_CAPTURE_ANALYZE') =>
      reject(new RstwatchError(code, `cannot analyse ${file}: ${message}`));
    let child: ChildProcess;
    try {
      // One thread: the agent is careful with the machine it watches, and the second thread costs ~15–25 %
      // more CPU for a faster answer (docs/analyze.md, "Limits and performance"); its captures are bounded.
      child = spawn(command[0]!, [...command.slice(1), '--json', '--quiet', '--threads', '1', file], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      fail(`the analysis could not start: ${errorMessage(err)}`);
      return;
    }
    const untrack = opts.track?.(child) ?? (() => undefined);
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    let why: string | undefined;
    const stop = (reason: string) => {
      why ??= reason;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(
      () => stop(`the analysis took longer than ${Math.round(timeoutMs / 1000)} s`),
      timeoutMs,
    );
    child.stdout?.on('data', (b: Buffer) => {
      outBytes += b.length;
      if (outBytes > MAX_REPORT_BYTES) stop(`the analysis printed more than ${MAX_REPORT_BYTES} bytes`);
      else out.push(b);
    });
    child.stderr?.on('data', (b: Buffer) => {
      if (err.length < MAX_STDERR_BYTES) err += b.toString('utf8');
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      untrack();
      fail(`the analysis could not run: ${errorMessage(e)}`);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      untrack();
      if (why !== undefined) return fail(why);
      if (code !== 0) {
        // The CLI prints each problem as "rstwatch analyze: FILE: error: CODE: message (at byte offset N)".
        const problem = /: error: (E_[A-Z0-9_]+): (.*)$/m.exec(err);
        if (problem) return fail(problem[2]!, problem[1]);
        const last = err.trim().split('\n').at(-1) ?? '';
        return fail(
          `the analysis ended with ${signal ?? `exit code ${code}`}${last ? `: ${last.slice(0, 500)}` : ''}`,
        );
      }
      try {
        resolve(JSON.parse(Buffer.concat(out).toString('utf8')) as unknown);
      } catch (e) {
        fail(`the analysis printed no valid report: ${errorMessage(e)}`);
      }
    });
  });
}

const FILE_RE = /^(rst-\d{8}T\d{6}Z(?:-\d{1,4})?)\.(pcap|pcapng)$/;

/** `<id>.json` next to the capture, replaced atomically. */
export async function writeSidecar(dir: string, info: CaptureInfo): Promise<void> {
  const path = join(dir, `${info.id}.json`);
  await writeFile(`${path}.tmp`, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o640 });
  await rename(`${path}.tmp`, path);
}

function copy(info: CaptureInfo): CaptureInfo {
  return structuredClone(info);
}

export class LocalCaptureManager implements CaptureManager {
  readonly dir: string;
  private readonly infos = new Map<string, CaptureInfo>();
  private current: { id: string; run?: CaptureRun; stopRequested: boolean; done: Promise<void> } | undefined;
  private readonly reports = new Map<string, Promise<unknown>>();
  /** Analyses running in child processes (killed by close()). */
  private readonly analyses = new Set<ChildProcess>();
  private closed = false;

  constructor(private readonly opts: CaptureManagerOptions) {
    this.dir = capturesDir(opts.dataDir);
    this.load();
  }

  /** Sidecars and capture files already in the folder (from earlier runs, or `rstwatch capture`). */
  private load(): void {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return; // no folder yet
    }
    for (const name of names.sort()) {
      const m = FILE_RE.exec(name);
      if (!m) continue;
      const id = m[1]!;
      const file = join(this.dir, name);
      let info: CaptureInfo | undefined;
      try {
        info = JSON.parse(readFileSync(join(this.dir, `${id}.json`), 'utf8')) as CaptureInfo;
      } catch {
        info = undefined;
      }
      let bytes = 0;
      try {
        bytes = statSync(file).size;
      } catch {
        continue;
      }
      if (info === undefined || info.id !== id) {
        info = { id, state: 'done', startedAt: idToIso(id), file, bytes, packets: 0, request: {} };
      } else if (info.state === 'running') {
        info = {
          ...info,
          state: 'failed',
          bytes,
          error: {
            code: 'E_CAPTURE_TCPDUMP',
            message: 'the agent stopped during this capture; the file was cut to its last whole packet',
          },
        };
        const fixed = info;
        if (name.endsWith('.pcap'))
          void repairPcap(file).then(
            (r) => {
              fixed.bytes = r.validBytes;
              fixed.packets = r.records;
              return this.writeSidecar(fixed);
            },
            () => undefined,
          );
      }
      info.file = file;
      this.infos.set(id, info);
    }
  }

  start(req: CaptureRequest): CaptureInfo {
    if (this.closed) throw new RstwatchError('E_CAPTURE_BUSY', 'the agent is stopping; no new capture');
    if (this.current)
      throw new RstwatchError(
        'E_CAPTURE_BUSY',
        `capture ${this.current.id} is running; one capture at a time`,
        {
          hint: 'wait for it to end, or stop it',
        },
      );
    // Everything that can be refused is refused here, synchronously, so the API can answer 400 at once.
    const limits = captureLimits({
      ...req,
      maxBytes: Math.min(req.maxBytes ?? DEFAULT_MAX_BYTES, this.opts.keepBytes),
    });
    if (req.filter !== undefined) checkUserFilter(req.filter);
    if (req.iface !== undefined) checkIfaceName(req.iface);
    if (req.format !== undefined && req.format !== 'pcap' && req.format !== 'pcapng')
      throw new RstwatchError(
        'E_USAGE',
        `format: expected pcap or pcapng, got ${JSON.stringify(req.format)}`,
      );
    const format = req.format ?? 'pcap';
    const now = (this.opts.now ?? (() => new Date()))();
    let id = captureId(now);
    for (let i = 2; this.taken(id); i++) id = captureId(now, i);
    const request: CaptureRequest = {
      ...req,
      durationSeconds: limits.durationSeconds,
      maxBytes: limits.maxBytes,
      format,
    };
    const info: CaptureInfo = {
      id,
      state: 'running',
      startedAt: now.toISOString(),
      file: join(this.dir, `${id}${extensionOf(format)}`),
      bytes: 0,
      packets: 0,
      request,
    };
    this.infos.set(id, info);
    const cur: { id: string; run?: CaptureRun; stopRequested: boolean; done: Promise<void> } = {
      id,
      stopRequested: false,
      done: Promise.resolve(),
    };
    this.current = cur;
    cur.done = this.runCapture(info, cur).finally(() => {
      if (this.current === cur) this.current = undefined;
    });
    this.opts.log.info('capture started', {
      id,
      iface: req.iface ?? 'default',
      seconds: limits.durationSeconds,
    });
    return copy(info);
  }

  /** An id in use here or on disk (`rstwatch capture` writes into the same folder). */
  private taken(id: string): boolean {
    return (
      this.infos.has(id) || ['.pcap', '.pcapng', '.json'].some((ext) => existsSync(join(this.dir, id + ext)))
    );
  }

  private async runCapture(
    info: CaptureInfo,
    cur: { run?: CaptureRun; stopRequested: boolean },
  ): Promise<void> {
    const req = info.request;
    try {
      await ensureDir(this.dir);
      await this.writeSidecar(info);
      const prepared = await prepareCapture(
        {
          ...(req.iface !== undefined ? { iface: req.iface } : {}),
          limits: captureLimits(req),
          ...(req.filter !== undefined ? { userFilter: req.filter } : {}),
          file: info.file,
          format: req.format ?? 'pcap',
        },
        { os: this.opts.os, ...this.opts.env },
      );
      if (cur.stopRequested) throw new RstwatchError('E_CAPTURE_TCPDUMP', 'stopped before tcpdump started');
      const run = new CaptureRun(prepared, this.opts.env ?? {});
      cur.run = run;
      const result = await run.done;
      info.file = result.file;
      info.bytes = result.bytes;
      info.packets = result.packets;
      if (result.error) {
        info.state = 'failed';
        info.error = { code: result.error.code, message: result.error.message };
      } else info.state = 'done';
    } catch (err) {
      info.state = 'failed';
      const e =
        err instanceof RstwatchError ? err : new RstwatchError('E_CAPTURE_TCPDUMP', errorMessage(err));
      info.error = { code: e.code, message: e.message };
    }
    info.endedAt = new Date().toISOString();
    this.opts.log[info.state === 'done' ? 'info' : 'warn']('capture ended', {
      id: info.id,
      state: info.state,
      packets: info.packets,
      bytes: info.bytes,
      code: info.error?.code,
      error: info.error?.message,
    });
    await this.writeSidecar(info).catch((err) =>
      this.opts.log.warn(`cannot write the capture's sidecar: ${errorMessage(err)}`, {
        code: 'E_CAPTURE_WRITE',
      }),
    );
    await this.applyRetention();
  }

  private writeSidecar(info: CaptureInfo): Promise<void> {
    return writeSidecar(this.dir, info);
  }

  /**
   * Delete the oldest finished captures (file, sidecar, cached report) until at most `keep` remain and their
   * files total at most `keepBytes`. The newest finished capture is always kept; a running one is never touched.
   */
  async applyRetention(): Promise<string[]> {
    const finished = [...this.infos.values()]
      .filter((i) => i.state !== 'running')
      .sort((a, b) =>
        a.startedAt < b.startedAt ? -1 : a.startedAt > b.startedAt ? 1 : a.id < b.id ? -1 : 1,
      );
    let total = finished.reduce((s, i) => s + i.bytes, 0);
    const removed: string[] = [];
    while (finished.length > 1 && (finished.length > this.opts.keep || total > this.opts.keepBytes)) {
      const old = finished.shift()!;
      total -= old.bytes;
      for (const f of [old.file, join(this.dir, `${old.id}.json`), join(this.dir, `${old.id}.report.json`)])
        await unlink(f).catch(() => undefined);
      this.infos.delete(old.id);
      this.reports.delete(old.id);
      removed.push(old.id);
    }
    if (removed.length > 0) this.opts.log.info('captures removed by retention', { ids: removed.join(' ') });
    return removed;
  }

  list(): CaptureInfo[] {
    return [...this.infos.keys()]
      .map((id) => this.get(id)!)
      .sort((a, b) => (a.startedAt < b.startedAt ? 1 : -1));
  }

  get(id: string): CaptureInfo | undefined {
    const info = this.infos.get(id);
    if (!info) return undefined;
    const out = copy(info);
    const run = this.current?.id === id ? this.current.run : undefined;
    if (run && info.state === 'running') {
      const p = run.progress();
      out.packets = p.packets;
      out.bytes = p.bytes;
    }
    return out;
  }

  private known(id: string): CaptureInfo {
    const info = CAPTURE_ID_RE.test(id) ? this.infos.get(id) : undefined;
    if (!info) throw new RstwatchError('E_CAPTURE_NOT_FOUND', `no capture ${JSON.stringify(id)}`);
    return info;
  }

  report(id: string): Promise<unknown> {
    let info: CaptureInfo;
    try {
      info = this.known(id);
    } catch (err) {
      return Promise.reject(err);
    }
    if (info.state === 'running')
      return Promise.reject(
        new RstwatchError(
          'E_CAPTURE_RUNNING',
          `capture ${id} is still running; its report comes when it ends`,
        ),
      );
    let p = this.reports.get(id);
    if (!p) {
      p = this.buildReport(info);
      this.reports.set(id, p);
      p.catch(() => this.reports.delete(id));
    }
    return p;
  }

  private async buildReport(info: CaptureInfo): Promise<unknown> {
    const cache = join(this.dir, `${info.id}.report.json`);
    try {
      return JSON.parse(await readFile(cache, 'utf8')) as unknown;
    } catch {
      // not cached yet (or damaged): analyse
    }
    const json = (await analyzeInChild(info.file, {
      command: this.opts.analyzeCommand,
      timeoutMs: this.opts.analyzeTimeoutMs,
      track: (child) => {
        this.analyses.add(child);
        return () => this.analyses.delete(child);
      },
    })) as { tool?: { version?: string } };
    // The report names the agent's version (the child is the same rstwatch, unless a test replaced it).
    if (json.tool !== undefined && typeof json.tool === 'object')
      json.tool.version = this.opts.version ?? packageVersion();
    try {
      await writeFile(`${cache}.tmp`, JSON.stringify(json), { mode: 0o640 });
      await rename(`${cache}.tmp`, cache);
    } catch (err) {
      this.opts.log.warn(`cannot cache the report of ${info.id}: ${errorMessage(err)}`, {
        code: 'E_CAPTURE_WRITE',
      });
    }
    return json;
  }

  stop(id: string): void {
    this.known(id);
    const cur = this.current;
    if (!cur || cur.id !== id) return; // already ended
    cur.stopRequested = true;
    cur.run?.stop('interrupted');
  }

  /** Stop a running capture and wait until its file is closed and recorded. */
  async close(): Promise<void> {
    this.closed = true;
    for (const child of this.analyses) child.kill('SIGKILL');
    const cur = this.current;
    if (!cur) return;
    cur.stopRequested = true;
    cur.run?.stop('interrupted');
    await cur.done;
  }

  /** The running capture's promise (tests). */
  get idle(): Promise<void> {
    return this.current?.done ?? Promise.resolve();
  }
}

function packageVersion(): string {
  try {
    return (
      JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
    ).version;
  } catch {
    return 'unknown';
  }
}

/** rst-20261204T024200Z → 2026-12-04T02:42:00.000Z */
function idToIso(id: string): string {
  const m = /^rst-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(id);
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.000Z` : new Date(0).toISOString();
}
