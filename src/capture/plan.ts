/**
 * Pure parts of a capture: the limits (and the refusal of long captures), interface-name checks, the default
 * file name and tcpdump's argument list. Nothing here touches the system, so every rule is unit-tested.
 */

import { join } from 'node:path';
import { RstwatchError } from '../internal/errors.js';
import type { CaptureRequest } from './types.js';

export const DEFAULT_DURATION_SECONDS = 60;
/** Longer captures are refused unless the caller raises the cap (`--max-duration`): 5 minutes (issue 5). */
export const DURATION_CAP_SECONDS = 300;
/** Even a raised cap stays bounded: a day. */
export const HARD_DURATION_CAP_SECONDS = 86_400;
/** Default size bound of one capture file: 256 MiB (≈ 3.5 million Ethernet RSTs). */
export const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;
/** Smallest --max-bytes: the pcap header and a few records. */
export const MIN_MAX_BYTES = 4096;
/** tcpdump's -c takes a C int. */
export const MAX_PACKETS_LIMIT = 2_147_483_647;

export interface CaptureLimits {
  durationSeconds: number;
  maxPackets?: number;
  maxBytes: number;
}

/**
 * Apply defaults and bounds. `capSeconds` is the longest duration allowed without complaint (5 min unless
 * raised). Throws E_CAPTURE_LIMIT: a refusal is a usage error, never silently shortened.
 */
export function captureLimits(req: CaptureRequest, capSeconds = DURATION_CAP_SECONDS): CaptureLimits {
  if (!Number.isFinite(capSeconds) || capSeconds <= 0 || capSeconds > HARD_DURATION_CAP_SECONDS)
    throw new RstwatchError(
      'E_CAPTURE_LIMIT',
      `--max-duration must be more than 0 and at most ${HARD_DURATION_CAP_SECONDS} s (a day), got ${capSeconds} s`,
    );
  const durationSeconds = req.durationSeconds ?? DEFAULT_DURATION_SECONDS;
  if (!Number.isFinite(durationSeconds) || durationSeconds <= 0)
    throw new RstwatchError('E_CAPTURE_LIMIT', `the duration must be more than 0 s, got ${durationSeconds}`);
  if (durationSeconds > capSeconds)
    throw new RstwatchError(
      'E_CAPTURE_LIMIT',
      `a ${durationSeconds} s capture is longer than the ${capSeconds} s cap`,
      capSeconds === DURATION_CAP_SECONDS
        ? {
            hint: `captures are bounded to 5 minutes; raise the cap with --max-duration ${durationSeconds}s if you mean it`,
          }
        : { hint: 'raise --max-duration, or shorten --duration' },
    );
  const limits: CaptureLimits = { durationSeconds, maxBytes: req.maxBytes ?? DEFAULT_MAX_BYTES };
  if (req.maxPackets !== undefined) {
    if (!Number.isInteger(req.maxPackets) || req.maxPackets < 1 || req.maxPackets > MAX_PACKETS_LIMIT)
      throw new RstwatchError(
        'E_CAPTURE_LIMIT',
        `the packet limit must be a whole number from 1 to ${MAX_PACKETS_LIMIT}, got ${req.maxPackets}`,
      );
    limits.maxPackets = req.maxPackets;
  }
  if (!Number.isSafeInteger(limits.maxBytes) || limits.maxBytes < MIN_MAX_BYTES)
    throw new RstwatchError(
      'E_CAPTURE_LIMIT',
      `the byte limit must be a whole number of at least ${MIN_MAX_BYTES}, got ${limits.maxBytes}`,
    );
  return limits;
}

/**
 * An interface name we are willing to hand to tcpdump: Linux allows up to 15 bytes (IFNAMSIZ 16) without
 * "/", ":" or white space (net/core/dev.c dev_valid_name); FreeBSD IFNAMSIZ is 16 too. We accept the
 * conservative set letters, digits, ".", "_", "-" and refuse a leading "-" so a name never reads as an option.
 */
const IFACE_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,14}$/;

export function checkIfaceName(name: string): string {
  if (name === '.' || name === '..' || !IFACE_RE.test(name)) {
    const bad = [...name].findIndex((c) => !/[A-Za-z0-9._-]/.test(c));
    const why =
      name.length === 0
        ? 'it is empty'
        : name.length > 15
          ? `it is ${name.length} characters long (at most 15)`
          : bad >= 0
            ? `character ${bad + 1} (${JSON.stringify(name[bad])}) is not a letter, digit, ".", "_" or "-"`
            : 'it must start with a letter, digit or "_"';
    throw new RstwatchError(
      'E_CAPTURE_BAD_IFACE',
      `interface ${JSON.stringify(name)} is not a valid name: ${why}`,
      {
        hint: 'list interfaces with `ip link` (Linux) or `ifconfig -l` (FreeBSD)',
      },
    );
  }
  return name;
}

