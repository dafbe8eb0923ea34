/**
 * `rstwatch explain`: the topics (src/model/explain.ts) are checked against the kernels' own names — Linux
 * counters from a captured /proc fixture, FreeBSD keys from a netstat --libxo fixture, tracepoint reasons
 * from the kernel's list — and the command is run through the real binary (build first: `npx tsc -p
 * tsconfig.json`). The topic table in docs/explain.md is generated from TOPICS: regenerate it after a
 * change with `UPDATE_DOCS=1 npx vitest run test/unit/explain.test.ts` and review the diff.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { renderList, renderTopic, run, WIDTH, wrap } from '../../src/cli/explain.js';
import { parseNetstatTcp } from '../../src/collect/freebsd.js';
import { parseLinuxCounters } from '../../src/collect/linux.js';
import { RstwatchError } from '../../src/internal/errors.js';
import { findTopic, suggestTopics, TOPICS, type Topic } from '../../src/model/explain.js';
import { cli, FIXTURES, ROOT } from '../helpers/paths.js';

/** The ids other parts of rstwatch refer to: they must exist under exactly these names. */
const REQUIRED_IDS = [
  'reset',
  'refused',
  'abort',
  'half-open',
  'time-wait-assassination',
  'queue-full',
  'syn-queue',
  'buffer-overflow',
  'syn-flood',
  'rst-injection',
  'scan',
  'timeout',
  'syncookies',
  'challenge-ack',
];

/** enum sk_rst_reason (include/net/rstreason.h), Linux 6.10+, as listed in the field guide §6.3. */
const KERNEL_RST_REASONS = new Set([
  'NOT_SPECIFIED',
  'NO_SOCKET',
  'TCP_INVALID_ACK_SEQUENCE',
  'TCP_RFC7323_PAWS',
  'TCP_TOO_OLD_ACK',
  'TCP_ACK_UNSENT_DATA',
  'TCP_FLAGS',
  'TCP_OLD_ACK',
  'TCP_ABORT_ON_DATA',
  'TCP_TIMEWAIT_SOCKET',
  'INVALID_SYN',
  'TCP_ABORT_ON_CLOSE',
  'TCP_ABORT_ON_LINGER',
  'TCP_ABORT_ON_MEMORY',
  'TCP_STATE',
  'TCP_KEEPALIVE_TIMEOUT',
  'TCP_DISCONNECT_WITH_DATA',
  'MPTCP_RST_EUNSPEC',
  'MPTCP_RST_EMPTCP',
  'MPTCP_RST_ERESOURCE',
  'MPTCP_RST_EPROHIBIT',
  'MPTCP_RST_EWQ2BIG',
  'MPTCP_RST_EBADPERF',
  'MPTCP_RST_EMIDDLEBOX',
  'ERROR',
]);

const KEBAB = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

const read = (path: string): string => readFileSync(`${FIXTURES}/${path}`, 'utf8');
const linux = parseLinuxCounters(read('proc/linux-6.18/net/snmp'), read('proc/linux-6.18/net/netstat'));
const freebsd = parseNetstatTcp(read('freebsd/freebsd-14/netstat-s-p-tcp.json'));

/** Every prose field of a topic, for checks that apply to all of them. */
const texts = (t: Topic): string[] => [
  t.title,
  t.summary,
  t.whatHappens,
  t.howRstwatchDetects,
  ...t.whatToDo,
];

