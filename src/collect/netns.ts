/**
 * Network namespaces: which /proc/<pid>/net directory shows a given namespace.
 *
 * The kernel shows a task's network namespace under /proc/<pid>/net/ (and /proc/net is /proc/self/net).
 * A namespace has no directory of its own, so to read an `ip netns` namespace or a container's we need a
 * pid that lives in it: we look for one whose /proc/<pid>/ns/net link names the namespace's inode, and when
 * no process lives there (a fresh `ip netns add`), we start a holder — `nsenter --net=FILE sleep` — and read
 * through it. Every read re-checks the pid's namespace so a recycled pid is never read by mistake, and
 * looks the name up again so a namespace deleted and re-created under the same name is followed.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CAP, hasCapability } from '../internal/caps.js';
import { errorMessage, RstwatchError, sysCode } from '../internal/errors.js';
import { findProgram } from '../internal/which.js';

export type NetnsSpec =
  | { kind: 'host'; label: 'host' }
  | { kind: 'name'; label: string; name: string }
  | { kind: 'path'; label: string; path: string }
  | { kind: 'pid'; label: string; pid: number };

/** `ip netns` names: what iproute2 accepts (no slash, not . or ..), kept strict because they become paths. */
const NETNS_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** Parse `--netns NAME|/path|pid:N` (and `host`). */
export function parseNetnsSpec(spec: string): NetnsSpec {
  if (spec === 'host' || spec === '') return { kind: 'host', label: 'host' };
  if (spec.startsWith('pid:')) {
    const pid = Number(spec.slice(4));
    if (!Number.isInteger(pid) || pid <= 0) {
      throw new RstwatchError('E_NETNS_SPEC', `--netns ${spec}: a pid must be a positive integer`);
    }
    return { kind: 'pid', label: spec, pid };
  }
  if (spec.startsWith('/')) return { kind: 'path', label: spec, path: spec };
  if (!NETNS_NAME.test(spec) || spec === '.' || spec === '..') {
    throw new RstwatchError(
      'E_NETNS_SPEC',
      `--netns ${JSON.stringify(spec)}: not a namespace name (letters, digits, _ . -), an absolute path or pid:N`,
    );
  }
  return { kind: 'name', label: spec, name: spec };
}

/** The file that names a namespace (bind mount or /proc/<pid>/ns/net); undefined for the host's. */
export function netnsFile(
  spec: NetnsSpec,
  opts: { procRoot?: string; netnsDir?: string } = {},
): string | undefined {
  switch (spec.kind) {
    case 'host':
      return undefined;
    case 'name':
      return join(opts.netnsDir ?? '/run/netns', spec.name);
    case 'path':
      return spec.path;
    case 'pid':
      return join(opts.procRoot ?? '/proc', String(spec.pid), 'ns', 'net');
  }
}

/** The inode of a namespace, as `net:[4026531840]` names it. */
function nsInodeOfLink(link: string): number | undefined {
  const m = /^net:\[(\d+)\]$/.exec(link);
  return m ? Number(m[1]) : undefined;
}

export interface NetnsOptions {
  procRoot: string;
  /** Where `ip netns add` puts its bind mounts. */
  netnsDir?: string;
  /** Start a holder process when no process lives in the namespace (needs CAP_SYS_ADMIN). Default true. */
  spawnHolder?: boolean;
}

/**
 * A handle on one namespace: `netDir()` is the directory holding snmp and netstat for it, re-validated on
 * every call; `close()` stops the holder we may have started.
 */
export class NetnsHandle {
  readonly spec: NetnsSpec;
  private readonly opts: Required<NetnsOptions>;
  private pid: number | undefined;
  private inode: number | undefined;
  private holder: ChildProcess | undefined;
  private nsFileCache: string | undefined;
  private readonly paths = new Map<string, string>();
  private hostNetDir: string | undefined;

  constructor(spec: NetnsSpec, opts: NetnsOptions) {
    this.spec = spec;
    this.opts = { netnsDir: '/run/netns', spawnHolder: true, ...opts };
  }

  /** The file that names the namespace (bind mount or /proc/<pid>/ns/net). */
  private nsFile(): string | undefined {
    if (this.nsFileCache === undefined) this.nsFileCache = netnsFile(this.spec, this.opts) ?? '';
    return this.nsFileCache === '' ? undefined : this.nsFileCache;
  }

  /** `<procRoot>/<pid>/<rest>`, remembered: this runs every second per namespace (issue 2: idle cost). */
  private pidPath(pid: number, rest: 'net' | 'ns/net'): string {
    const key = `${pid}/${rest}`;
    let p = this.paths.get(key);
    if (p === undefined) {
      if (this.paths.size >= 64) this.paths.clear();
      p = join(this.opts.procRoot, key);
      this.paths.set(key, p);
    }
    return p;
  }

