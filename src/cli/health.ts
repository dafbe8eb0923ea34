/**
 * rstwatch health check PATH… — reads Netdata health configuration (alarm:/template: files, Netdata's own
 * included) the way the agent reads it and prints every problem as `file:line:column: severity: CODE:
 * message`, then `N alarms, M templates, E errors`. Exit status 1 when there are errors (docs/health-config.md).
 */

import { checkHealthPaths } from '../health/check.js';
import { parseExpression } from '../health/expr/index.js';
import type { ExpressionSource } from '../health/types.js';
import { formatProblem, type Problem, RstwatchError } from '../internal/errors.js';
import { parse } from './args.js';
import type { Io } from './main.js';

const HELP = `Usage: rstwatch health check [--json] PATH...

Checks Netdata health configuration files (alarm: and template: definitions) the way rstwatch reads
them, expressions included, and prints every problem as
  file:line:column: severity: CODE: message
then one summary line, "N alarms, M templates, E errors", and the number of warnings if there are any.
An alert with an error is left out when rstwatch loads the file; warnings (unknown keys, unknown
options, repeated keys: things Netdata also ignores) do not stop it loading.

A PATH is a file, or a folder: every *.conf in it and in its sub-folders (three levels deep), as
Netdata reads health.d. Netdata's own files work unchanged:
  rstwatch health check /usr/lib/netdata/conf.d/health.d

Options:
  --json      print JSON: {files, alarms, templates, errors, warnings, problems}
  -h, --help  this text

Exit status: 0 no errors (warnings allowed); 1 errors found; 2 usage error.
Problem codes are listed in docs/health-config.md.
`;

/** Expression problems as check problems: positions of the configuration file, always errors. */
export function validateExpression(e: ExpressionSource): Problem[] {
  const where: { file?: string; line?: number; column?: number } = { file: e.pos.file, line: e.pos.line };
  if (e.pos.column !== undefined) where.column = e.pos.column;
  return parseExpression(e.source, where).problems.map((p) => ({
    ...p,
    severity: 'error' as const,
    file: p.file ?? e.pos.file,
    line: p.line ?? e.pos.line,
  }));
}

export async function run(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined) {
    io.err(HELP);
    return 2;
  }
  if (sub === '-h' || sub === '--help' || sub === 'help') {
    io.out(HELP);
    return 0;
  }
  if (sub !== 'check')
    throw new RstwatchError('E_USAGE', `unknown health subcommand "${sub}"`, {
      hint: 'rstwatch health check PATH...',
    });
  const { values, positionals } = parse(
    rest,
    {
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    true,
  );
  if (values.help) {
    io.out(HELP);
    return 0;
  }
  if (positionals.length === 0)
    throw new RstwatchError('E_USAGE', 'health check needs at least one PATH (a .conf file or a folder)', {
      hint: 'rstwatch health check /usr/lib/netdata/conf.d/health.d',
    });

  const r = checkHealthPaths(positionals, { validateExpression });
  const errors = r.problems.filter((p) => p.severity === 'error').length;
  const warnings = r.problems.length - errors;
  if (values.json) {
    const report = {
      files: r.files,
      alarms: r.alarms,
      templates: r.templates,
      errors,
      warnings,
      problems: r.problems,
    };
    io.out(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    for (const p of r.problems) io.out(`${formatProblem(p)}\n`);
    io.out(`${r.alarms} alarms, ${r.templates} templates, ${errors} errors\n`);
    if (warnings > 0) io.out(`${warnings} warnings\n`);
  }
  return errors > 0 ? 1 : 0;
}
