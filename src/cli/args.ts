/** Argument parsing shared by the commands: node:util parseArgs with errors that carry a stable code. */

import { type ParseArgsConfig, parseArgs } from 'node:util';
import { RstwatchError } from '../internal/errors.js';

export type Options = NonNullable<ParseArgsConfig['options']>;

export function parse<T extends Options>(argv: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (err) {
    throw new RstwatchError('E_USAGE', (err as Error).message.replace(/\. To specify.*$/s, ''), {
      hint: 'see --help',
    });
  }
}

/** A duration in seconds from `5`, `5s`, `2m`, `1h`, `500ms`. */
export function parseSeconds(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m)
    throw new RstwatchError(
      'E_USAGE',
      `${what}: expected a duration like 5, 5s, 2m or 500ms, got ${JSON.stringify(text)}`,
    );
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return unit === 'ms' ? n / 1000 : unit === 'm' ? n * 60 : unit === 'h' ? n * 3600 : n;
}
