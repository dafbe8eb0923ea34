/**
 * What a collector produces: raw kernel counters, by the kernel's own names, for one network namespace.
 *
 * Collectors know nothing of rates, charts or alerts (architecture.md: data flows one way). They never
 * throw for bad input: what could not be read is a Problem in the result and the other counters still flow.
 */

import type { Problem } from '../internal/errors.js';

/** Where the numbers came from. */
export type SourceKind = 'linux-proc' | 'freebsd-netstat';

export interface CollectResult {
  source: SourceKind;
  /** The namespace label: `host`, an `ip netns` name, a path, or `pid:N`. */
  netns: string;
  /**
   * Counter values by kernel name. Linux: every `Tcp:` field of /proc/net/snmp and every `TcpExt:` field of
   * /proc/net/netstat (the two sets share no name). FreeBSD: Netdata's names for the four handshake
   * counters (EstabResets, AttemptFails, ActiveOpens, PassiveOpens) and libxo key names for the rest.
   */
  counters: Record<string, number>;
  /** Settings read alongside (FreeBSD sysctls such as net.inet.tcp.syncookies), when the collector reads any. */
  settings?: Record<string, number | string>;
  problems: Problem[];
}

export interface Collector {
  readonly netns: string;
  readonly source: SourceKind;
  /** One phrase for the agent's start line: what this collector reads. */
  describe(): string;
  collect(): Promise<CollectResult>;
  /**
   * The same read without a promise, for collectors that read synchronously anyway (/proc files): the
   * sampler calls it directly, with no timer and no promise per tick (issue 2: the agent's idle cost).
   * A synchronous read cannot be abandoned by a timeout, so only collectors that never wait may have one.
   */
  collectSync?(): CollectResult;
  /** Release what the collector holds (a helper process keeping a namespace reachable, …). */
  close(): Promise<void>;
}

export interface CommandResult {
  /** Exit code, or null when the process was killed by a signal or could not be started. */
  code: number | null;
  stdout: string;
  stderr: string;
  /** Set when the command could not be started at all (ENOENT, EACCES, timeout). */
  error?: string;
}

/** Runs a program with an argument list (never a shell). Injectable so tests can use fixture outputs. */
export type CommandRunner = (
  cmd: string,
  args: string[],
  opts?: { timeoutMs?: number },
) => Promise<CommandResult>;
