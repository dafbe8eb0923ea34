/**
 * Everything checked before tcpdump runs: the user's filter, the interface (name, existence, link type), tcpdump
 * itself, the folder and its free space, and the whole filter compiled for the interface (`tcpdump -d`), which
 * also proves the right to capture. Each refusal is a RstwatchError with a stable code (docs/capture.md).
 */

import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { CommandRunner } from '../collect/types.js';
import { errorMessage, RstwatchError, sysCode } from '../internal/errors.js';
import { runCommand } from '../internal/run.js';
import type { Os } from '../model/charts.js';
import { checkUserFilter, rstFilter } from './filter.js';
import { type CaptureLimits, checkIfaceName, tcpdumpCompileArgs } from './plan.js';
import {
  defaultIface,
  findExecutable,
  freeBytes,
  fsBytes,
  ifaceExists,
  linkHasVlan,
  requireTcpdump,
} from './system.js';

export interface CaptureSpec {
  /** Undefined: `any` on Linux, the default route's interface on FreeBSD. */
  iface?: string;
  limits: CaptureLimits;
  userFilter?: string;
  /** RSTs only, without the SYNs that give them meaning (see filter.ts). */
  rstOnly?: boolean;
  /** The file the user gets. */
  file: string;
  format: 'pcap' | 'pcapng';
}

export interface CaptureEnv {
  os: Os;
  /** PATH to search for tcpdump and timeout (default process.env.PATH). */
  pathEnv?: string;
  /** A tcpdump to use instead of the one on PATH (tests: test/fixtures/bin/fake-tcpdump). */
  tcpdumpPath?: string;
  /** Runs `tcpdump -d` and the FreeBSD probes. */
  run?: CommandRunner;
  sysRoot?: string;
  /** Wrap tcpdump in timeout(1) when it exists (default true). */
  backstop?: boolean;
  pollMs?: number;
  /** Seconds to wait for tcpdump's "listening on" (default 15). */
  startTimeoutSeconds?: number;
  /** Milliseconds after SIGINT before SIGTERM (default 5000); SIGKILL follows min(3000, this) ms later. */
  stopGraceMs?: number;
  /** Milliseconds between a stop request and SIGINT (default DRAIN_MS, 1200). */
  drainMs?: number;
}

export interface PreparedCapture {
  iface: string;
  filter: string;
  vlan: boolean;
  tcpdump: string;
  timeoutPath?: string;
  /** What tcpdump writes: `file` itself for pcap, a temporary pcap next to it for pcapng. */
  rawFile: string;
  file: string;
  format: 'pcap' | 'pcapng';
  limits: CaptureLimits;
  /** Stop when less than this is free on the file system (never fill a disk). */
  reserveBytes: number;
}

/** Never fill a file system: keep 1 % of it free, at least 1 MiB and at most 64 MiB. */
export function reserveFor(fsSize: number | undefined): number {
  const MiB = 1024 * 1024;
  if (fsSize === undefined) return MiB;
  return Math.min(64 * MiB, Math.max(MiB, Math.floor(fsSize / 100)));
}

/** Turn tcpdump's complaint into a stable code (messages from tcpdump.c / libpcap pcap-linux.c, pcap-bpf.c). */
export function classifyTcpdumpError(stderr: string, iface: string, rawFile?: string): RstwatchError {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim().replace(/^tcpdump: /, ''))
    .filter((l) => l !== '' && !/^(listening on|\d+ packets? )/.test(l));
  const text = lines.join(' ') || 'no message';
  if (rawFile !== undefined && text.includes(rawFile)) {
    if (/No space left/i.test(text))
      return new RstwatchError('E_CAPTURE_DISK_FULL', `no space left for the capture file: ${text}`);
    return new RstwatchError('E_CAPTURE_WRITE', `tcpdump cannot write the capture file: ${text}`);
  }
  if (/permission|not permitted|cannot open BPF|\/dev\/bpf/i.test(text))
    return new RstwatchError('E_CAPTURE_PERMISSION', `not allowed to capture on ${iface}: ${text}`, {
      hint: 'run as root (capturing needs CAP_NET_RAW on Linux, read access to /dev/bpf* on FreeBSD)',
    });
  if (/no such device|doesn't exist|does not exist|not configured|no such interface/i.test(text))
    return new RstwatchError('E_CAPTURE_BAD_IFACE', `no interface ${iface}: ${text}`, {
      hint: 'list interfaces with `ip link` (Linux) or `ifconfig -l` (FreeBSD)',
    });
  if (/rejects all packets/i.test(text))
    return new RstwatchError(
      'E_CAPTURE_FILTER',
      '--filter excludes every TCP RST (the expression ANDed with the RST test matches nothing)',
    );
  if (/syntax error|parse filter|illegal|unknown|invalid|filter/i.test(text))
    return new RstwatchError('E_CAPTURE_FILTER', `tcpdump rejects the filter: ${text}`);
  if (/No space left/i.test(text)) return new RstwatchError('E_CAPTURE_DISK_FULL', text);
  return new RstwatchError('E_CAPTURE_TCPDUMP', `tcpdump failed: ${text}`);
}

