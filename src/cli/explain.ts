/**
 * rstwatch explain [TOPIC] — what a TCP reset is and what each cause means, in plain text wrapped at
 * 100 columns or as JSON. The words live in src/model/explain.ts; this file only lays them out.
 */

import { formatProblem, RstwatchError } from '../internal/errors.js';
import { findTopic, suggestTopics, TOPICS, type Topic } from '../model/explain.js';
import { parse } from './args.js';
import type { Io } from './main.js';

const HELP = `Usage: rstwatch explain [TOPIC] [options]

Explains TCP resets in plain words: what a reset is, each common cause, how rstwatch detects it
(counters, tracepoint reasons, capture signs) and what to do. Without a TOPIC, lists the topics.
TOPIC is a topic id or an alias (time-wait, backlog, syn-cookies, …), in any case.

Options:
  --json        print JSON: the topic, or {"topics": [...]} with every topic when none is given
  -h, --help    this text

Exit status: 0 ok; 2 unknown topic (E_EXPLAIN_TOPIC, with the closest topics) or usage error.
`;

/** Text output is wrapped to this many columns. */
export const WIDTH = 100;

/**
 * Words of a paragraph; text between backticks (a command, a setting) stays one word, so that it is never
 * broken across lines and can be copied whole.
 */
function words(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of text) {
    if (ch === '`') quoted = !quoted;
    if (!quoted && /\s/.test(ch)) {
      if (cur !== '') out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur !== '') out.push(cur);
  return out;
}

/**
 * Fill `text` to `width` columns: the first line starts with `first`, the others with `rest` (same length
 * or not). Paragraphs (blank-line separated) are kept, separated by an empty line. A single word longer
 * than the line gets a line of its own.
 */
export function wrap(text: string, first: string, rest: string, width = WIDTH): string[] {
  const lines: string[] = [];
  let prefix = first;
  for (const para of text.split(/\n\s*\n/)) {
    if (lines.length > 0) lines.push('');
    let line = '';
    for (const w of words(para)) {
      if (line === '') line = prefix + w;
      else if (line.length + 1 + w.length <= width) line += ` ${w}`;
      else {
        lines.push(line);
        prefix = rest;
        line = prefix + w;
      }
    }
    if (line !== '') lines.push(line);
    prefix = rest;
  }
  return lines;
}

const INDENT = '  ';

/** One topic as plain text, every line at most WIDTH columns (unless one literal is longer). */
export function renderTopic(t: Topic): string {
  const out: string[] = [];
  out.push(...wrap(`${t.id} — ${t.title}`, '', INDENT));
  if (t.aliases.length > 0) out.push(...wrap(`also: ${t.aliases.join(', ')}`, '', INDENT));
  out.push('');
  out.push(...wrap(t.summary, '', ''));
  out.push('', 'What happens');
  out.push(...wrap(t.whatHappens, INDENT, INDENT));
  out.push('', 'How rstwatch detects it');
  out.push(...wrap(t.howRstwatchDetects, INDENT, INDENT));
  out.push('');
  const list = (xs: string[]) => (xs.length === 0 ? 'none' : xs.join(', '));
  out.push(...wrap(`Linux counters: ${list(t.counters.linux)}`, INDENT, INDENT.repeat(2)));
  out.push(...wrap(`FreeBSD counters: ${list(t.counters.freebsd)}`, INDENT, INDENT.repeat(2)));
  out.push(
    ...wrap(
      `Reset reasons (tcp:tcp_send_reset, Linux 6.10+): ${list(t.tracepointReasons)}`,
      INDENT,
      INDENT.repeat(2),
    ),
  );
  out.push('', 'What to do');
  const num = String(t.whatToDo.length).length;
  t.whatToDo.forEach((step, i) => {
    const label = `${INDENT}${String(i + 1).padStart(num)}. `;
    out.push(...wrap(step, label, ' '.repeat(label.length)));
  });
  if (t.seeAlso.length > 0) {
    out.push('');
    out.push(...wrap(`See also: ${t.seeAlso.join(', ')} (rstwatch explain TOPIC)`, '', INDENT));
  }
  return `${out.join('\n')}\n`;
}

/** The topic list: id and summary, one entry per topic. */
export function renderList(topics: readonly Topic[] = TOPICS): string {
  const width = Math.max(...topics.map((t) => t.id.length));
  const out = ['rstwatch explain — TCP resets and their causes, in plain words', ''];
  for (const t of topics) {
    const label = `${INDENT}${t.id.padEnd(width)}  `;
    out.push(...wrap(t.summary, label, ' '.repeat(label.length)));
  }
  out.push('');
  out.push(
    ...wrap(
      'Run `rstwatch explain TOPIC` for one topic (ids or aliases such as time-wait, backlog, syn-cookies), `--json` for JSON.',
      '',
      '',
    ),
  );
  return `${out.join('\n')}\n`;
}

/** The error for a name that is neither an id nor an alias, with the closest ids. */
export function unknownTopic(name: string): RstwatchError {
  const close = suggestTopics(name);
  const message =
    close.length > 0
      ? `unknown topic ${JSON.stringify(name)}; did you mean ${close.join(', ')}?`
      : `unknown topic ${JSON.stringify(name)}; topics: ${TOPICS.map((t) => t.id).join(', ')}`;
  return new RstwatchError('E_EXPLAIN_TOPIC', message, {
    hint: '`rstwatch explain` lists every topic with its summary',
  });
}

export async function run(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
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
  if (positionals.length > 1)
    throw new RstwatchError(
      'E_USAGE',
      `expected at most one topic, got ${positionals.length}: ${positionals.join(' ')}`,
      { hint: 'see --help' },
    );
  const name = positionals[0];
  if (name === undefined) {
    io.out(values.json ? `${JSON.stringify({ topics: TOPICS }, null, 2)}\n` : renderList());
    return 0;
  }
  const topic = findTopic(name);
  if (topic === undefined) {
    // Reported here rather than thrown: an unknown topic is a usage error (exit 2), whatever its code.
    const err = unknownTopic(name);
    io.err(`rstwatch explain: ${formatProblem(err.toProblem())}\n`);
    if (err.hint) io.err(`  hint: ${err.hint}\n`);
    return 2;
  }
  io.out(values.json ? `${JSON.stringify(topic, null, 2)}\n` : renderTopic(topic));
  return 0;
}
