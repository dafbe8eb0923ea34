/**
 * The fuzzing loop, in a worker thread so that the main thread can stop it: a hang cannot be interrupted
 * from inside (a synchronous loop never yields), but Worker.terminate() can, and the main thread finds the
 * input that hung in shared memory, where every input is copied before it runs.
 *
 * Coverage guidance with V8 block coverage (coverage.ts). Reading coverage costs about a millisecond, far more
 * than one parser call, so inputs run in batches and coverage is read once per batch; a batch that reached a
 * new block is run again input by input to find which inputs did (they join the corpus). The batch grows
 * while nothing new turns up and shrinks when something does, so the early exploration is exact and the
 * long tail costs a few microseconds per execution.
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import { Coverage } from './coverage.js';
import { type MutateOptions, mutate, Rng } from './mutate.js';
import { REPO } from './paths.js';
import { HEADER_BYTES, type WorkerInput, type WorkerMessage } from './protocol.js';
import { bytes, type FuzzTarget } from './target.js';

/** A stable name for a failure: its type, its message without numbers, the first frame in src/. */
export function signatureOf(err: unknown): string {
  const e = err instanceof Error ? err : new Error(String(err));
  const msg = e.message
    .split('\n')[0]!
    .replace(/\d+/g, 'N')
    .replace(/"[^"]*"/g, '"…"')
    .slice(0, 160);
  const frame = (e.stack ?? '')
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.includes('/src/'));
  const where = frame
    ? frame
        .replace(/^at /, '')
        .replace(/^.*\/src\//, 'src/')
        .replace(/\)$/, '')
    : '';
  return `${e.name}: ${msg}${where ? ` @ ${where.replace(/:\d+$/, '')}` : ''}`;
}

function detailOf(err: unknown): string {
  if (err instanceof Error)
    return `${err.stack ?? err.message}${err.cause ? `\ncause: ${String(err.cause)}` : ''}`;
  return String(err);
}

/** Line starts and the end: the units of a text. */
function lineUnits(b: Uint8Array): number[] {
  const cuts = [0];
  for (let i = 0; i < b.length; i++) if (b[i] === 0x0a && i + 1 < b.length) cuts.push(i + 1);
  cuts.push(b.length);
  return cuts;
}

async function loadTarget(name: string): Promise<FuzzTarget> {
  const { TARGETS } = await import('../targets/index.js');
  const t = TARGETS.find((x) => x.name === name);
  if (!t) throw new Error(`no fuzz target ${name}`);
  return t.load();
}