/** Everything that can be checked before tcpdump runs; throws RstwatchError with a stable code. */
export async function prepareCapture(spec: CaptureSpec, env: CaptureEnv): Promise<PreparedCapture> {
  const user =
    spec.userFilter !== undefined && spec.userFilter.trim() !== ''
      ? checkUserFilter(spec.userFilter)
      : undefined;
  const run = env.run ?? runCommand;
  const probe = { os: env.os, run, ...(env.sysRoot !== undefined ? { sysRoot: env.sysRoot } : {}) };
  const iface = checkIfaceName(spec.iface ?? (await defaultIface(probe)));
  if (spec.iface === 'any' && env.os !== 'linux')
    throw new RstwatchError('E_CAPTURE_BAD_IFACE', 'the "any" interface exists on Linux only', {
      hint: "give an interface with -i (see `ifconfig -l`), or leave -i out for the default route's",
    });
  if (!(await ifaceExists(iface, probe)))
    throw new RstwatchError('E_CAPTURE_BAD_IFACE', `there is no interface named ${iface} here`, {
      hint: 'list interfaces with `ip link` (Linux) or `ifconfig -l` (FreeBSD); inside a namespace, use `ip netns exec`',
    });
  const pathEnv = env.pathEnv ?? process.env.PATH;
  const tcpdump = requireTcpdump(pathEnv, env.tcpdumpPath);

  const dir = dirname(spec.file);
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) throw new Error('not a directory');
  } catch (err) {
    throw new RstwatchError(
      'E_CAPTURE_WRITE',
      `cannot write the capture into ${dir}: ${sysCode(err) ?? errorMessage(err)}`,
      {
        file: spec.file,
      },
    );
  }
  const reserveBytes = reserveFor(fsBytes(dir));
  const free = freeBytes(dir);
  if (free !== undefined && free < reserveBytes)
    throw new RstwatchError(
      'E_CAPTURE_DISK_FULL',
      `only ${free} bytes are free on the file system of ${dir}; a capture keeps at least ${reserveBytes} free`,
      { file: spec.file, hint: 'free some space, or write elsewhere with -w' },
    );

  // Compile the filter for this interface: checks the syntax, the link type's VLAN support and the right to
  // open the device, before anything runs. Without VLAN support (cooked links) the filter is built without it.
  let vlan = linkHasVlan(iface, probe) ?? true;
  let filter = rstFilter({ vlan, rstOnly: spec.rstOnly === true, ...(user ? { user } : {}) });
  let r = await run(tcpdump, tcpdumpCompileArgs(iface, filter), { timeoutMs: 15_000 });
  if (r.code !== 0 && vlan && /no VLAN support/i.test(r.stderr)) {
    vlan = false;
    filter = rstFilter({ vlan, rstOnly: spec.rstOnly === true, ...(user ? { user } : {}) });
    r = await run(tcpdump, tcpdumpCompileArgs(iface, filter), { timeoutMs: 15_000 });
  }
  if (r.code !== 0) {
    if (r.error !== undefined && r.code === null && r.stderr === '')
      throw new RstwatchError('E_CAPTURE_TCPDUMP', `cannot run ${tcpdump}: ${r.error}`);
    throw classifyTcpdumpError(r.stderr, iface);
  }

  const timeoutPath = env.backstop === false ? undefined : findExecutable('timeout', pathEnv);
  const rawFile = spec.format === 'pcapng' ? `${spec.file}.part.pcap` : spec.file;
  const prepared: PreparedCapture = {
    iface,
    filter,
    vlan,
    tcpdump,
    rawFile,
    file: spec.file,
    format: spec.format,
    limits: spec.limits,
    reserveBytes,
  };
  if (timeoutPath !== undefined) prepared.timeoutPath = timeoutPath;
  return prepared;
}

/** Make sure the folder of a default capture file exists (the data folder's `captures`). */
export async function ensureDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o750 });
  } catch (err) {
    throw new RstwatchError('E_CAPTURE_WRITE', `cannot create ${dir}: ${errorMessage(err)}`, { file: dir });
  }
}
