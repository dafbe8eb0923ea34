/**
 * `npm run fuzz` — coverage-guided fuzzing of rstwatch's input surfaces (docs/reliability.md, "Fuzzing").
 *
 *   npm run fuzz -- [--target a,b] [--execs N] [--seconds S] [--timeout-ms T] [--seed N] [--out DIR]
 *                   [--fresh] [--list]
 *   npm run fuzz -- --target T --repro FILE…       run saved inputs once each, exit 1 if one fails
 *   npm run fuzz -- --target T --minimize FILE [--to OUT]
 *
 * Targets run one after another, each in a worker thread watched from here: an input running longer than
 * --timeout-ms is a hang (the worker is stopped and the input saved), a worker that runs out of its heap
 * (--heap-mb) is a memory finding. A target stops at --execs executions or --seconds, whichever comes
 * first. The corpus each run grows is kept under --out and seeds the next run (unless --fresh).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { REPO } from './engine/paths.js';
import { HEADER_BYTES, MAX_INPUT_BYTES, type WorkerInput, type WorkerMessage } from './engine/protocol.js';
import { TARGETS } from './targets/index.js';

interface Options {
  targets: string[];
  execs: number;
  seconds: number;
  timeoutMs: number;
  seed: number;
  out: string;
  fresh: boolean;
  heapMb: number;
  repro: string[];
  minimize?: string;
  to?: string;
  list: boolean;
}

const USAGE = `usage: npm run fuzz -- [--target NAME[,NAME…]] [--execs N] [--seconds S] [--timeout-ms T]
                     [--seed N] [--out DIR] [--fresh] [--heap-mb M] [--list]
       npm run fuzz -- --target NAME --repro FILE…
       npm run fuzz -- --target NAME --minimize FILE [--to OUT]`;

function parseArgs(argv: string[]): Options {
  const o: Options = {
    targets: [],
    execs: 1_000_000,
    seconds: 3600,
    timeoutMs: 2000,
    seed: Date.now() & 0x7fffffff,
    out: join(REPO, 'test-artifacts', 'fuzz'),
    fresh: false,
    heapMb: 512,
    repro: [],
    list: false,
  };
  const num = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < 0) throw new Error(`${flag} needs a number, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = () => argv[++i];
    switch (a) {
      case '--target':
        o.targets.push(...(v() ?? '').split(',').filter((s) => s !== ''));
        break;
      case '--execs':
        o.execs = num(a, v());
        break;
      case '--seconds':
        o.seconds = num(a, v());
        break;
      case '--timeout-ms':
        o.timeoutMs = num(a, v());
        break;
      case '--seed':
        o.seed = num(a, v());
        break;
      case '--heap-mb':
        o.heapMb = num(a, v());
        break;
      case '--out':
        o.out = resolve(v() ?? '.');
        break;
      case '--fresh':
        o.fresh = true;
        break;
      case '--list':
        o.list = true;
        break;
      case '--repro':
        while (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) o.repro.push(argv[++i]!);
        break;
      case '--minimize':
        o.minimize = v();
        break;
      case '--to':
        o.to = v();
        break;
      case '--help':
      case '-h':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${a}\n${USAGE}`);
    }
  }
  const known = new Set(TARGETS.map((t) => t.name));
  for (const t of o.targets) if (!known.has(t)) throw new Error(`no target ${t} (--list shows them)`);
  return o;
}

interface Finding {
  target: string;
  kind: 'crash' | 'hang' | 'memory';
  signature: string;
  file: string;
}

interface TargetResult {
  target: string;
  execs: number;
  seconds: number;
  corpus: number;
  features: number;
  maxExecMs: number;
  peakHeapMb: number;
  restarts: number;
  findings: Finding[];
  /** Set when the target could not run (its worker failed outside any input): the run is not valid. */
  failed?: string;
}

type Ended =
  | { kind: 'done'; execs: number; seconds: number; corpus: number; features: number; maxExecMs: number }
  | { kind: 'hang' | 'memory' | 'died'; input: Uint8Array | undefined; detail: string };

