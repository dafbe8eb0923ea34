// What a process tree costs, read from /proc: CPU time (clock ticks from /proc/<pid>/stat, and nanoseconds
// from /proc/<pid>/task/<tid>/schedstat for the per-second series) and memory (VmRSS, VmHWM, Pss), summed
// over the root and every descendant alive at the time of the reading.

import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let clkTck;
/** USER_HZ: the unit of utime/stime in /proc/<pid>/stat (100 on every Linux we know, asked anyway). */
export function clockTicks() {
  if (clkTck === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 });
    const n = Number(r.stdout?.trim());
    clkTck = Number.isInteger(n) && n > 0 ? n : 100;
  }
  return clkTck;
}

/** Parsed /proc/<pid>/stat, or undefined when the process is gone. comm may hold spaces and parentheses. */
export function readStat(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  const f = text.slice(close + 2).split(' ');
  // f[0] = state (field 3), f[1] = ppid (4), f[11..14] = utime, stime, cutime, cstime (14..17)
  return {
    pid,
    comm,
    state: f[0],
    ppid: Number(f[1]),
    utime: Number(f[11]),
    stime: Number(f[12]),
    cutime: Number(f[13]),
    cstime: Number(f[14]),
  };
}

function allPids() {
  const out = [];
  for (const e of readdirSync('/proc')) {
    const c = e.charCodeAt(0);
    if (c >= 48 && c <= 57) out.push(Number(e));
  }
  return out;
}

/** The root and every process below it, with their stat lines. */
export function treeStats(root) {
  const byParent = new Map();
  const stats = new Map();
  for (const pid of allPids()) {
    const s = readStat(pid);
    if (!s) continue;
    stats.set(pid, s);
    const list = byParent.get(s.ppid);
    if (list) list.push(pid);
    else byParent.set(s.ppid, [pid]);
  }
  const out = [];
  if (!stats.has(root)) return out;
  const queue = [root];
  const seen = new Set();
  while (queue.length > 0) {
    const p = queue.shift();
    if (seen.has(p)) continue;
    seen.add(p);
    out.push(stats.get(p));
    for (const c of byParent.get(p) ?? []) queue.push(c);
  }
  return out;
}

export function descendants(root) {
  return treeStats(root).map((s) => s.pid);
}

/** VmRSS and VmHWM in kB (0 for a kernel thread or a zombie). */
export function readStatusKb(pid) {
  const out = { rss: 0, hwm: 0 };
  let text;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    return out;
  }
  const rss = /^VmRSS:\s+(\d+) kB/m.exec(text);
  const hwm = /^VmHWM:\s+(\d+) kB/m.exec(text);
  if (rss) out.rss = Number(rss[1]);
  if (hwm) out.hwm = Number(hwm[1]);
  return out;
}

/** Proportional set size in kB (shared pages divided among the processes mapping them). */
export function readPssKb(pid) {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'latin1'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Nanoseconds on CPU of every thread of a process (threads that already exited are not counted). */
export function readSchedNs(pid) {
  let sum = 0;
  let tids;
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0;
  }
  for (const t of tids) {
    try {
      sum += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'latin1').split(' ')[0]);
    } catch {
      // thread gone
    }
  }
  return sum;
}

/**
 * One reading of a tree. `ticks` counts utime+stime of every live member plus cutime+cstime (children
 * that exited and were reaped inside the tree), so the difference of two readings is the tree's CPU time
 * between them even when plugin processes come and go.
 */
export function snapshotTree(root, { pss = false } = {}) {
  const t = performance.now();
  const members = treeStats(root);
  let ticks = 0;
  let userTicks = 0;
  let schedNs = 0;
  let rssKb = 0;
  let hwmKb = 0;
  let pssKb = 0;
  for (const s of members) {
    ticks += s.utime + s.stime + s.cutime + s.cstime;
    userTicks += s.utime + s.cutime;
    schedNs += readSchedNs(s.pid);
    const m = readStatusKb(s.pid);
    rssKb += m.rss;
    hwmKb += m.hwm;
    if (pss) pssKb += readPssKb(s.pid);
  }
  return {
    t,
    pids: members.map((s) => s.pid),
    comms: members.map((s) => s.comm),
    ticks,
    userTicks,
    schedNs,
    rssKb,
    hwmKb,
    pssKb,
  };
}
