/**
 * `rstwatch health check`'s engine: read health configuration files and folders, parse them, collect every
 * problem. The I/O lives here; the parsing is config.ts's.
 *
 * A folder is read the way Netdata reads health.d (`recursive_config_double_dir_load`): every regular file
 * (or link to one) whose name is longer than ".conf" and ends in ".conf", case-sensitive, and the sub-folders
 * too, three levels deep. Netdata takes directory entries in readdir order; we sort them by name, so the
 * output is the same on every machine.
 */

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage, type Problem } from '../internal/errors.js';
import { parseHealthConfig } from './config.js';
import type { ExpressionSource } from './types.js';

/** Netdata stops descending below this depth (the folder given is depth 0). */
export const MAX_FOLDER_DEPTH = 3;

export interface CheckHealthOptions {
  /** Checks one calc/warn/crit expression; its errors count, and leave the alert out. */
  validateExpression?: (e: ExpressionSource) => Problem[];
}

export interface CheckHealthResult {
  /** Configuration files read. */
  files: number;
  /** `alarm:` and `template:` definitions found (also those with errors). */
  alarms: number;
  templates: number;
  problems: Problem[];
}

const isConfName = (name: string) => name.length > 5 && name.endsWith('.conf');

function unreadable(file: string, err: unknown, what = 'read'): Problem {
  return {
    code: 'E_HEALTH_UNREADABLE',
    message: `cannot ${what}: ${errorMessage(err)}`,
    severity: 'error',
    file,
  };
}

/** The configuration files under `dir`, sorted, plus problems met while listing. */
function listFolder(dir: string, depth: number, files: string[], problems: Problem[]): void {
  if (depth > MAX_FOLDER_DEPTH) {
    problems.push({
      code: 'W_HEALTH_TOO_DEEP',
      message: `folder nested more than ${MAX_FOLDER_DEPTH} levels deep: not read (Netdata does not read it either)`,
      severity: 'warning',
      file: dir,
    });
    return;
  }
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (err) {
    problems.push(unreadable(dir, err, 'list the folder'));
    return;
  }
  for (const name of names) {
    if (name === '.' || name === '..') continue;
    const path = join(dir, name);
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(path);
    } catch (err) {
      // A dangling link or one we may not follow: Netdata skips it silently, but if it looks like a
      // configuration file the user meant it to be read.
      if (isConfName(name)) problems.push(unreadable(path, err));
      continue;
    }
    if (st.isDirectory()) listFolder(path, depth + 1, files, problems);
    else if (st.isFile() && isConfName(name)) files.push(path);
  }
}

/** Every configuration file under a folder, as Netdata's health.d loader finds them (sorted). */
export function listHealthFiles(dir: string): { files: string[]; problems: Problem[] } {
  const files: string[] = [];
  const problems: Problem[] = [];
  listFolder(dir, 0, files, problems);
  return { files, problems };
}

/**
 * Check health configuration paths: files (whatever their name) and folders.
 *
 * @example
 * const r = checkHealthPaths(['/usr/lib/netdata/conf.d/health.d'], { validateExpression });
 * r.problems.filter((p) => p.severity === 'error').length // 0 for Netdata's stock files
 */
export function checkHealthPaths(paths: string[], opts: CheckHealthOptions = {}): CheckHealthResult {
  const result: CheckHealthResult = { files: 0, alarms: 0, templates: 0, problems: [] };
  const problems = result.problems;
  const seen = new Set<string>();
  const parseOpts = opts.validateExpression ? { validateExpression: opts.validateExpression } : {};
  const check = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      problems.push(unreadable(file, err));
      return;
    }
    const r = parseHealthConfig(text, file, parseOpts);
    result.files++;
    result.alarms += r.counts.alarms;
    result.templates += r.counts.templates;
    problems.push(...r.problems);
  };
  for (const p of paths) {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(p);
    } catch (err) {
      problems.push(unreadable(p, err));
      continue;
    }
    if (!st.isDirectory()) {
      check(p);
      continue;
    }
    // Problems met while listing come first, then each file's.
    const files: string[] = [];
    listFolder(p, 0, files, problems);
    if (files.length === 0)
      problems.push({
        code: 'W_HEALTH_NO_FILES',
        message: 'no *.conf files in this folder',
        severity: 'warning',
        file: p,
      });
    for (const f of files) check(f);
  }
  return result;
}
