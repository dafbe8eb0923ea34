/**
 * What the capture needs to know about the machine: where tcpdump is, whether an interface exists and what
 * link it is, the FreeBSD default interface, free disk space. Every probe has an injectable seam for tests.
 */

import { existsSync, readFileSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandRunner } from '../collect/types.js';
import { RstwatchError } from '../internal/errors.js';
import { findProgram } from '../internal/which.js';
import type { Os } from '../model/charts.js';

/** The install command per system, in the E_CAPTURE_NO_TCPDUMP hint. */
export const TCPDUMP_INSTALL =
  'install it: Debian/Ubuntu `apt-get install tcpdump`; RHEL/Fedora `dnf install tcpdump`; Alpine `apk add tcpdump`; FreeBSD: tcpdump is in the base system (`pkg install tcpdump` for a newer one)';

/**
 * First executable `name` on PATH (or the path itself when it contains "/"). Relative PATH entries are never
 * searched and, when privileged, neither are directories other users can write (internal/which.ts).
 */
export function findExecutable(name: string, pathEnv: string | undefined): string | undefined {
  return findProgram(name, { pathEnv: pathEnv ?? '' });
}

export function requireTcpdump(pathEnv: string | undefined, explicit?: string): string {
  const found = findExecutable(explicit ?? 'tcpdump', pathEnv);
  if (found === undefined)
    throw new RstwatchError(
      'E_CAPTURE_NO_TCPDUMP',
      explicit === undefined
        ? 'tcpdump is not installed (not found on PATH); rstwatch capture runs it to capture packets'
        : `${explicit} is not an executable file`,
      { hint: TCPDUMP_INSTALL },
    );
  return found;
}

/** Linux ARPHRD_* values (include/uapi/linux/if_arp.h) whose captures libpcap presents as Ethernet. */
const ARPHRD_ETHER = 1;
const ARPHRD_LOOPBACK = 772;

export interface IfaceProbe {
  os: Os;
  /** Linux: the sysfs root (default /sys). */
  sysRoot?: string;
  /** FreeBSD: runs `ifconfig -l` and `route -n get default`. */
  run?: CommandRunner;
}

/**
 * Does the interface exist? Linux: `/sys/class/net/<name>` (inside `ip netns exec`, sysfs is the
 * namespace's). FreeBSD: `ifconfig -l` lists every interface. `any` is Linux's pseudo-device.
 */
export async function ifaceExists(name: string, probe: IfaceProbe): Promise<boolean> {
  if (probe.os === 'linux') {
    if (name === 'any') return true;
    return existsSync(join(probe.sysRoot ?? '/sys', 'class', 'net', name));
  }
  if (!probe.run) return true; // no way to check: tcpdump -d will say
  const r = await probe.run('ifconfig', ['-l'], { timeoutMs: 5000 });
  if (r.code !== 0) return true;
  return r.stdout.trim().split(/\s+/).includes(name);
}

/**
 * Whether libpcap can look past VLAN tags on this interface: Ethernet and Linux loopback are captured as
 * DLT_EN10MB; `any` is cooked (SLL2), which libpcap refuses `vlan` on. Other links (tun, ppp, gre) carry no
 * 802.1Q tags. On FreeBSD we cannot tell from here: undefined means "try, and fall back" (tcpdump -d says).
 */
export function linkHasVlan(name: string, probe: IfaceProbe): boolean | undefined {
  if (name === 'any') return false;
  if (probe.os !== 'linux') return undefined;
  try {
    const type = Number(
      readFileSync(join(probe.sysRoot ?? '/sys', 'class', 'net', name, 'type'), 'utf8').trim(),
    );
    return type === ARPHRD_ETHER || type === ARPHRD_LOOPBACK;
  } catch {
    return undefined;
  }
}

/** Parse `route -n get default` (FreeBSD route(8)): the `interface: em0` line. */
export function parseRouteGetInterface(text: string): string | undefined {
  const m = /^\s*interface:\s*(\S+)\s*$/m.exec(text);
  return m?.[1];
}

/**
 * The interface to capture on when none is given. Linux: `any`, every interface at once. FreeBSD has no `any`
 * pseudo-device (libpcap's "any" is Linux-only), so the interface of the default route is used.
 */
export async function defaultIface(probe: IfaceProbe): Promise<string> {
  if (probe.os === 'linux') return 'any';
  const r = probe.run ? await probe.run('route', ['-n', 'get', 'default'], { timeoutMs: 5000 }) : undefined;
  const name = r && r.code === 0 ? parseRouteGetInterface(r.stdout) : undefined;
  if (name === undefined)
    throw new RstwatchError(
      'E_CAPTURE_BAD_IFACE',
      'FreeBSD has no "any" interface and no default route was found to pick one',
      { hint: 'give the interface with -i (see `ifconfig -l`)' },
    );
  return name;
}

/** Free bytes for an unprivileged writer on the file system holding `dir` (undefined when unknown). */
export function freeBytes(dir: string): number | undefined {
  try {
    const s = statfsSync(dir);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return undefined;
  }
}

/** Total size of the file system holding `dir`. */
export function fsBytes(dir: string): number | undefined {
  try {
    const s = statfsSync(dir);
    return Number(s.blocks) * Number(s.bsize);
  } catch {
    return undefined;
  }
}
