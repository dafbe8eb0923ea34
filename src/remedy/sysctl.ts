/**
 * Reading and writing kernel settings: Linux through /proc/sys, FreeBSD through the sysctl(8) program.
 *
 * Linux: a file under /proc/sys/net belongs to the network namespace of the process that *opens* it (not
 * to a pid in the path), so these helpers always act on the caller's own namespace; to act on another one,
 * re-run the command inside it (internal/netns-exec.ts). The proc root is configurable for tests.
 *
 * FreeBSD: `sysctl -n NAME` to read, `sysctl NAME=VALUE` to write, through an injectable CommandRunner.
 *
 * Every failure is a RstwatchError with a stable code (docs/syncookies.md):
 * E_SYSCTL_MISSING, E_SYSCTL_PERMISSION, E_SYSCTL_READONLY, E_SYSCTL_VALUE, E_SYSCTL_READ, E_SYSCTL_WRITE.
 */

import { accessSync, closeSync, constants, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandResult, CommandRunner } from '../collect/types.js';
import { errorMessage, type Problem, RstwatchError, sysCode } from '../internal/errors.js';
import { normalizeSysctlName } from './sysctl-conf.js';

export interface LinuxSysctlOptions {
  /** Where proc is mounted (default /proc); the setting is `<procRoot>/sys/<name with / for .>`. */
  procRoot?: string;
}

/** A setting as read: the text the kernel gave and, when it is one integer, that integer. */
export interface SysctlValue {
  name: string;
  /** Where it was read: the /proc/sys file, or the sysctl command line. */
  source: string;
  /** The value as the kernel printed it, surrounding blanks removed. */
  raw: string;
  /** The value when it is a single decimal integer. */
  value: number | undefined;
}

