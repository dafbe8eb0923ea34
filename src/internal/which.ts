/**
 * Finding the programs rstwatch runs by name (`ss`, `nsenter`, `sleep`, `mount`, `tcpdump`, `timeout`) on PATH,
 * ourselves, instead of letting execvp(3) do it.
 *
 * execvp reads an empty PATH entry, `.` or any relative entry from the current directory, so `PATH=.:/usr/bin`
 * makes a root process run `./ss` from wherever it was started (checked: Node's spawn does exactly that). Here
 * relative entries are never searched, and a privileged process (uid 0 or any effective capability) also
 * skips a directory or a program that another user could have written: not owned by root or by us, or
 * writable by group or others. That is the check sudo's secure_path and OpenSSH's StrictModes make on their
 * own files. A path with a `/` in it is the administrator's explicit choice and is used as given.
 */

import { type Stats, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { isPrivileged } from './caps.js';

export interface FindProgramOptions {
  /** The PATH to search (default process.env.PATH). */
  pathEnv?: string | undefined;
  /** Apply the ownership and mode checks (default: uid 0 or any effective capability). */
  privileged?: boolean;
}

/** Owned by root or by us, and not writable by group or others. */
function trustworthy(st: Stats): boolean {
  const uid = process.geteuid?.() ?? 0;
  return (st.uid === 0 || st.uid === uid) && (st.mode & 0o022) === 0;
}

/** Why a PATH directory is not searched (undefined: it is). */
export function untrustedDir(dir: string, privileged: boolean): string | undefined {
  if (!isAbsolute(dir)) return 'a relative entry (read from the current directory)';
  if (!privileged) return undefined;
  let st: Stats;
  try {
    st = statSync(dir);
  } catch {
    return 'missing';
  }
  if (!st.isDirectory()) return 'not a directory';
  if (!trustworthy(st)) return 'writable by other users';
  return undefined;
}

/** The absolute path of `name` on a safe reading of PATH, or undefined. */
export function findProgram(name: string, opts: FindProgramOptions = {}): string | undefined {
  const privileged = opts.privileged ?? isPrivileged();
  const candidates = name.includes('/')
    ? [name]
    : (opts.pathEnv ?? process.env.PATH ?? '')
        .split(delimiter)
        .filter((dir) => untrustedDir(dir, privileged) === undefined)
        .map((dir) => join(dir, name));
  for (const c of candidates) {
    let st: Stats;
    try {
      st = statSync(c);
    } catch {
      continue;
    }
    // Mode bits rather than access(2): access() drops a non-root caller's capabilities (faccessat).
    if (!st.isFile() || (st.mode & 0o111) === 0) continue;
    if (privileged && !name.includes('/') && !trustworthy(st)) continue;
    return c;
  }
  return undefined;
}