const sha = (b: Uint8Array) => createHash('sha1').update(b).digest('hex').slice(0, 12);

/** Start a worker and watch it; resolves when it ends, hangs or dies. */
function runWorker(
  input: Omit<WorkerInput, 'shared'>,
  o: Options,
  onMessage: (m: WorkerMessage) => void,
): Promise<Ended> {
  const maxLen = Math.max(MAX_INPUT_BYTES, input.maxLenOverride ?? 0);
  const shared = new SharedArrayBuffer(HEADER_BYTES + maxLen);
  const ctl = new Int32Array(shared, 0, 4);
  const current = () => {
    const len = Atomics.load(ctl, 1);
    return new Uint8Array(shared, HEADER_BYTES, len).slice();
  };
  const worker = new Worker(new URL('./engine/worker.ts', import.meta.url), {
    workerData: { ...input, shared } satisfies WorkerInput,
    resourceLimits: { maxOldGenerationSizeMb: o.heapMb },
    stdout: false,
    stderr: false,
  });
  return new Promise((resolveRun) => {
    let settled = false;
    let done: Ended | undefined;
    let lastSeq = -1;
    let lastChange = performance.now();
    const finish = (e: Ended) => {
      if (settled) return;
      settled = true;
      clearInterval(watch);
      resolveRun(e);
    };
    const watch = setInterval(() => {
      const seq = Atomics.load(ctl, 0);
      const now = performance.now();
      if (seq !== lastSeq) {
        lastSeq = seq;
        lastChange = now;
        return;
      }
      if (Atomics.load(ctl, 2) === 1 && now - lastChange > o.timeoutMs) {
        const stuck = current();
        void worker.terminate();
        finish({
          kind: 'hang',
          input: stuck,
          detail: `one input ran for more than ${o.timeoutMs} ms (stopped)`,
        });
      }
    }, 50);
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'done') done = { kind: 'done', ...m };
      onMessage(m);
    });
    worker.on('error', (err: Error & { code?: string }) => {
      const running = Atomics.load(ctl, 2) === 1;
      const memory = err.code === 'ERR_WORKER_OUT_OF_MEMORY';
      finish({
        kind: memory ? 'memory' : 'died',
        input: running ? current() : undefined,
        detail: err.stack ?? String(err),
      });
    });
    worker.on('exit', (code) => {
      if (done) finish(done);
      else if (input.mode !== 'fuzz' && code === 0)
        finish({ kind: 'done', execs: 0, seconds: 0, corpus: 0, features: 0, maxExecMs: 0 });
      else
        finish({
          kind: 'died',
          input: undefined,
          detail: `worker exited with code ${code} before finishing`,
        });
    });
  });
}