  /** Resolve (once, then re-check) the directory to read. Throws RstwatchError with a clear reason. */
  netDir(): string {
    const { procRoot } = this.opts;
    if (this.spec.kind === 'host') {
      this.hostNetDir ??= join(procRoot, 'net');
      return this.hostNetDir;
    }
    if (this.spec.kind === 'pid') {
      // pid:N is read through that very pid; if it exits, the namespace is gone from our view.
      this.checkAlive(this.spec.pid, undefined);
      return this.pidPath(this.spec.pid, 'net');
    }
    // The name is looked up again on every read (one stat): `ip netns del NAME` then `ip netns add NAME`
    // makes a new namespace under the old name, while the process we read through (our holder, most
    // often) keeps the old one alive — reading on through it would report the dead namespace's frozen
    // counters forever. Gone: say so and let the old namespace go. Replaced: read the new one (its
    // counters restart near zero; the rate layer takes the decrease as a reset, a gap).
    let inode: number;
    try {
      inode = this.inodeOfNsFile();
    } catch (err) {
      this.close();
      this.inode = undefined;
      throw err;
    }
    if (inode !== this.inode) {
      this.close();
      this.inode = inode;
    }
    if (this.pid !== undefined && this.pidInNamespace(this.pid, this.inode)) {
      return this.pidPath(this.pid, 'net');
    }
    this.pid = this.findPid(this.inode) ?? this.startHolder();
    return this.pidPath(this.pid, 'net');
  }

  private inodeOfNsFile(): number {
    const file = this.nsFile()!;
    try {
      return statSync(file).ino;
    } catch (err) {
      const code = sysCode(err);
      const hint =
        this.spec.kind === 'name' ? `\`ip netns list\` shows the names that exist` : 'check the path';
      throw new RstwatchError(
        code === 'ENOENT' ? 'E_NETNS_NOT_FOUND' : 'E_NETNS_UNREADABLE',
        `network namespace ${this.spec.label}: cannot stat ${file}: ${code ?? errorMessage(err)}`,
        { file, hint },
      );
    }
  }

  private pidInNamespace(pid: number, inode: number): boolean {
    try {
      return nsInodeOfLink(readlinkSync(this.pidPath(pid, 'ns/net'))) === inode;
    } catch {
      return false;
    }
  }

  private checkAlive(pid: number, inode: number | undefined): void {
    const link = this.pidPath(pid, 'ns/net');
    try {
      const ino = nsInodeOfLink(readlinkSync(link));
      if (inode !== undefined && ino !== inode) throw new Error('namespace changed');
    } catch (err) {
      const code = sysCode(err);
      if (code === 'EACCES' || code === 'EPERM') {
        // Not root: we cannot read the link, but /proc/<pid>/net may still be readable. Let the read decide.
        return;
      }
      throw new RstwatchError(
        'E_NETNS_GONE',
        `network namespace ${this.spec.label}: process ${pid} is gone`,
        {
          file: link,
        },
      );
    }
  }

  private findPid(inode: number): number | undefined {
    let entries: string[];
    try {
      entries = readdirSync(this.opts.procRoot);
    } catch {
      return undefined;
    }
    for (const e of entries) {
      const c = e.charCodeAt(0);
      if (c < 48 || c > 57) continue;
      const pid = Number(e);
      if (this.pidInNamespace(pid, inode)) return pid;
    }
    return undefined;
  }

  private startHolder(): number {
    const file = this.nsFile()!;
    if (!this.opts.spawnHolder) {
      throw new RstwatchError(
        'E_NETNS_NO_PROCESS',
        `network namespace ${this.spec.label}: no process lives in it, and starting one is disabled`,
      );
    }
    // setns(2) needs CAP_SYS_ADMIN, which an agent running as its own user may hold (docs/security.md).
    if (!hasCapability(CAP.SYS_ADMIN)) {
      throw new RstwatchError(
        'E_NETNS_NO_PROCESS',
        `network namespace ${this.spec.label}: no process lives in it, and entering it needs root (CAP_SYS_ADMIN)`,
        { hint: 'run as root, or name a process in it with --netns pid:N' },
      );
    }
    this.stopHolder();
    // Both by absolute path (internal/which.ts): nsenter would otherwise look `sleep` up on PATH as root.
    const nsenter = findProgram('nsenter');
    const sleep = findProgram('sleep');
    if (nsenter === undefined || sleep === undefined)
      throw new RstwatchError(
        'E_NETNS_NO_PROCESS',
        `network namespace ${this.spec.label}: ${nsenter === undefined ? 'nsenter' : 'sleep'} was not found on PATH`,
        { hint: 'install util-linux (nsenter) and coreutils' },
      );
    // nsenter (util-linux) enters the namespace then execs sleep, so the child's pid lives in the namespace.
    // A day-long sleep rather than `infinity`: busybox sleep does not know `infinity`; we restart it if it ends.
    const child = spawn(nsenter, [`--net=${file}`, '--', sleep, '86400'], { stdio: 'ignore' });
    child.on('error', () => {});
    child.unref();
    this.holder = child;
    const pid = child.pid;
    if (pid === undefined) {
      throw new RstwatchError(
        'E_NETNS_NO_PROCESS',
        `network namespace ${this.spec.label}: cannot start nsenter`,
        {
          hint: 'install util-linux (nsenter)',
        },
      );
    }
    // nsenter calls setns() before exec; wait (bounded) until the child is really inside.
    const until = Date.now() + 2000;
    while (Date.now() < until) {
      if (this.pidInNamespace(pid, this.inode!)) return pid;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
    this.stopHolder();
    throw new RstwatchError(
      'E_NETNS_NO_PROCESS',
      `network namespace ${this.spec.label}: the helper process did not enter the namespace`,
      { hint: 'is nsenter (util-linux) installed, and are we root?' },
    );
  }

  private stopHolder(): void {
    if (this.holder && this.holder.exitCode === null) this.holder.kill('SIGKILL');
    this.holder = undefined;
  }

  close(): void {
    this.stopHolder();
    this.pid = undefined;
  }
}
