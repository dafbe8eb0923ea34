/**
 * The whole agent (startAgent: collectors, store, SQLite history and alert log, alert engine, notifications)
 * in simulated time, reading a proc tree the test writes: the reliability tests break that tree, the clock
 * or the database under it and watch what the agent does, second by second, without sleeping.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { type RunningAgent, startAgent } from '../../src/agent/agent.js';
import type { AlarmEntry } from '../../src/health/engine.js';
import type { Notifier } from '../../src/health/scheduler.js';
import { FakeClock } from '../../src/internal/clock.js';
import { defaults, type Settings } from '../../src/internal/config.js';
import { memoryLogger } from '../../src/internal/log.js';
import { FIXTURES } from '../helpers/paths.js';
import { BASE } from '../helpers/series.js';

/** One alert on the host's handshake chart, evaluated every second with no delay: each change is logged. */
export const FAST_ALERT = `
 alarm: rel_resets_received
    on: ip.tcphandshake
lookup: average -5s unaligned absolute of AttemptFails
 every: 1s
  warn: $this > 10
  crit: $this > 1000
  info: reliability test alert
`;

/** The fixture's snmp and netstat with some counters replaced. */
const fixtureText = new Map<string, string>();
export function procFiles(counters: Record<string, number>): { snmp: string; netstat: string } {
  const render = (file: string) => {
    let text = fixtureText.get(file);
    if (text === undefined) {
      text = readFileSync(join(FIXTURES, 'proc/linux-6.18/net', file), 'latin1');
      fixtureText.set(file, text);
    }
    const lines = text.split('\n');
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const names = lines[i]!.split(' ');
      const values = lines[i + 1]!.split(' ');
      for (let k = 1; k < names.length; k++) {
        const v = counters[names[k]!];
        if (v !== undefined) values[k] = String(v);
      }
      lines[i + 1] = values.join(' ');
    }
    return lines.join('\n');
  };
  return { snmp: render('snmp'), netstat: render('netstat') };
}

export interface SimAgent {
  clock: FakeClock;
  agent: RunningAgent;
  log: ReturnType<typeof memoryLogger>;
  dir: string;
  procRoot: string;
  dumpFile: string;
  dbFile: string;
  /** Counters the next ticks read (the test changes them). */
  counters: Record<string, number>;
  /** Per simulated second, added to the counters before each tick. */
  perSecond: Record<string, number>;
  /** When false, the proc files are left as the test broke them. */
  writeProc: boolean;
  /** Entries the notifier was called with (the engine decided "send"). */
  notified: AlarmEntry[];
  writeCounters(): void;
  /** Advance to each of the next `seconds` whole wall-clock seconds, letting each tick finish there. */
  advance(seconds: number): Promise<void>;
  /** The alert log as stored, in unique-id order. */
  storedLog(): AlarmEntry[];
  /** Stop the agent and delete its folder. */
  stop(): Promise<void>;
  /** Stop the agent and keep its folder (to restart on it). */
  halt(): Promise<void>;
}

export const settle = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
};

export async function simAgent(
  opts: {
    health?: string;
    settings?: Partial<Settings>;
    startWallMs?: number;
    /** Run on the folder of an agent stopped before (a restart). */
    dir?: string;
    /** notify.conf's text (default: empty, no methods). */
    notifyConf?: string;
  } = {},
): Promise<SimAgent> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'rw-rel-'));
  const procRoot = join(dir, 'proc');
  mkdirSync(join(procRoot, 'net'), { recursive: true });
  const healthDir = join(dir, 'health.d');
  const shipped = join(dir, 'shipped');
  mkdirSync(healthDir, { recursive: true });
  mkdirSync(shipped, { recursive: true });
  writeFileSync(join(healthDir, 'rel.conf'), opts.health ?? FAST_ALERT);
  writeFileSync(join(dir, 'notify.conf'), opts.notifyConf ?? '');
  const clock = new FakeClock(opts.startWallMs ?? BASE * 1000 + 250, 5_000_000);
  const log = memoryLogger('debug');
  const dumpFile = join(dir, 'counters.jsonl');
  const sim: SimAgent = {
    clock,
    agent: undefined as unknown as RunningAgent,
    log,
    dir,
    procRoot,
    dumpFile,
    dbFile: join(dir, 'data', 'history.db'),
    counters: { AttemptFails: 1000, EstabResets: 500, OutRsts: 2000, ListenOverflows: 10 },
    perSecond: { AttemptFails: 1, EstabResets: 1, OutRsts: 2, ListenOverflows: 0 },
    writeProc: true,
    notified: [],
    writeCounters() {
      const f = procFiles(sim.counters);
      writeFileSync(join(procRoot, 'net', 'snmp'), f.snmp);
      writeFileSync(join(procRoot, 'net', 'netstat'), f.netstat);
    },
    async advance(seconds: number) {
      for (let i = 0; i < seconds; i++) {
        for (const [k, v] of Object.entries(sim.perSecond)) sim.counters[k] = (sim.counters[k] ?? 0) + v;
        if (sim.writeProc) sim.writeCounters();
        clock.advance(1000 - (clock.wallMs() % 1000));
        await settle();
      }
    },
    storedLog() {
      const db = new Database(sim.dbFile, { readonly: true });
      try {
        const rows = db.prepare('SELECT entry FROM health_log ORDER BY unique_id').all() as {
          entry: string;
        }[];
        return rows.map((r) => JSON.parse(r.entry, (_k, v) => (v === null ? Number.NaN : v)) as AlarmEntry);
      } finally {
        db.close();
      }
    },
    async stop() {
      await sim.agent.stop();
      rmSync(dir, { recursive: true, force: true });
    },
    async halt() {
      await sim.agent.stop();
    },
  };
  sim.writeCounters();
  const settings: Settings = {
    ...defaults(),
    dataDir: join(dir, 'data'),
    procRoot,
    netns: [],
    listen: 'none',
    attribution: false,
    healthDir,
    notifyConfig: join(dir, 'notify.conf'),
    flushEvery: 1,
    debugCountersFile: dumpFile,
    ...opts.settings,
  };
  sim.agent = await startAgent(settings, { clock, log, os: 'linux', healthShippedDir: shipped });
  // Record what the engine decided to send: the notifier is the dispatcher's; wrap it to watch it.
  const health = sim.agent.health as unknown as { notifier: Notifier | undefined };
  const inner = health.notifier;
  health.notifier = (entry, rt) => {
    sim.notified.push({ ...entry });
    return inner ? inner(entry, rt) : 0;
  };
  return sim;
}