describe('TOPICS', () => {
  it('has every required id, each once, in kebab-case, "reset" first', () => {
    const ids = TOPICS.map((t) => t.id);
    expect(ids).toEqual(expect.arrayContaining(REQUIRED_IDS));
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(KEBAB);
    expect(ids[0]).toBe('reset');
  });

  it('the fixtures parsed cleanly (the checks below rely on them)', () => {
    expect(linux.problems).toEqual([]);
    expect(freebsd.problems).toEqual([]);
  });

  describe.each(TOPICS.map((t) => [t.id, t] as const))('%s', (_id, t) => {
    it('has every field filled in', () => {
      for (const s of [t.title, t.summary, t.whatHappens, t.howRstwatchDetects])
        expect(s.trim()).not.toBe('');
      expect(t.aliases.length).toBeGreaterThan(0);
      expect(t.whatToDo.length).toBeGreaterThan(0);
      for (const step of t.whatToDo) expect(step.trim()).not.toBe('');
      expect(t.seeAlso.length).toBeGreaterThan(0);
    });

    it('has a one-sentence summary', () => {
      expect(t.summary).toMatch(/[.!?]"?$/);
      expect(t.summary).not.toMatch(/\n/);
      expect(t.summary).not.toMatch(/[.!?] [A-Z]/);
    });

    it('balances its backticks (literal commands) and gives at least one command to run', () => {
      for (const s of texts(t)) expect((s.match(/`/g) ?? []).length % 2, s).toBe(0);
      expect(t.whatToDo.some((step) => /`[^`]+`/.test(step))).toBe(true);
    });

    it('has aliases in kebab-case that lead back to it', () => {
      for (const a of t.aliases) {
        expect(a).toMatch(KEBAB);
        expect(findTopic(a)?.id, a).toBe(t.id);
      }
      expect(findTopic(t.id)).toBe(t);
    });

    it('sees also only existing topics, not itself, each once', () => {
      for (const id of t.seeAlso) expect(findTopic(id)?.id, id).toBe(id);
      expect(t.seeAlso).not.toContain(t.id);
      expect(new Set(t.seeAlso).size).toBe(t.seeAlso.length);
    });

    it('names Linux counters that exist in /proc/net/{snmp,netstat} of Linux 6.18', () => {
      for (const c of t.counters.linux) expect(Object.hasOwn(linux.counters, c), c).toBe(true);
      expect(new Set(t.counters.linux).size).toBe(t.counters.linux.length);
    });

    it('names FreeBSD counters that exist in netstat -s -p tcp --libxo json of FreeBSD 14', () => {
      for (const c of t.counters.freebsd) expect(Object.hasOwn(freebsd.counters, c), c).toBe(true);
      expect(new Set(t.counters.freebsd).size).toBe(t.counters.freebsd.length);
    });

    it("names only the kernel's tracepoint reasons", () => {
      for (const r of t.tracepointReasons) expect(KERNEL_RST_REASONS.has(r), r).toBe(true);
      expect(new Set(t.tracepointReasons).size).toBe(t.tracepointReasons.length);
    });

    it('explains every counter and reason it lists (and says so when there is no counter)', () => {
      for (const name of [...t.counters.linux, ...t.counters.freebsd, ...t.tracepointReasons])
        expect(t.howRstwatchDetects, name).toContain(name);
      if (t.counters.linux.length + t.counters.freebsd.length === 0)
        expect(t.howRstwatchDetects).toMatch(/no counter/i);
    });
  });

  it('no alias is another topic id or another topic alias', () => {
    const owner = new Map<string, string>();
    for (const t of TOPICS) owner.set(t.id, t.id);
    for (const t of TOPICS) {
      for (const a of t.aliases) {
        expect(owner.get(a), `${a} of ${t.id}`).toBeUndefined();
        owner.set(a, t.id);
      }
    }
  });

  it('is frozen: one source of truth, not a scratch pad', () => {
    expect(Object.isFrozen(TOPICS)).toBe(true);
    const t = TOPICS[0]!;
    expect(Object.isFrozen(t)).toBe(true);
    expect(Object.isFrozen(t.counters.linux)).toBe(true);
    expect(() => t.aliases.push('x')).toThrow(TypeError);
  });
});

describe('findTopic', () => {
  it.each([
    ['time-wait', 'time-wait-assassination'],
    ['tw', 'time-wait-assassination'],
    ['rfc1337', 'time-wait-assassination'],
    ['rst-attack', 'rst-injection'],
    ['backlog', 'queue-full'],
    ['syn-cookies', 'syncookies'],
    ['SYN-Cookies', 'syncookies'],
    ['Time_Wait', 'time-wait-assassination'],
    ['  tw  ', 'time-wait-assassination'],
    ['time wait', 'time-wait-assassination'],
    ['tcp_syncookies', 'syncookies'],
    ['REFUSED', 'refused'],
  ])('%j → %s', (name, id) => {
    expect(findTopic(name)?.id).toBe(id);
  });

  it('finds nothing for names that are not topics', () => {
    for (const name of ['', ' ', 'tiem-wait', 'constructor', '__proto__', 'toString'])
      expect(findTopic(name), name).toBeUndefined();
  });

  it('never throws, whatever the text', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const t = findTopic(s);
        expect(t === undefined || TOPICS.includes(t)).toBe(true);
      }),
    );
  });
});