async function main(): Promise<void> {
  const w = workerData as WorkerInput;
  const port = parentPort!;
  const send = (m: WorkerMessage) => port.postMessage(m);
  const ctl = new Int32Array(w.shared, 0, 4);
  const sharedBytes = new Uint8Array(w.shared, HEADER_BYTES);

  // Coverage first: only code compiled after this point is instrumented.
  const coverage = w.mode === 'fuzz' ? new Coverage(pathToFileURL(`${REPO}/src/`).href) : undefined;
  coverage?.start();
  const target = await loadTarget(w.target);
  const maxLen = Math.min(w.maxLenOverride ?? target.maxLen, sharedBytes.length);
  await target.setup?.();

  let maxExecMs = 0;
  let slowest: { ms: number; input: Uint8Array } | undefined;
  /** Run one input; the thrown value when it failed. */
  const exec = async (input: Uint8Array): Promise<{ failure?: unknown; ms: number }> => {
    sharedBytes.set(input);
    Atomics.store(ctl, 1, input.length);
    Atomics.add(ctl, 0, 1);
    Atomics.store(ctl, 2, 1);
    const t0 = performance.now();
    let failure: unknown;
    let failed = false;
    try {
      const r = target.run(input);
      if (r !== undefined) await r;
    } catch (err) {
      failure = err;
      failed = true;
    }
    const ms = performance.now() - t0;
    Atomics.store(ctl, 2, 0);
    if (ms > maxExecMs) maxExecMs = ms;
    if (slowest === undefined || ms > slowest.ms) slowest = { ms, input };
    return failed ? { failure, ms } : { ms };
  };

  if (w.mode === 'repro') {
    for (const [index, input] of w.inputs.entries()) {
      const r = await exec(input);
      const ok = !('failure' in r);
      send({ type: 'repro', index, ok, detail: ok ? '' : detailOf(r.failure), ms: r.ms });
    }
    await target.teardown?.();
    return;
  }

  if (w.mode === 'minimize') {
    let best = w.inputs[0]!;
    const first = await exec(best);
    if (!('failure' in first)) throw new Error('the input does not fail: nothing to minimize');
    const want = signatureOf(first.failure);
    const fails = async (cand: Uint8Array) => {
      const r = await exec(cand);
      return 'failure' in r && signatureOf(r.failure) === want;
    };
    // First whole units (records, blocks, lines): a byte-level cut rarely keeps a length-framed format valid.
    const unitsOf = target.units ?? (target.text ? lineUnits : undefined);
    if (unitsOf) {
      let progress = true;
      while (progress) {
        progress = false;
        const cuts = unitsOf(best);
        for (let k = cuts.length - 2; k >= 0; k--) {
          const from = cuts[k]!;
          const to = cuts[k + 1]!;
          const cand = new Uint8Array(best.length - (to - from));
          cand.set(best.subarray(0, from));
          cand.set(best.subarray(to), from);
          if (await fails(cand)) {
            best = cand;
            progress = true;
            break;
          }
        }
      }
    }
    // Delta debugging by chunks (ddmin's complement step), halving the chunk down to one byte.
    for (let chunk = best.length >> 1; chunk >= 1; chunk >>= 1) {
      let progress = true;
      while (progress) {
        progress = false;
        for (let at = 0; at + chunk <= best.length; ) {
          const cand = new Uint8Array(best.length - chunk);
          cand.set(best.subarray(0, at));
          cand.set(best.subarray(at + chunk), at);
          if (await fails(cand)) {
            best = cand;
            progress = true;
          } else at += chunk;
        }
      }
    }
    // Then simplify bytes: printable text reads better in a fixture.
    for (let i = 0; i < best.length; i++) {
      for (const c of [0x30, 0x20, 0x61]) {
        if (best[i] === c) break;
        const cand = best.slice();
        cand[i] = c;
        if (await fails(cand)) {
          best = cand;
          break;
        }
      }
    }
    send({ type: 'minimized', input: best, signature: want });
    await target.teardown?.();
    return;
  }

  // ---- fuzz ----
  const rng = new Rng(w.seed);
  const mopts: MutateOptions = {
    maxLen,
    dict: (target.dict ?? []).map((d) => (typeof d === 'string' ? bytes(d) : d)),
    lines: target.text,
  };
  const cov = coverage!;
  const corpus: Uint8Array[] = [];
  const seen = new Set<string>();
  const reported = new Set<string>();
  let execs = 0;
  const t0 = performance.now();

  const report = (input: Uint8Array, failure: unknown) => {
    const signature = signatureOf(failure);
    if (reported.has(signature)) return;
    reported.add(signature);
    send({ type: 'finding', signature, detail: detailOf(failure), input });
  };

  const seedList = [...w.inputs, ...(await target.seeds())].map((s) =>
    s.length > maxLen ? s.slice(0, maxLen) : s,
  );
  send({ type: 'ready', seeds: seedList.length });
  cov.take(); // forget the setup's coverage: it is not any input's
  for (const s of seedList) {
    const key = Buffer.from(s).toString('base64');
    if (seen.has(key)) continue;
    seen.add(key);
    const r = await exec(s);
    execs++;
    if ('failure' in r) report(s, r.failure);
    const fresh = cov.fresh(cov.take(), true);
    if (fresh > 0 || corpus.length === 0) corpus.push(s);
  }
  if (corpus.length === 0) corpus.push(new Uint8Array(0));

  let batch = 1;
  const MAX_BATCH = 512;
  let lastStats = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;
  const pending: Uint8Array[] = [];
  while (execs < w.maxExecs && elapsed() < w.maxSeconds) {
    pending.length = 0;
    for (let i = 0; i < batch && execs < w.maxExecs; i++) {
      const base = corpus[rng.below(corpus.length)]!;
      const other = corpus[rng.below(corpus.length)]!;
      const input = mutate(rng, base, other, mopts);
      const r = await exec(input);
      execs++;
      if ('failure' in r) report(input, r.failure);
      pending.push(input);
    }
    const reached = cov.take();
    if (cov.fresh(reached, false) > 0) {
      // Which inputs of the batch reached something new? Run them one at a time.
      for (const input of pending) {
        const r = await exec(input);
        execs++;
        if ('failure' in r) report(input, r.failure);
        if (cov.fresh(cov.take(), true) > 0 && corpus.length < 20_000) {
          corpus.push(input);
          send({ type: 'corpus', input });
        }
      }
      // What only the batch as a whole reached (state carried between inputs: caches, counters) is not
      // looked for again.
      cov.fresh(reached, true);
      batch = Math.max(1, batch >> 2);
    } else if (batch < MAX_BATCH) batch <<= 1;
    const now = performance.now();
    if (now - lastStats >= 1000) {
      lastStats = now;
      send({
        type: 'stats',
        execs,
        corpus: corpus.length,
        features: cov.seen.size,
        maxExecMs,
        heapMb: process.memoryUsage().heapUsed / 1048576,
        batch,
      });
    }
  }
  if (slowest) send({ type: 'slowest', ms: slowest.ms, input: slowest.input });
  send({
    type: 'done',
    execs,
    seconds: elapsed(),
    corpus: corpus.length,
    features: cov.seen.size,
    maxExecMs,
  });
  await target.teardown?.();
  cov.stop();
}

await main();