/** `net.ipv4.tcp_syncookies` → `<procRoot>/sys/net/ipv4/tcp_syncookies` (a `/` in a component stays a dot). */
export function linuxSysctlFile(name: string, opts: LinuxSysctlOptions = {}): string {
  const parts = normalizeSysctlName(name)
    .split('.')
    .map((p) => p.replace(/\//g, '.'));
  if (parts.some((p) => p === '' || p === '.' || p === '..'))
    throw new RstwatchError('E_USAGE', `not a sysctl name: ${JSON.stringify(name)}`);
  return join(opts.procRoot ?? '/proc', 'sys', ...parts);
}

export function parseSysctlInteger(raw: string): number | undefined {
  return /^-?\d{1,15}$/.test(raw) ? Number(raw) : undefined;
}

function fileError(err: unknown, file: string, name: string, doing: 'read' | 'write'): RstwatchError {
  const code = sysCode(err);
  const why = code ?? errorMessage(err);
  switch (code) {
    case 'ENOENT':
      return new RstwatchError(
        'E_SYSCTL_MISSING',
        `${name} does not exist here (${file}): the kernel has no such setting — an old kernel, one built ` +
          'without it (SYN cookies need CONFIG_SYN_COOKIES), IPv4 disabled, or /proc/sys not mounted',
        { file, cause: err },
      );
    case 'EACCES':
    case 'EPERM':
      return new RstwatchError(
        'E_SYSCTL_PERMISSION',
        `cannot ${doing} ${name} (${file}): ${why}${doing === 'write' ? ': changing it needs root' : ''}`,
        { file, cause: err, hint: doing === 'write' ? 'run it as root (sudo)' : undefined },
      );
    case 'EROFS':
      return new RstwatchError(
        'E_SYSCTL_READONLY',
        `cannot ${doing} ${name}: ${file} is on a read-only file system (a container with /proc/sys mounted read-only?)`,
        { file, cause: err },
      );
    case 'EINVAL':
      return new RstwatchError(
        'E_SYSCTL_VALUE',
        `the kernel refused the value for ${name} (${file}): ${why}`,
        {
          file,
          cause: err,
        },
      );
    default:
      return new RstwatchError(
        doing === 'read' ? 'E_SYSCTL_READ' : 'E_SYSCTL_WRITE',
        `cannot ${doing} ${name} (${file}): ${why}`,
        { file, cause: err },
      );
  }
}

/** Read a Linux sysctl of the caller's network namespace. Throws RstwatchError (E_SYSCTL_MISSING, …). */
export function readLinuxSysctl(name: string, opts: LinuxSysctlOptions = {}): SysctlValue {
  const file = linuxSysctlFile(name, opts);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw fileError(err, file, normalizeSysctlName(name), 'read');
  }
  const raw = text.trim();
  return { name: normalizeSysctlName(name), source: file, raw, value: parseSysctlInteger(raw) };
}

/**
 * Check, without changing anything, that the setting could be written (it exists, we may write it, its
 * file system is not read-only). Throws like writeLinuxSysctl.
 */
export function checkLinuxSysctlWritable(name: string, opts: LinuxSysctlOptions = {}): void {
  const file = linuxSysctlFile(name, opts);
  try {
    accessSync(file, constants.W_OK);
  } catch (err) {
    throw fileError(err, file, normalizeSysctlName(name), 'write');
  }
}

/** Write a Linux sysctl of the caller's network namespace. Throws RstwatchError. */
export function writeLinuxSysctl(name: string, value: string | number, opts: LinuxSysctlOptions = {}): void {
  const file = linuxSysctlFile(name, opts);
  try {
    // No O_CREAT: a setting that does not exist must not be created as a plain file (fake proc roots).
    // One write(2) of the whole value, as the kernel's parsers expect.
    const fd = openSync(file, constants.O_WRONLY | constants.O_TRUNC);
    try {
      writeSync(fd, `${value}\n`);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw fileError(err, file, normalizeSysctlName(name), 'write');
  }
}

// ---------------------------------------------------------------------------------------------------
// FreeBSD

export interface FreeBsdSysctlOptions {
  /** The sysctl program (default /sbin/sysctl: the base system's, whatever PATH says). */
  sysctlPath?: string;
  timeoutMs?: number;
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0]?.slice(0, 200) ?? '';
}

async function runSafely(runner: CommandRunner, cmd: string, args: string[], timeoutMs: number) {
  try {
    return await runner(cmd, args, { timeoutMs });
  } catch (e) {
    return { code: null, stdout: '', stderr: '', error: errorMessage(e) } satisfies CommandResult;
  }
}

/** What a failed `sysctl` run means, from its stderr (sysctl.c's messages). */
function freeBsdError(
  r: CommandResult,
  name: string,
  command: string,
  doing: 'read' | 'write',
): RstwatchError {
  const said = firstLine(r.stderr);
  if (r.error !== undefined)
    return new RstwatchError(
      doing === 'read' ? 'E_SYSCTL_READ' : 'E_SYSCTL_WRITE',
      `could not run ${command}: ${r.error}`,
      {
        file: command,
      },
    );
  if (/unknown oid/i.test(said))
    return new RstwatchError('E_SYSCTL_MISSING', `this kernel has no ${name} (${command}: ${said})`, {
      file: command,
    });
  if (/operation not permitted|permission denied/i.test(said))
    return new RstwatchError(
      'E_SYSCTL_PERMISSION',
      `${command}: ${said}: changing ${name} needs root (and, in a jail, a VNET jail that may set it)`,
      { file: command, hint: 'run it as root' },
    );
  if (/invalid (integer|unsigned|long|value)|empty numeric/i.test(said))
    return new RstwatchError('E_SYSCTL_VALUE', `${command}: ${said}`, { file: command });
  const why = r.code === null ? 'was killed' : `exited with code ${r.code}`;
  return new RstwatchError(
    doing === 'read' ? 'E_SYSCTL_READ' : 'E_SYSCTL_WRITE',
    `${command} ${why}${said ? `: ${said}` : ''}`,
    { file: command },
  );
}

/** Read one FreeBSD sysctl with `sysctl -n NAME`. Throws RstwatchError (E_SYSCTL_MISSING, E_SYSCTL_READ). */
export async function readFreeBsdSysctl(
  name: string,
  runner: CommandRunner,
  opts: FreeBsdSysctlOptions = {},
): Promise<SysctlValue> {
  const sysctl = opts.sysctlPath ?? '/sbin/sysctl';
  const command = `${sysctl} -n ${name}`;
  const r = await runSafely(runner, sysctl, ['-n', name], opts.timeoutMs ?? 5_000);
  if (r.error !== undefined || r.code !== 0) throw freeBsdError(r, name, command, 'read');
  const raw = r.stdout.trim();
  // With -i (or some wrappers) an unknown name prints nothing and succeeds.
  if (raw === '')
    throw new RstwatchError('E_SYSCTL_MISSING', `this kernel has no ${name} (${command} printed nothing)`, {
      file: command,
    });
  return { name, source: command, raw, value: parseSysctlInteger(raw) };
}

/**
 * Read several FreeBSD sysctls, one `sysctl -n NAME` each (so a name this kernel lacks costs only its own
 * value). Never throws: what could not be read is a Problem, the other values are still returned.
 */
export async function readFreeBsdSysctls(
  names: readonly string[],
  runner: CommandRunner,
  opts: FreeBsdSysctlOptions = {},
): Promise<{ values: Record<string, number | string>; problems: Problem[] }> {
  const values: Record<string, number | string> = {};
  const problems: Problem[] = [];
  const results = await Promise.all(
    names.map(async (name) => {
      try {
        return { name, v: await readFreeBsdSysctl(name, runner, opts) };
      } catch (e) {
        const err = e instanceof RstwatchError ? e : new RstwatchError('E_SYSCTL_READ', errorMessage(e));
        return { name, err };
      }
    }),
  );
  for (const r of results) {
    if (r.v && r.name !== '__proto__') values[r.name] = r.v.value ?? r.v.raw;
    if (r.err) problems.push(r.err.toProblem());
  }
  return { values, problems };
}

/** Set a FreeBSD sysctl with `sysctl NAME=VALUE`. Throws RstwatchError. */
export async function writeFreeBsdSysctl(
  name: string,
  value: string | number,
  runner: CommandRunner,
  opts: FreeBsdSysctlOptions = {},
): Promise<void> {
  const sysctl = opts.sysctlPath ?? '/sbin/sysctl';
  const arg = `${name}=${value}`;
  const r = await runSafely(runner, sysctl, [arg], opts.timeoutMs ?? 5_000);
  if (r.error !== undefined || r.code !== 0) throw freeBsdError(r, name, `${sysctl} ${arg}`, 'write');
}
