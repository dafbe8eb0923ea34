/**
 * Every rstwatch command line that the user-facing texts tell people to run — explain topics, the shipped
 * alerts' info, doctor's fixes and advice, notification messages' next steps — names a command that exists
 * and only options that command's --help lists. A 3 a.m. reader copies these lines; they must work.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TOPICS } from '../../src/model/explain.js';
import { cli, ROOT } from '../helpers/paths.js';

/** `rstwatch <cmd> [args…]` inside backticks, or up to the end of a sentence. */
function commandLines(text: string): string[] {
  const out: string[] = [];
  // A command word (not "rstwatch analyze: ${…}", a report's heading).
  for (const m of text.matchAll(/`(rstwatch [a-z-]+(?:\s[^`]*)?)`/g)) out.push(m[1]!);
  return out;
}

const sources: { where: string; text: string }[] = [];
for (const t of TOPICS) sources.push({ where: `explain topic ${t.id}`, text: JSON.stringify(t) });
const healthDir = join(ROOT, 'defaults/health.d');
for (const f of readdirSync(healthDir))
  sources.push({ where: `defaults/health.d/${f}`, text: readFileSync(join(healthDir, f), 'utf8') });
for (const f of [
  'src/remedy/doctor.ts',
  'src/notify/message.ts',
  'src/analyze/analyze.ts',
  'src/report/text.ts',
])
  sources.push({ where: f, text: readFileSync(join(ROOT, f), 'utf8') });

const refs = sources.flatMap((s) =>
  commandLines(s.text.replace(/\\n/g, ' ')).map((line) => ({ where: s.where, line })),
);

const helpCache = new Map<string, { code: number | null; text: string }>();
function help(cmd: string): { code: number | null; text: string } {
  let h = helpCache.get(cmd);
  if (!h) {
    const r = cli([cmd, '--help']);
    h = { code: r.code, text: r.stdout };
    helpCache.set(cmd, h);
  }
  return h;
}

describe('command lines quoted to users', () => {
  it('there are many of them (the extraction works)', () => {
    expect(refs.length).toBeGreaterThan(20);
    expect(new Set(refs.map((r) => r.line.split(/\s+/)[1])).size).toBeGreaterThanOrEqual(6);
  });

  it('each names a registered command and only options its --help lists', () => {
    const bad: string[] = [];
    for (const { where, line } of refs) {
      const words = line.split(/\s+/);
      const cmd = words[1]!;
      const h = help(cmd);
      if (h.code !== 0) {
        bad.push(`${where}: \`${line}\`: no command "${cmd}"`);
        continue;
      }
      for (const w of words.slice(2)) {
        const opt = /^(--[a-z][a-z0-9-]*)/.exec(w)?.[1];
        if (opt && !h.text.includes(opt)) bad.push(`${where}: \`${line}\`: ${cmd} has no ${opt}`);
      }
    }
    expect(bad).toEqual([]);
  });
});
