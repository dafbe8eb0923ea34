/**
 * Local port → the process listening on it, from /proc: `net/tcp` and `net/tcp6` list listening sockets
 * (state 0A, TCP_LISTEN) with their inode; `/proc/<pid>/fd/*` links read `socket:[inode]`; `comm` names the
 * process. This is what `ss -ltnp` does. It covers the agent's own network namespace only (/proc/net is
 * /proc/self/net), so a port of another namespace may name the wrong process or none: docs/attribution.md.
 *
 * Cost is bounded: refreshed at most every `refreshMs`, only when asked, and each refresh reads at most
 * `maxFdLinks` fd links (a host with a million open files is not walked in full every few seconds). A
 * refresh asked for by `lookup()` runs in slices of at most `sliceMs` between which the event loop runs:
 * done in one go on a host with tens of thousands of sockets (a connection flood, the very incident), the
 * walk held the agent's event loop for up to 600 ms every 5 s and sampling was that late (issue 8,
 * docs/reliability.md). Lookups answer from the previous map until the new one is complete.
 */

import { type Dir, type Dirent, opendirSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface ListeningProcess {
  name: string;
  pid: number;
}

/** A listening socket's port and inode from one line of /proc/net/tcp or tcp6, or undefined. */
function listenerOfLine(line: string): { port: number; inode: number } | undefined {
  // Most lines are connections, not listeners: skip them before the costly split (st is ` 0A `).
  if (!line.includes(' 0A ')) return undefined;
  const f = line.trim().split(/\s+/);
  if (f.length < 10 || f[3] !== '0A') return undefined;
  const colon = f[1]!.lastIndexOf(':');
  const port = Number.parseInt(f[1]!.slice(colon + 1), 16);
  const inode = Number(f[9]);
  // A garbled line (a torn read) must not invent a port or an inode: ports are 16-bit, inodes positive.
  if (!(port >= 0 && port <= 0xffff) || !Number.isInteger(inode) || inode <= 0) return undefined;
  return { port, inode };
}

/** Listening ports and their socket inodes from the text of /proc/net/tcp or tcp6. */
export function parseListeners(text: string): Map<number, number[]> {
  const out = new Map<number, number[]>();
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const l = listenerOfLine(lines[i]!);
    if (!l) continue;
    const list = out.get(l.port) ?? [];
    list.push(l.inode);
    out.set(l.port, list);
  }
  return out;
}

/** One unit of a refresh's work done; the sliced walk may yield to the event loop here. */
type Step = undefined;

export class ProcessMap {
  private readonly procRoot: string;
  private readonly refreshMs: number;
  private readonly maxFdLinks: number;
  private readonly sliceMs: number;
  private readonly now: () => number;
  private lastRefresh = Number.NEGATIVE_INFINITY;
  private byPort = new Map<number, ListeningProcess>();
  private walking: Promise<void> | undefined;

  constructor(
    opts: {
      procRoot?: string;
      refreshMs?: number;
      maxFdLinks?: number;
      sliceMs?: number;
      now?: () => number;
    } = {},
  ) {
    this.procRoot = opts.procRoot ?? '/proc';
    this.refreshMs = opts.refreshMs ?? 5000;
    this.maxFdLinks = opts.maxFdLinks ?? 50_000;
    this.sliceMs = opts.sliceMs ?? 4;
    this.now = opts.now ?? (() => performance.now());
  }

  /**
   * The listener on `port`, if one is known. When the map is older than `refreshMs`, a refresh starts in
   * the background (in slices); this answer comes from the map as it is.
   */
  lookup(port: number): ListeningProcess | undefined {
    if (this.walking === undefined && this.now() - this.lastRefresh >= this.refreshMs) {
      this.lastRefresh = this.now();
      this.walking = this.refreshInSlices().finally(() => {
        this.walking = undefined;
      });
    }
    return this.byPort.get(port);
  }

  /** Resolves when no refresh is running (tests; a caller that wants the fresh map). */
  idle(): Promise<void> {
    return this.walking ?? Promise.resolve();
  }

  /** A whole refresh now, in one go (tests, one-off callers). */
  refresh(): void {
    this.lastRefresh = this.now();
    const texts: (string | undefined)[] = [];
    for (const f of ['tcp', 'tcp6']) {
      try {
        texts.push(readFileSync(join(this.procRoot, 'net', f), 'utf8'));
      } catch {
        texts.push(undefined);
      }
    }
    const found = new Map<number, ListeningProcess>();
    for (const _ of this.walk(texts, found)) {
      // every step at once
    }
    this.byPort = found;
  }

  private async refreshInSlices(): Promise<void> {
    // The socket tables can be megabytes on a busy host: read off the event loop.
    const texts = await Promise.all(
      ['tcp', 'tcp6'].map((f) => readFile(join(this.procRoot, 'net', f), 'utf8').catch(() => undefined)),
    );
    const found = new Map<number, ListeningProcess>();
    let sliceStart = performance.now();
    for (const _ of this.walk(texts, found)) {
      if (performance.now() - sliceStart < this.sliceMs) continue;
      await new Promise<void>((r) => setImmediate(r));
      sliceStart = performance.now();
    }
    this.byPort = found;
  }

  /** The walk itself, one step per fd link (or pid): `found` is filled as it goes. */
  private *walk(
    texts: readonly (string | undefined)[],
    found: Map<number, ListeningProcess>,
  ): Generator<Step> {
    // A busy host's socket table is tens of thousands of lines: parsed a few hundred at a time.
    const inodeToPort = new Map<number, number>();
    for (const text of texts) {
      if (text === undefined) continue;
      let at = text.indexOf('\n') + 1; // the header line
      for (let n = 0; at > 0 && at < text.length; n++) {
        const end = text.indexOf('\n', at);
        const l = listenerOfLine(text.slice(at, end < 0 ? text.length : end));
        if (l) inodeToPort.set(l.inode, l.port);
        at = end < 0 ? text.length : end + 1;
        if (n % 256 === 255) yield;
      }
    }
    if (inodeToPort.size === 0) return;
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
      yield;
      // Entry by entry (opendir): a process with 20,000 open files is not listed in one go.
      let dir: Dir;
      try {
        dir = opendirSync(join(this.procRoot, pid, 'fd'), { bufferSize: 128 });
      } catch {
        continue; // gone, or not ours to read
      }
      try {
        for (;;) {
          if (budget-- <= 0) break;
          let entry: Dirent | null;
          try {
            entry = dir.readSync();
          } catch {
            break; // the process exited meanwhile
          }
          if (entry === null) break;
          yield;
          const fd = entry.name;
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
      } finally {
        dir.closeSync();
      }
    }
  }
}
