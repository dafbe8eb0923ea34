/**
 * The process's effective Linux capabilities (`CapEff` of /proc/self/status, capabilities(7)), so that a check
 * for a privilege asks for the capability the kernel will check, not for uid 0: the agent may run as an
 * ordinary user with only CAP_NET_RAW, CAP_DAC_OVERRIDE and CAP_SYS_ADMIN (docs/security.md).
 */

import { readFileSync } from 'node:fs';

/** Bit numbers of include/uapi/linux/capability.h. */
export const CAP = {
  DAC_OVERRIDE: 1,
  DAC_READ_SEARCH: 2,
  NET_ADMIN: 12,
  NET_RAW: 13,
  SYS_PTRACE: 19,
  SYS_ADMIN: 21,
} as const;

/** The effective set as a bit mask; undefined where there is no /proc (FreeBSD) or it cannot be read. */
export function effectiveCaps(statusText?: string): bigint | undefined {
  let text = statusText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/status', 'utf8');
    } catch {
      return undefined;
    }
  }
  const m = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(text);
  return m ? BigInt(`0x${m[1]}`) : undefined;
}

/**
 * Does this process hold the capability (or, where capabilities cannot be read, is it root)? uid 0 normally
 * holds every capability, but not under SECBIT_NOROOT or a reduced bounding set (systemd's
 * CapabilityBoundingSet=), which is why the mask decides when it can be read.
 */
export function hasCapability(bit: number, statusText?: string): boolean {
  const caps = effectiveCaps(statusText);
  if (caps === undefined) return process.geteuid?.() === 0;
  return ((caps >> BigInt(bit)) & 1n) === 1n;
}

/** Any effective capability at all, or uid 0: what makes a PATH lookup worth being careful about. */
export function isPrivileged(statusText?: string): boolean {
  if (process.geteuid?.() === 0) return true;
  const caps = effectiveCaps(statusText);
  return caps !== undefined && caps !== 0n;
}
