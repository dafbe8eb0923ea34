/**
 * Loading alert configurations for the agent: the shipped defaults (defaults/health.d, ours, in Netdata's
 * format) and the administrator's folder (/etc/rstwatch/health.d). A file in the administrator's folder
 * replaces the shipped file of the same name, as Netdata's user health.d overrides its stock files; an empty
 * file of that name disables the shipped one.
 */

import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage, type Problem } from '../internal/errors.js';
import { listHealthFiles } from './check.js';
import { parseHealthConfig } from './config.js';
import { type Expression, parseExpression } from './expr/index.js';
import type { CompiledAlert } from './scheduler.js';
import type { AlertConfig, ExpressionSource } from './types.js';

export const SHIPPED_HEALTH_DIR = fileURLToPath(new URL('../../defaults/health.d', import.meta.url));
export const USER_HEALTH_DIR = '/etc/rstwatch/health.d';

/** Files under a folder by their path relative to it (the key by which a user file replaces a shipped one). */
function confFiles(dir: string, problems: Problem[]): Map<string, string> {
  const out = new Map<string, string>();
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return out;
  const listed = listHealthFiles(dir);
  problems.push(...listed.problems);
  for (const f of listed.files) out.set(relative(dir, f), f);
  return out;
}

/** `$green` / `$red` are constants of the alert (Netdata replaces them at parse time, §2.2). */
function withGreenRed(e: ExpressionSource, cfg: AlertConfig): string {
  let s = e.source;
  if (cfg.green !== undefined) s = s.replace(/\$\{?green\}?(?![A-Za-z0-9_.:])/g, String(cfg.green));
  if (cfg.red !== undefined) s = s.replace(/\$\{?red\}?(?![A-Za-z0-9_.:])/g, String(cfg.red));
  return s;
}

/** Compile the expressions of parsed alerts; an alert with a broken expression is reported and left out. */
export function compileAlerts(configs: readonly AlertConfig[]): {
  alerts: CompiledAlert[];
  problems: Problem[];
} {
  const alerts: CompiledAlert[] = [];
  const problems: Problem[] = [];
  for (const cfg of configs) {
    let broken = false;
    const compile = (e: ExpressionSource | undefined): Expression | undefined => {
      if (!e) return undefined;
      const where: { file?: string; line?: number; column?: number } = { file: e.pos.file, line: e.pos.line };
      if (e.pos.column !== undefined) where.column = e.pos.column;
      const r = parseExpression(withGreenRed(e, cfg), where);
      if (!r.expr || r.problems.some((p) => p.severity === 'error')) {
        problems.push(...r.problems);
        broken = true;
        return undefined;
      }
      return r.expr;
    };
    const compiled: CompiledAlert = {
      config: cfg,
      configHashId: createHash('sha256').update(JSON.stringify(cfg)).digest('hex').slice(0, 32),
    };
    const calc = compile(cfg.calc);
    const warn = compile(cfg.warn);
    const crit = compile(cfg.crit);
    if (broken) continue;
    if (calc) compiled.calc = calc;
    if (warn) compiled.warn = warn;
    if (crit) compiled.crit = crit;
    alerts.push(compiled);
  }
  return { alerts, problems };
}

export interface LoadedHealth {
  alerts: CompiledAlert[];
  problems: Problem[];
  files: string[];
}

/** Read the shipped and the administrator's folders (the latter overriding by file name). */
export function loadHealth(dirs: { shipped?: string; user?: string } = {}): LoadedHealth {
  const problems: Problem[] = [];
  const byName = confFiles(dirs.shipped ?? SHIPPED_HEALTH_DIR, problems);
  for (const [rel, f] of confFiles(dirs.user ?? USER_HEALTH_DIR, problems)) byName.set(rel, f);
  const files = [...byName.values()];
  const configs: AlertConfig[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      problems.push({
        code: 'E_HEALTH_UNREADABLE',
        message: `cannot read: ${errorMessage(err)}`,
        severity: 'error',
        file,
      });
      continue;
    }
    const r = parseHealthConfig(text, file);
    configs.push(...r.alerts);
    problems.push(...r.problems);
  }
  const compiled = compileAlerts(configs);
  return { alerts: compiled.alerts, problems: [...problems, ...compiled.problems], files };
}