function saveFinding(
  dir: string,
  target: string,
  kind: Finding['kind'],
  signature: string,
  detail: string,
  input: Uint8Array,
): Finding {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${kind}-${sha(input)}`);
  writeFileSync(`${file}.bin`, input);
  writeFileSync(`${file}.txt`, `${signature}\n\n${detail}\n`);
  console.log(`\n  !! ${kind} in ${target}: ${signature}\n     saved ${file}.bin`);
  return { target, kind, signature, file: `${file}.bin` };
}

async function fuzzTarget(name: string, o: Options): Promise<TargetResult> {
  const dir = join(o.out, name);
  const corpusDir = join(dir, 'corpus');
  mkdirSync(corpusDir, { recursive: true });
  const saved: Uint8Array[] = o.fresh
    ? []
    : readdirSync(corpusDir)
        .sort()
        .map((f) => new Uint8Array(readFileSync(join(corpusDir, f))));
  const result: TargetResult = {
    target: name,
    execs: 0,
    seconds: 0,
    corpus: 0,
    features: 0,
    maxExecMs: 0,
    peakHeapMb: 0,
    restarts: 0,
    findings: [],
  };
  const start = performance.now();
  const isTty = process.stdout.isTTY;
  let lastPrint = 0;
  let seed = o.seed;
  for (;;) {
    const left = o.seconds - (performance.now() - start) / 1000;
    if (result.execs >= o.execs || left <= 0) break;
    let runExecs = 0;
    const ended = await runWorker(
      {
        mode: 'fuzz',
        target: name,
        seed: seed++,
        maxExecs: o.execs - result.execs,
        maxSeconds: left,
        inputs: saved,
      },
      o,
      (m) => {
        if (m.type === 'corpus') {
          const input = new Uint8Array(m.input);
          writeFileSync(join(corpusDir, sha(input)), input);
          saved.push(input);
        } else if (m.type === 'finding') {
          result.findings.push(
            saveFinding(join(dir, 'findings'), name, 'crash', m.signature, m.detail, new Uint8Array(m.input)),
          );
        } else if (m.type === 'slowest') {
          writeFileSync(join(dir, 'slowest.bin'), new Uint8Array(m.input));
          writeFileSync(join(dir, 'slowest.txt'), `${m.ms.toFixed(1)} ms\n`);
        } else if (m.type === 'stats') {
          runExecs = m.execs;
          result.peakHeapMb = Math.max(result.peakHeapMb, m.heapMb);
          result.maxExecMs = Math.max(result.maxExecMs, m.maxExecMs);
          const now = performance.now();
          const total = result.execs + m.execs;
          const secs = (now - start) / 1000;
          const line = `  ${name}: ${total} execs, ${Math.round(total / secs)}/s, corpus ${m.corpus}, blocks ${m.features}, batch ${m.batch}, max ${m.maxExecMs.toFixed(1)} ms, heap ${m.heapMb.toFixed(0)} MB`;
          if (isTty) process.stdout.write(`\r${line}\x1b[K`);
          else if (now - lastPrint > 30_000) {
            lastPrint = now;
            console.log(line);
          }
        }
      },
    );
    if (ended.kind === 'done') {
      result.execs += ended.execs;
      result.corpus = ended.corpus;
      result.features = ended.features;
      result.maxExecMs = Math.max(result.maxExecMs, ended.maxExecMs);
      break;
    }
    result.execs += runExecs;
    result.restarts++;
    if (ended.input !== undefined) {
      const kind = ended.kind === 'died' ? 'crash' : ended.kind;
      result.findings.push(
        saveFinding(
          join(dir, 'findings'),
          name,
          kind,
          `${kind}: ${ended.detail.split('\n')[0]}`,
          ended.detail,
          ended.input,
        ),
      );
    } else {
      result.failed = ended.detail.split('\n').slice(0, 3).join(' | ');
      console.log(`\n  worker for ${name} stopped outside an input: ${ended.detail}`);
    }
    if (ended.input === undefined || result.restarts >= 3) break;
  }
  result.seconds = (performance.now() - start) / 1000;
  if (isTty) process.stdout.write('\r\x1b[K');
  return result;
}

function table(results: TargetResult[]): string {
  const rows = results.map(
    (r) =>
      `| ${r.target} | ${r.execs.toLocaleString('en-US')} | ${r.seconds.toFixed(0)} | ${Math.round(r.execs / Math.max(r.seconds, 1e-9)).toLocaleString('en-US')} | ${r.corpus} | ${r.features} | ${r.maxExecMs.toFixed(1)} | ${r.peakHeapMb.toFixed(0)} | ${r.findings.length} |`,
  );
  return [
    '| target | executions | seconds | exec/s | corpus | blocks | slowest input ms | peak heap MB | findings |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
  ].join('\n');
}

async function repro(o: Options): Promise<number> {
  const target = o.targets[0]!;
  const inputs = o.repro.map((f) => new Uint8Array(readFileSync(f)));
  let failed = 0;
  const ended = await runWorker(
    {
      mode: 'repro',
      target,
      seed: 0,
      maxExecs: 0,
      maxSeconds: 0,
      inputs,
      maxLenOverride: Math.max(1, ...inputs.map((i) => i.length)),
    },
    o,
    (m) => {
      if (m.type !== 'repro') return;
      if (!m.ok) failed++;
      console.log(
        `${m.ok ? 'ok  ' : 'FAIL'} ${o.repro[m.index]} (${m.ms.toFixed(1)} ms)${m.ok ? '' : `\n${m.detail}`}`,
      );
    },
  );
  if (ended.kind !== 'done') {
    console.log(`FAIL ${ended.kind}: ${ended.detail}`);
    return 1;
  }
  return failed > 0 ? 1 : 0;
}

async function minimize(o: Options): Promise<number> {
  const target = o.targets[0]!;
  const input = new Uint8Array(readFileSync(o.minimize!));
  let out: Uint8Array | undefined;
  const ended = await runWorker(
    {
      mode: 'minimize',
      target,
      seed: 0,
      maxExecs: 0,
      maxSeconds: 0,
      inputs: [input],
      maxLenOverride: Math.max(1, input.length),
    },
    o,
    (m) => {
      if (m.type === 'minimized') {
        out = new Uint8Array(m.input);
        console.log(`${input.length} → ${out.length} bytes, still: ${m.signature}`);
      }
    },
  );
  if (ended.kind !== 'done' || out === undefined) {
    console.log(`minimizing failed: ${ended.kind === 'done' ? 'no result' : ended.detail}`);
    return 1;
  }
  const to = o.to ?? `${o.minimize}.min`;
  writeFileSync(to, out);
  console.log(`wrote ${to}`);
  return 0;
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  if (o.list) {
    for (const t of TARGETS) {
      const about = await t.load().then(
        (x) => x.about,
        (err: unknown) => `(cannot be loaded: ${err instanceof Error ? err.message : String(err)})`,
      );
      console.log(`${t.name.padEnd(16)} ${about}`);
    }
    return 0;
  }
  if (o.repro.length > 0 || o.minimize !== undefined) {
    if (o.targets.length !== 1) throw new Error('--repro and --minimize need exactly one --target');
    return o.repro.length > 0 ? repro(o) : minimize(o);
  }
  const names = o.targets.length > 0 ? o.targets : TARGETS.map((t) => t.name);
  console.log(
    `fuzzing ${names.length} target(s): up to ${o.execs} executions or ${o.seconds} s each, seed ${o.seed}, output ${o.out}`,
  );
  const results: TargetResult[] = [];
  for (const name of names) {
    const r = await fuzzTarget(name, o);
    results.push(r);
    console.log(
      `  ${name}: ${r.execs} execs in ${r.seconds.toFixed(0)} s (${Math.round(r.execs / Math.max(r.seconds, 1e-9))}/s), corpus ${r.corpus}, blocks ${r.features}, slowest ${r.maxExecMs.toFixed(1)} ms, ${r.findings.length} finding(s)`,
    );
  }
  console.log(`\n${table(results)}`);
  mkdirSync(o.out, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  writeFileSync(
    join(o.out, `summary-${stamp}.json`),
    `${JSON.stringify({ seed: o.seed, execsGoal: o.execs, secondsCap: o.seconds, results }, null, 2)}\n`,
  );
  const findings = results.flatMap((r) => r.findings);
  const failed = results.filter((r) => r.failed !== undefined);
  if (failed.length > 0) {
    console.log(
      `\nFAILED TO RUN (the figures above are not valid for them): ${failed.map((r) => r.target).join(', ')}`,
    );
    for (const r of failed) console.log(`  ${r.target}: ${r.failed}`);
    return 2;
  }
  const short = results.filter((r) => r.execs < o.execs);
  if (short.length > 0)
    console.log(`\nbelow ${o.execs} executions (time cap reached): ${short.map((r) => r.target).join(', ')}`);
  if (findings.length > 0) {
    console.log(`\n${findings.length} finding(s):`);
    for (const f of findings) console.log(`  ${f.target} ${f.kind}: ${f.signature}\n    ${f.file}`);
    return 1;
  }
  console.log('\nno crashes, hangs or memory exhaustion');
  return 0;
}

if (!existsSync(join(REPO, 'node_modules', 'esbuild'))) {
  console.error('npm run fuzz needs the esbuild dev dependency (npm install)');
  process.exit(2);
}
main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(2);
  },
);
