/**
 * Run an rstwatch command inside another network namespace.
 *
 * Sysctls under /proc/sys/net belong to the namespace of the process that opens them (not to a pid in the
 * path, unlike /proc/<pid>/net), so reading or writing `net.ipv4.tcp_syncookies` of a namespace means being
 * in it. Node cannot call setns(2), so the command re-executes itself under `nsenter --net=FILE` (util-linux)
 * with the same arguments minus `--netns`, and passes its output and exit status through.
 */

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type NetnsSpec, netnsFile, parseNetnsSpec } from '../collect/netns.js';
import { CAP, hasCapability } from './caps.js';
import { RstwatchError } from './errors.js';
import { findProgram } from './which.js';

const BIN = fileURLToPath(new URL('../../bin/rstwatch.js', import.meta.url));

/** Drop `--netns X` / `--netns=X` from an argument list. */
export function withoutNetns(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--netns') {
      i++;
      continue;
    }
    if (a.startsWith('--netns=')) continue;
    out.push(a);
  }
  return out;
}

/**
 * Re-run `rstwatch <command> <argv without --netns>` inside the namespace; resolves with its exit status.
 * stdin, stdout and stderr are the caller's.
 */
export function runInNetns(
  netns: string | NetnsSpec,
  command: string,
  argv: readonly string[],
  opts: { netnsDir?: string; procRoot?: string } = {},
): Promise<number> {
  const spec = typeof netns === 'string' ? parseNetnsSpec(netns) : netns;
  const file = netnsFile(spec, opts);
  if (file === undefined)
    throw new RstwatchError('E_NETNS_SPEC', 'runInNetns needs a namespace other than the host');
  if (!existsSync(file)) {
    throw new RstwatchError('E_NETNS_NOT_FOUND', `network namespace ${spec.label}: ${file} does not exist`, {
      file,
      hint: spec.kind === 'name' ? '`ip netns list` shows the names that exist' : undefined,
    });
  }
  if (!hasCapability(CAP.SYS_ADMIN)) {
    throw new RstwatchError(
      'E_NETNS_PERMISSION',
      `entering network namespace ${spec.label} needs root (CAP_SYS_ADMIN)`,
    );
  }
  // By absolute path: a root process never runs an nsenter from the current directory (internal/which.ts).
  const nsenter = findProgram('nsenter');
  if (nsenter === undefined)
    throw new RstwatchError('E_NETNS_EXEC', 'cannot run nsenter: not found on PATH', {
      hint: 'install util-linux',
    });
  return new Promise((resolve, reject) => {
    const child = spawn(
      nsenter,
      [`--net=${file}`, '--', process.execPath, BIN, command, ...withoutNetns(argv)],
      {
        stdio: 'inherit',
      },
    );
    child.on('error', (err) =>
      reject(
        new RstwatchError('E_NETNS_EXEC', `cannot run nsenter: ${err.message}`, {
          hint: 'install util-linux',
        }),
      ),
    );
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 70)));
  });
}
