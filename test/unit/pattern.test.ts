import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compileSimplePattern,
  DIMENSION_SEPARATORS,
  DISABLED_LABEL_FILTER,
  globMatches,
  labelFilterMatches,
  labelTokens,
  parseLabelFilter,
} from '../../src/health/pattern.js';

describe('globMatches()', () => {
  it.each([
    ['abc', 'abc', true],
    ['abc', 'abcd', false],
    ['*', 'anything', true],
    ['a*', 'abc', true],
    ['a*', 'ba', false],
    ['*c', 'abc', true],
    ['*b*', 'abc', true],
    ['*b*', 'ac', false],
    ['a*c', 'abbbc', true],
    ['a*c', 'ac', true],
    ['a*b*c', 'axbyc', true],
    ['a*b*c', 'acb', false],
    ['ab*ba', 'aba', false], // prefix and suffix may not overlap
    ['ab*ba', 'abba', true],
    ['*a*a*', 'aa', true],
    ['*a*a*', 'a', false],
    ['eth*', 'eth0', true],
    ['Eth*', 'eth0', false],
  ])('%j against %j is %s', (glob, s, want) => {
    expect(globMatches(glob, s)).toBe(want);
  });

  it('can ignore case', () => {
    expect(globMatches('Eth*', 'ETH0', false)).toBe(true);
  });

  it('agrees with a regular expression built from the glob', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[ab*]{0,8}$/), fc.stringMatching(/^[ab]{0,10}$/), (glob, s) => {
        const re = new RegExp(`^${glob.replace(/\*+/g, '.*')}$`);
        expect(globMatches(glob.replace(/\*+/g, '*'), s)).toBe(re.test(s));
      }),
    );
  });
});

describe('compileSimplePattern()', () => {
  it.each([
    // first match decides, positive or negative; none → undefined
    ['*', 'x', true],
    ['!*', 'x', false],
    ['eth*', 'lo', undefined],
    ['eth* !*', 'lo', false],
    ['!eth1 eth*', 'eth1', false],
    ['!eth1 eth*', 'eth0', true],
    ['eth* !eth1', 'eth1', true], // the positive one comes first
    ['!*.tmp *', 'a.tmp', false],
    ['!*.tmp *', 'a.txt', true],
    ['  a   b  ', 'b', true],
    ['a\\ b', 'a b', true], // a backslash escapes a separator
    ['a\\ b', 'a', undefined],
    ['a**b', 'aXb', true], // consecutive asterisks are one
    ['', 'x', undefined],
    ['!', 'x', undefined],
    ['*', '', undefined], // the empty string never matches
  ])('%j matches %j → %s', (pattern, s, want) => {
    expect(compileSimplePattern(pattern).matches(s)).toBe(want);
  });

  it('splits dimension patterns on , | and control whitespace but not on spaces', () => {
    const p = compileSimplePattern('user,system|irq\tsoft irq', DIMENSION_SEPARATORS);
    expect(p.alternatives.map((a) => a.glob)).toEqual(['user', 'system', 'irq', 'soft irq']);
    expect(p.matches('soft irq')).toBe(true);
    expect(p.matches('soft')).toBeUndefined();
    const neg = compileSimplePattern('!success,*', DIMENSION_SEPARATORS);
    expect(neg.matches('success')).toBe(false);
    expect(neg.matches('failed')).toBe(true);
  });

  it('is case-sensitive unless asked', () => {
    expect(compileSimplePattern('Used').matches('used')).toBeUndefined();
    expect(compileSimplePattern('Used', undefined, { caseSensitive: false }).matches('used')).toBe(true);
  });
});

describe('parseLabelFilter()', () => {
  it.each([
    ['', []],
    ['*', []],
    ['  *  ', []],
    ['!*', DISABLED_LABEL_FILTER],
    ['!* *', DISABLED_LABEL_FILTER],
    ['_os=linux', [{ key: '_os', patterns: 'linux' }]],
    ['_os=linux freebsd', [{ key: '_os', patterns: 'linux freebsd' }]],
    ['_os = linux', [{ key: '_os', patterns: 'linux' }]],
    ['_is_k8s_node = false', [{ key: '_is_k8s_node', patterns: 'false' }]],
    [
      '_os=linux _hostname=!db* *',
      [
        { key: '_os', patterns: 'linux' },
        { key: '_hostname', patterns: '!db* *' },
      ],
    ],
    [
      '_os=linux a=b _os=freebsd',
      [
        { key: '_os', patterns: 'linux freebsd' },
        { key: 'a', patterns: 'b' },
      ],
    ],
  ])('%j → %j', (text, want) => {
    expect(parseLabelFilter(text)).toEqual(want);
  });

  it('tokens without a key before them are marked keyless', () => {
    expect(labelTokens('linux _os=freebsd macos').map((t) => [t.key, t.pattern, t.keyless])).toEqual([
      ['', 'linux', true],
      ['_os', 'freebsd', false],
      ['_os', 'macos', false],
    ]);
  });
});

describe('labelFilterMatches()', () => {
  const linux = { _os: 'linux', _hostname: 'web1' };
  const freebsd = { _os: 'freebsd', _hostname: 'db1' };
  const macos = { _os: 'macos', _hostname: 'laptop' };
  const f = parseLabelFilter;

  it.each([
    // same key: alternatives (OR)
    ['_os=linux freebsd', linux, true],
    ['_os=linux freebsd', freebsd, true],
    ['_os=linux freebsd', macos, false],
    ['_os=linux', freebsd, false],
    // no filter / disabled
    ['*', macos, true],
    ['', macos, true],
    ['!*', linux, false],
    ['!* *', linux, false],
    // negation: the first pattern that matches decides
    ['_os=!macos *', macos, false],
    ['_os=!macos *', linux, true],
    ['_os=* !macos', macos, true], // `*` comes first and matches
    ['_os=!macos', linux, false], // nothing matched positively
    // different keys: all must pass (AND)
    ['_os=linux _hostname=web*', linux, true],
    ['_os=linux _hostname=db*', linux, false],
    ['_os=linux freebsd _hostname=db*', freebsd, true],
    // wildcards in values
    ['_hostname=*1', freebsd, true],
    ['_hostname=lap*', macos, true],
  ])('%j with %j → %s', (filter, labels, want) => {
    expect(labelFilterMatches(f(filter), labels)).toBe(want);
  });

  it('fails when the host lacks the label', () => {
    expect(labelFilterMatches(f('_os=linux'), {})).toBe(false);
    expect(labelFilterMatches(f('_os=*'), { other: 'x' })).toBe(false);
  });

  it('passes an empty filter even without labels', () => {
    expect(labelFilterMatches([], {})).toBe(true);
  });

  it('never passes the disabled filter', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.string()), (labels) => {
        expect(labelFilterMatches(DISABLED_LABEL_FILTER, labels)).toBe(false);
      }),
    );
  });
});