describe('suggestTopics', () => {
  it.each([
    ['tiem-wait', 'time-wait-assassination'],
    ['refsued', 'refused'],
    ['syn-flod', 'syn-flood'],
    ['syncokies', 'syncookies'],
    ['halfopen', 'half-open'],
    ['challange-ack', 'challenge-ack'],
    ['abrot', 'abort'],
    ['time', 'time-wait-assassination'],
    ['cookie', 'syncookies'],
    ['buffer', 'buffer-overflow'],
  ])('%j suggests %s first', (typo, id) => {
    expect(suggestTopics(typo)[0]).toBe(id);
  });

  it('suggests nothing for empty or far-away text', () => {
    expect(suggestTopics('')).toEqual([]);
    expect(suggestTopics('   ')).toEqual([]);
    expect(suggestTopics('zzzzzzzz')).toEqual([]);
    expect(suggestTopics('kubernetes')).toEqual([]);
  });

  it('returns at most five existing ids, each once, whatever the text', () => {
    const ids = new Set(TOPICS.map((t) => t.id));
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (s) => {
        const got = suggestTopics(s);
        expect(got.length).toBeLessThanOrEqual(5);
        expect(new Set(got).size).toBe(got.length);
        for (const id of got) expect(ids.has(id)).toBe(true);
      }),
    );
  });

  it('finds an id again after one character is dropped, changed or doubled', () => {
    const long = TOPICS.filter((t) => t.id.length >= 5);
    fc.assert(
      fc.property(
        fc.constantFrom(...long),
        fc.nat(),
        fc.constantFrom('drop', 'change', 'double'),
        (t, n, how) => {
          const i = n % t.id.length;
          const typo =
            how === 'drop'
              ? t.id.slice(0, i) + t.id.slice(i + 1)
              : how === 'change'
                ? `${t.id.slice(0, i)}q${t.id.slice(i + 1)}`
                : t.id.slice(0, i + 1) + t.id.slice(i);
          expect(suggestTopics(typo)).toContain(t.id);
        },
      ),
    );
  });
});