/** `rst-YYYYmmddTHHMMSSZ`, the id and base name of a capture in the data folder (UTC, sortable). */
export function captureId(now: Date, suffix = 0): string {
  const iso = now.toISOString(); // 2026-12-04T02:40:00.000Z
  const stamp = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return suffix > 0 ? `rst-${stamp}-${suffix}` : `rst-${stamp}`;
}

/** Ids the manager made: never a path, so an id from the API cannot walk out of the captures folder. */
export const CAPTURE_ID_RE = /^rst-\d{8}T\d{6}Z(?:-\d{1,4})?$/;

export function capturesDir(dataDir: string): string {
  return join(dataDir, 'captures');
}

export function extensionOf(format: 'pcap' | 'pcapng'): string {
  return format === 'pcapng' ? '.pcapng' : '.pcap';
}

/** The format asked for, else the one the file name says, else pcap. */
export function chooseFormat(format: string | undefined, file: string | undefined): 'pcap' | 'pcapng' {
  if (format !== undefined) {
    if (format !== 'pcap' && format !== 'pcapng')
      throw new RstwatchError('E_USAGE', `--format: expected pcap or pcapng, got ${JSON.stringify(format)}`);
    return format;
  }
  return file?.toLowerCase().endsWith('.pcapng') ? 'pcapng' : 'pcap';
}

export interface TcpdumpPlan {
  iface: string;
  /** Where tcpdump writes (pcap; converted afterwards when pcapng was asked for). */
  rawFile: string;
  filter: string;
  maxPackets?: number;
}

/**
 * tcpdump's arguments. -n: never resolve names (no DNS from a capture). -U: flush every packet, so the file
 * is valid at any moment and our live reader sees it. -B 4096: a 4 MiB kernel buffer against drops in an RST
 * storm. No --immediate-mode: waking tcpdump for every packet made the kernel drop 29 % of a 4,600 RST/s
 * storm (measured); the last ring block is drained by waiting before SIGINT instead (CaptureRun.stop). -c:
 * the packet limit, enforced by tcpdump itself. The filter is one argument after `--`: tcpdump joins the
 * remaining arguments into the expression, and no shell ever sees it.
 */
export function tcpdumpArgs(p: TcpdumpPlan): string[] {
  const args = ['-n', '-i', p.iface, '-U', '-B', '4096', '-w', p.rawFile];
  if (p.maxPackets !== undefined) args.push('-c', String(p.maxPackets));
  args.push('--', p.filter);
  return args;
}

/** Arguments that only compile the filter for the interface (`tcpdump -d`): checks syntax, link type, rights. */
export function tcpdumpCompileArgs(iface: string, filter: string): string[] {
  return ['-d', '-i', iface, '--', filter];
}

/** Seconds the `timeout` backstop waits beyond the duration before it interrupts tcpdump itself. */
export const BACKSTOP_GRACE_SECONDS = 10;

/**
 * Wrap tcpdump in timeout(1) so the capture stays bounded even if rstwatch itself is killed: SIGINT (tcpdump
 * then closes the file properly) `BACKSTOP_GRACE_SECONDS` after the duration, SIGKILL 5 s later. Our own timer
 * fires first; the backstop never shortens a capture.
 */
export function withBackstop(
  timeoutPath: string | undefined,
  durationSeconds: number,
  tcpdump: string,
  args: string[],
): { cmd: string; args: string[] } {
  if (timeoutPath === undefined) return { cmd: tcpdump, args };
  const seconds = Math.ceil(durationSeconds) + BACKSTOP_GRACE_SECONDS;
  return { cmd: timeoutPath, args: ['-s', 'INT', '-k', '5', String(seconds), tcpdump, ...args] };
}

/** `10k`, `5M`, `1G` (binary units) or plain bytes. */
export function parseBytes(text: string, what: string): number {
  const m = /^(\d+)\s*([kKmMgG])?(?:i?B)?$/.exec(text.trim());
  if (!m)
    throw new RstwatchError(
      'E_USAGE',
      `${what}: expected a size like 1048576, 512k, 10M or 1G, got ${JSON.stringify(text)}`,
    );
  const unit = (m[2] ?? '').toLowerCase();
  const mult = unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1;
  return Number(m[1]) * mult;
}
