/**
 * Coverage feedback from V8 itself: block coverage through the inspector's Profiler domain
 * (`Profiler.startPreciseCoverage({callCount: true, detailed: true})`, the mechanism behind `c8` and
 * NODE_V8_COVERAGE). With `callCount` on, each `takePreciseCoverage` returns the counts since the previous
 * one and resets them, so the blocks reached by the inputs run in between are exactly the ranges with a
 * count above zero.
 *
 * Block coverage is only instrumented into functions compiled after it was switched on: `start()` must run
 * before the code under test is imported (the worker imports its target afterwards).
 *
 * A feature is one source range (a block, branch arm or function body) of a file under `src/`, as a number:
 * file index × 2^40 + start offset × 2^20 + end offset (files are far below 1 MiB).
 */
import { Session } from 'node:inspector';

interface CoverageRange {
  startOffset: number;
  endOffset: number;
  count: number;
}
interface FunctionCoverage {
  ranges: CoverageRange[];
}
interface ScriptCoverage {
  url: string;
  functions: FunctionCoverage[];
}

export class Coverage {
  private readonly session = new Session();
  private readonly files = new Map<string, number>();
  /** Every feature ever seen by this worker. */
  readonly seen = new Set<number>();

  constructor(private readonly urlPrefix: string) {}

  private post<T>(method: string, params: object = {}): T {
    // A session on the worker's own thread answers synchronously (the callback runs inside post()).
    let result: T | undefined;
    let failure: Error | null = null;
    this.session.post(method, params, (err: Error | null, res?: object) => {
      failure = err;
      result = res as T;
    });
    if (failure) throw failure;
    if (result === undefined) throw new Error(`inspector did not answer ${method} synchronously`);
    return result;
  }

  start(): void {
    this.session.connect();
    this.post('Profiler.enable');
    this.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  }

  /** Features reached since the previous call (reset by the call). */
  take(): number[] {
    const { result } = this.post<{ result: ScriptCoverage[] }>('Profiler.takePreciseCoverage');
    const out: number[] = [];
    for (const script of result) {
      if (!script.url.startsWith(this.urlPrefix)) continue;
      let idx = this.files.get(script.url);
      if (idx === undefined) {
        idx = this.files.size;
        this.files.set(script.url, idx);
      }
      const base = idx * 2 ** 40;
      for (const fn of script.functions) {
        for (const r of fn.ranges) {
          if (r.count > 0) out.push(base + r.startOffset * 2 ** 20 + (r.endOffset & 0xfffff));
        }
      }
    }
    return out;
  }

  /** Features of `features` not seen before; with `add`, they become seen. */
  fresh(features: readonly number[], add: boolean): number {
    let n = 0;
    for (const f of features) {
      if (this.seen.has(f)) continue;
      n++;
      if (add) this.seen.add(f);
    }
    return n;
  }

  /** Source files under the prefix that ran at least once. */
  get fileCount(): number {
    return this.files.size;
  }

  stop(): void {
    try {
      this.post('Profiler.stopPreciseCoverage');
    } catch {
      // the session may already be gone when the worker ends
    }
    this.session.disconnect();
  }
}