describe('text layout', () => {
  it('keeps `literal text` on one line and fills to the width', () => {
    const lines = wrap('run `ss -tan state syn-sent` then `rstwatch status --watch` now', '  ', '    ', 30);
    expect(lines).toEqual([
      '  run `ss -tan state syn-sent`',
      '    then',
      '    `rstwatch status --watch`',
      '    now',
    ]);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(30);
  });

  it('keeps paragraphs apart', () => {
    expect(wrap('one two\n\nthree', '> ', '> ')).toEqual(['> one two', '', '> three']);
  });

  it.each(TOPICS.map((t) => [t.id, t] as const))(
    '%s: every section, every command whole, within %d columns',
    (_id, t) => {
      const text = renderTopic(t);
      for (const line of text.split('\n')) expect(line.length, line).toBeLessThanOrEqual(WIDTH);
      for (const heading of ['What happens', 'How rstwatch detects it', 'What to do']) {
        expect(text).toContain(`\n${heading}\n`);
      }
      expect(text.startsWith(`${t.id} — ${t.title}`)).toBe(true);
      for (const literal of texts(t).flatMap((s) => s.match(/`[^`]+`/g) ?? []))
        expect(text).toContain(literal);
      expect(text).toContain(`See also: ${t.seeAlso.join(', ')}`);
    },
  );

  it('lists every topic within the width', () => {
    const text = renderList();
    for (const t of TOPICS) expect(text).toMatch(new RegExp(`^  ${t.id} +\\S`, 'm'));
    for (const line of text.split('\n')) expect(line.length, line).toBeLessThanOrEqual(WIDTH);
  });
});

describe('run (in process)', () => {
  const io = () => {
    const out: string[] = [];
    const err: string[] = [];
    return {
      out,
      err,
      io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s), isTty: false },
    };
  };

  it('refuses two topics with E_USAGE (main turns it into exit 2)', async () => {
    const c = io();
    await expect(run(['refused', 'abort'], c.io)).rejects.toMatchObject({ code: 'E_USAGE' });
    await expect(run(['--nope'], c.io)).rejects.toBeInstanceOf(RstwatchError);
  });

  it('reports an unknown topic itself, with exit 2', async () => {
    const c = io();
    expect(await run(['syn-flod'], c.io)).toBe(2);
    expect(c.out).toEqual([]);
    expect(c.err.join('')).toMatch(
      /^rstwatch explain: error: E_EXPLAIN_TOPIC: unknown topic "syn-flod"; did you mean syn-flood/,
    );
  });
});

describe('rstwatch explain (the binary)', () => {
  it('lists the topics', () => {
    const r = cli(['explain']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const t of TOPICS) expect(r.stdout).toContain(`  ${t.id} `);
    expect(r.stdout).toBe(renderList());
  });

  it('explains one topic', () => {
    const r = cli(['explain', 'refused']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(renderTopic(findTopic('refused')!));
    expect(r.stdout).toContain('NO_SOCKET');
    expect(r.stdout.replace(/\s+/g, ' ')).toContain('Zeek conn_state REJ, history Sr');
  });

  it('prints a topic as JSON', () => {
    const r = cli(['explain', '--json', 'half-open']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(findTopic('half-open'));
  });

  it('prints every topic as JSON without a topic', () => {
    const r = cli(['explain', '--json']);
    expect(r.code).toBe(0);
    const o = JSON.parse(r.stdout) as { topics: Topic[] };
    expect(o.topics).toEqual(TOPICS);
  });

  it('accepts an alias, in any case', () => {
    const r = cli(['explain', 'TW']);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith('time-wait-assassination — ')).toBe(true);
  });

  it('turns a typo into exit 2 with E_EXPLAIN_TOPIC and a suggestion', () => {
    const r = cli(['explain', 'tiem-wait']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('E_EXPLAIN_TOPIC');
    expect(r.stderr).toContain('did you mean time-wait-assassination?');
  });

  it('prints its help', () => {
    for (const flag of ['--help', '-h']) {
      const r = cli(['explain', flag]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Usage: rstwatch explain \[TOPIC\]/);
    }
  });

  it('rejects an unknown flag and a second topic with exit 2', () => {
    const flag = cli(['explain', '--bogus']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('E_USAGE');
    const two = cli(['explain', 'refused', 'abort']);
    expect(two.code).toBe(2);
    expect(two.stderr).toContain('expected at most one topic');
  });
});

describe('docs/explain.md', () => {
  const DOC = `${ROOT}docs/explain.md`;
  const BEGIN = '<!-- topics:begin (generated from src/model/explain.ts by test/unit/explain.test.ts) -->';
  const END = '<!-- topics:end -->';

  const table = (): string =>
    [
      '| topic | aliases | summary |',
      '|---|---|---|',
      ...TOPICS.map(
        (t) =>
          `| \`${t.id}\` | ${t.aliases.map((a) => `\`${a}\``).join(', ')} | ${t.summary.replaceAll('|', '\\|')} |`,
      ),
    ].join('\n');

  it('lists every topic with its aliases and summary (UPDATE_DOCS=1 regenerates the table)', () => {
    const doc = readFileSync(DOC, 'utf8');
    const start = doc.indexOf(BEGIN);
    const end = doc.indexOf(END);
    expect(start, 'begin marker').toBeGreaterThanOrEqual(0);
    expect(end, 'end marker').toBeGreaterThan(start);
    const want = `${BEGIN}\n${table()}\n${END}`;
    const have = doc.slice(start, end + END.length);
    if (process.env.UPDATE_DOCS === '1' && have !== want) {
      writeFileSync(DOC, doc.slice(0, start) + want + doc.slice(end + END.length));
      return;
    }
    expect(have).toBe(want);
    for (const t of TOPICS) expect(doc).toContain(`\`${t.id}\``);
  });
});
