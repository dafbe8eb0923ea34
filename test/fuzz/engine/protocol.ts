/** What the main thread and a fuzzing worker say to each other. */

export interface WorkerInput {
  mode: 'fuzz' | 'repro' | 'minimize';
  target: string;
  seed: number;
  maxExecs: number;
  maxSeconds: number;
  /** [0] exec sequence, [1] input length, [2] 1 while an input runs; then the input bytes. */
  shared: SharedArrayBuffer;
  /** Corpus entries saved by earlier runs (or the files to reproduce / minimize). */
  inputs: Uint8Array[];
  maxLenOverride?: number;
}

export type WorkerMessage =
  | { type: 'ready'; seeds: number }
  | {
      type: 'stats';
      execs: number;
      corpus: number;
      features: number;
      maxExecMs: number;
      heapMb: number;
      batch: number;
    }
  | { type: 'corpus'; input: Uint8Array }
  | { type: 'finding'; signature: string; detail: string; input: Uint8Array }
  | { type: 'slowest'; ms: number; input: Uint8Array }
  | { type: 'repro'; index: number; ok: boolean; detail: string; ms: number }
  | { type: 'minimized'; input: Uint8Array; signature: string }
  | { type: 'done'; execs: number; seconds: number; corpus: number; features: number; maxExecMs: number };

export const HEADER_BYTES = 16;

/** Room for one input in shared memory (every target's maxLen is below it; repro/minimize size their own). */
export const MAX_INPUT_BYTES = 64 * 1024;
