/**
 * Local port → the process listening on it, from /proc: `net/tcp` and `net/tcp6` list listening sockets
 * (state 0A, TCP_LISTEN) with their inode; `/proc/<pid>/fd/*` links read `socket:[inode]`; `comm` names the
 * process. This is what `ss -ltnp` does. It covers the agent's own network namespace only (/proc/net is
 * /proc/self/net), so a port of another namespace may name the wrong process or none: docs/attribution.md.
 *
 * Cost is bounded: refreshed at most every `refreshMs`, only when asked, and each refresh reads at most
 * `maxFdLinks` fd links (a host with a million open files is not walked in full every few seconds).
 */

import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

export interface ListeningProcess {
  name: string;
  pid: number;
}

/** Listening ports and their socket inodes from the text of /proc/net/tcp or tcp6. */
export function parseListeners(text: string): Map<number, number[]> {
  const out = new Map<number, number[]>();
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i]!.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== '0A') continue;
    const colon = f[1]!.lastIndexOf(':');
    const port = Number.parseInt(f[1]!.slice(colon + 1), 16);
    const inode = Number(f[9]);
    // A garbled line (a torn read) must not invent a port or an inode: ports are 16-bit, inodes positive.
    if (!(port >= 0 && port <= 0xffff) || !Number.isInteger(inode) || inode <= 0) continue;
    const list = out.get(port) ?? [];
    list.push(inode);
    out.set(port, list);
  }
  return out;
}

export class ProcessMap {
  private readonly procRoot: string;
  private readonly refreshMs: number;
  private readonly maxFdLinks: number;
  private readonly now: () => number;
  private lastRefresh = Number.NEGATIVE_INFINITY;
  private byPort = new Map<number, ListeningProcess>();

  constructor(opts: { procRoot?: string; refreshMs?: number; maxFdLinks?: number; now?: () => number } = {}) {
    this.procRoot = opts.procRoot ?? '/proc';
    this.refreshMs = opts.refreshMs ?? 5000;
    this.maxFdLinks = opts.maxFdLinks ?? 50_000;
    this.now = opts.now ?? (() => performance.now());
  }

  /** The listener on `port`, if one is known (refreshing first when the cache is old). */
  lookup(port: number): ListeningProcess | undefined {
    if (this.now() - this.lastRefresh >= this.refreshMs) this.refresh();
    return this.byPort.get(port);
  }

  refresh(): void {
    this.lastRefresh = this.now();
    const inodeToPort = new Map<number, number>();
    for (const f of ['tcp', 'tcp6']) {
      let text: string;
      try {
        text = readFileSync(join(this.procRoot, 'net', f), 'utf8');
      } catch {
        continue;
      }
      for (const [port, inodes] of parseListeners(text)) for (const i of inodes) inodeToPort.set(i, port);
    }
    const found = new Map<number, ListeningProcess>();
    if (inodeToPort.size === 0) {
      this.byPort = found;
      return;
    }
    const wanted = new Set(inodeToPort.values()).size;
    let budget = this.maxFdLinks;
    let pids: string[];
    try {
      pids = readdirSync(this.procRoot).filter((d) => /^\d+$/.test(d));
    } catch {
      pids = [];
    }
    for (const pid of pids) {
      if (budget <= 0 || found.size === wanted) break;
      let fds: string[];
      try {
        fds = readdirSync(join(this.procRoot, pid, 'fd'));
      } catch {
        continue; // gone, or not ours to read
      }
      for (const fd of fds) {
        if (budget-- <= 0) break;
        let link: string;
        try {
          link = readlinkSync(join(this.procRoot, pid, 'fd', fd));
        } catch {
          continue;
        }
        if (!link.startsWith('socket:[')) continue;
        const port = inodeToPort.get(Number(link.slice(8, -1)));
        if (port === undefined || found.has(port)) continue;
        let name = '?';
        try {
          name = readFileSync(join(this.procRoot, pid, 'comm'), 'utf8').trim();
        } catch {
          // exited between the two reads
        }
        found.set(port, { name, pid: Number(pid) });
      }
    }
    this.byPort = found;
  }
}
