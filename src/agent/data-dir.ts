/**
 * The agent's data folder and its pid file, treated as the privileged agent's own ground: the agent (often
 * root) writes the history database, the API token, captures and the pid file there, and every one of those
 * opens would follow a symbolic link another user planted. So the folder must belong to root or to the
 * agent's user and must not be writable by every user (the rule OpenSSH's StrictModes applies to ~/.ssh),
 * and the pid file is only ever created with O_EXCL, never written through an existing name.
 */

import { lstatSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { errorMessage, RstwatchError, sysCode } from '../internal/errors.js';
import type { Logger } from '../internal/log.js';

/** Refuse a data folder others can write into; warn when the group can. */
export function checkDataDir(dir: string, log?: Logger): void {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(dir);
  } catch (err) {
    throw new RstwatchError('E_DATA_DIR', `cannot examine the data folder ${dir}: ${errorMessage(err)}`, {
      file: dir,
    });
  }
  const uid = process.geteuid?.();
  if (!st.isDirectory())
    throw new RstwatchError('E_DATA_DIR', `the data folder ${dir} is not a folder`, { file: dir });
  if (uid !== undefined && st.uid !== uid && st.uid !== 0)
    throw new RstwatchError(
      'E_DATA_DIR',
      `the data folder ${dir} belongs to uid ${st.uid}, not to root or to this agent (uid ${uid}): its owner could replace the files the agent writes there`,
      { file: dir, hint: `chown ${uid} ${dir}, or choose another --data-dir` },
    );
  if ((st.mode & 0o002) !== 0)
    throw new RstwatchError(
      'E_DATA_DIR',
      `the data folder ${dir} is writable by every user (mode ${(st.mode & 0o7777).toString(8)}): any of them could plant links to files the agent would then write`,
      { file: dir, hint: `chmod o-w ${dir} (the agent creates it 0750), or choose another --data-dir` },
    );
  if ((st.mode & 0o020) !== 0)
    log?.warn('the data folder is writable by its group: members could replace the files the agent writes', {
      file: dir,
      mode: (st.mode & 0o7777).toString(8),
      code: 'W_DATA_DIR_MODE',
    });
}

function createPidFile(path: string): void {
  writeFileSync(path, `${process.pid}\n`, { flag: 'wx', mode: 0o644 });
}

/**
 * One agent per data folder: a pid file, taken over when the pid in it is no longer running. Only a regular
 * file is read; a stale one is removed and a new one created exclusively (never truncated in place, which
 * would write through a symbolic link).
 */
export function takePidFile(path: string): void {
  try {
    createPidFile(path);
    return;
  } catch (err) {
    if (sysCode(err) !== 'EEXIST') {
      throw new RstwatchError('E_DATA_DIR', `cannot write ${path}: ${errorMessage(err)}`, { file: path });
    }
  }
  let pid = Number.NaN;
  try {
    if (lstatSync(path).isFile()) pid = Number(readFileSync(path, 'utf8').trim());
  } catch {
    // gone meanwhile, or unreadable: not a running agent's
  }
  let alive = false;
  if (Number.isInteger(pid) && pid > 0 && pid !== process.pid) {
    try {
      process.kill(pid, 0);
      alive = true;
    } catch (err) {
      alive = sysCode(err) === 'EPERM';
    }
  }
  if (alive) {
    throw new RstwatchError('E_AGENT_RUNNING', `another rstwatch agent (pid ${pid}) uses this data folder`, {
      file: path,
      hint: 'stop it, or give this one another --data-dir',
    });
  }
  try {
    unlinkSync(path);
    createPidFile(path);
  } catch (err) {
    throw new RstwatchError('E_DATA_DIR', `cannot write ${path}: ${errorMessage(err)}`, { file: path });
  }
}
