/** notify.conf: sections, every method type, problems with positions, and routing like Netdata's roles. */
import { describe, expect, it } from 'vitest';
import { parseDurationMs, parseNotifyConfig, route } from '../../src/notify/config.js';

const GOOD = `# routes
[notify]
hostname = web-1
concurrency = 2
retry first = 2s
retry max = 5m
give up after = 12h
command = sudo rstwatch

[role sysadmin]
methods = am mail|critical chat|nowarn

[role dba]
methods = hook, script|noclear

[role default]
methods = script

[method am]
type = alertmanager
url = http://127.0.0.1:9093/
resend every = 30s
label = team=net env=prod

[method mail]
type = email
smtp host = 127.0.0.1
smtp port = 2525
security = none
from = rstwatch@web-1.example
to = ops@example.com, oncall@example.com

[method chat]
type = slack
url = https://hooks.example.com/services/T/B/X
channel = #ops

[method hook]
type = webhook
url = http://127.0.0.1:8080/hook
header = Authorization: Bearer abc
timeout = 3s

[method script]
type = exec
command = /usr/lib/netdata/plugins.d/alarm-notify.sh
retry exit codes = 75 69
`;

describe('parseNotifyConfig', () => {
  it('reads every section and method type', () => {
    const { config, problems } = parseNotifyConfig(GOOD, 'notify.conf');
    expect(problems).toEqual([]);
    expect(config).toMatchObject({
      hostname: 'web-1',
      concurrency: 2,
      retryFirstMs: 2000,
      retryMaxMs: 300_000,
      giveUpAfterMs: 43_200_000,
      command: 'sudo rstwatch',
    });
    expect([...config.methods.keys()]).toEqual(['am', 'mail', 'chat', 'hook', 'script']);
    expect(config.methods.get('am')).toMatchObject({
      type: 'alertmanager',
      url: 'http://127.0.0.1:9093',
      resendSeconds: 30,
      labels: { team: 'net', env: 'prod' },
    });
    expect(config.methods.get('mail')).toMatchObject({
      type: 'email',
      host: '127.0.0.1',
      port: 2525,
      security: 'none',
      to: ['ops@example.com', 'oncall@example.com'],
    });
    expect(config.methods.get('hook')).toMatchObject({
      headers: { Authorization: 'Bearer abc' },
      timeoutMs: 3000,
    });
    expect(config.methods.get('script')).toMatchObject({ retryExitCodes: [75, 69], timeoutMs: 30_000 });
    expect(config.roles.get('sysadmin')).toEqual([
      { method: 'am', onlyCritical: false, noWarning: false, noClear: false },
      { method: 'mail', onlyCritical: true, noWarning: false, noClear: false },
      { method: 'chat', onlyCritical: false, noWarning: true, noClear: false },
    ]);
  });

  it.each([
    ['[notfy]\n', 1, 1, 'E_CONFIG_SECTION', /unknown section \[notfy\]/],
    ['[notify\n', 1, 1, 'E_CONFIG_SYNTAX', /without "\]"/],
    ['[notify]\nconcurrency = lots\n', 2, 15, 'E_CONFIG_VALUE', /whole number/],
    ['[notify]\n  retry first = soon\n', 2, 17, 'E_CONFIG_VALUE', /duration/],
    ['[notify]\ncolour = blue\n', 2, 1, 'E_CONFIG_KEY', /unknown setting "colour"/],
    ['[method x]\ntype = pager\n', 2, 8, 'E_CONFIG_VALUE', /type must be one of exec, webhook/],
    ['[method x]\ntype = webhook\nurl = ftp://a/\n', 3, 7, 'E_CONFIG_VALUE', /http:\/\/ or https:\/\//],
    ['[method x]\ntype = webhook\n', 1, 1, 'E_CONFIG_VALUE', /"url" is required/],
    ['[method x]\ntype = exec\ncommand = alarm-notify.sh\n', 3, 11, 'E_CONFIG_VALUE', /absolute path/],
    [
      '[method x]\ntype = webhook\nurl = http://a/\nheader = nocolon\n',
      4,
      10,
      'E_CONFIG_VALUE',
      /Name: value/,
    ],
    ['[role ops]\nmethods = pager\n', 2, 11, 'E_CONFIG_VALUE', /unknown method "pager"/],
    [
      '[role ops]\nmethods = x|loud\n[method x]\ntype = exec\ncommand = /bin/true\n',
      2,
      11,
      'E_CONFIG_VALUE',
      /\|loud/,
    ],
    [
      '[method m]\ntype = email\nsmtp host = h\nfrom = me\nto = you@example.com\n',
      4,
      8,
      'E_CONFIG_VALUE',
      /not an e-mail address: "me"/,
    ],
    ['key = value\n', 1, 1, 'E_CONFIG_SECTION', /outside a section/],
  ])('%j → problem at line %i column %i', (text, line, column, code, message) => {
    const { problems } = parseNotifyConfig(text, 'n.conf');
    expect(problems.length).toBeGreaterThan(0);
    expect(problems[0]).toMatchObject({ code, line, column, file: 'n.conf', severity: 'error' });
    expect(problems[0]!.message).toMatch(message);
  });

  it('reads durations in every unit', () => {
    expect(['500ms', '5', '5s', '2m', '1.5h', '1d', 'x', '5 weeks'].map(parseDurationMs)).toEqual([
      500,
      5000,
      5000,
      120_000,
      5_400_000,
      86_400_000,
      undefined,
      undefined,
    ]);
  });
});

describe('route (roles → methods)', () => {
  const { config } = parseNotifyConfig(GOOD, 'notify.conf');
  it.each([
    ['sysadmin', 'WARNING', 'CLEAR', ['am']],
    ['sysadmin', 'CRITICAL', 'WARNING', ['am', 'mail', 'chat']],
    ['sysadmin', 'CLEAR', 'CRITICAL', ['am', 'mail', 'chat']],
    ['sysadmin', 'CLEAR', 'WARNING', ['am', 'chat']],
    ['dba', 'CLEAR', 'WARNING', ['hook']],
    ['dba', 'WARNING', 'CLEAR', ['hook', 'script']],
    // Several roles: each method once.
    ['sysadmin dba', 'CRITICAL', 'CLEAR', ['am', 'mail', 'chat', 'hook', 'script']],
    // A role without its own section falls back to [role default]; silent and disabled never notify.
    ['webmaster', 'WARNING', 'CLEAR', ['script']],
    ['silent', 'CRITICAL', 'CLEAR', []],
    ['disabled', 'CRITICAL', 'CLEAR', []],
    ['silent sysadmin', 'WARNING', 'CLEAR', ['am']],
  ])('to: %s, %s (from %s) → %j', (to, status, old, expected) => {
    expect(route(config, to, status, old)).toEqual(expected);
  });

  it('routes nowhere without a default role', () => {
    const { config: c } = parseNotifyConfig(
      '[role a]\nmethods = x\n[method x]\ntype = exec\ncommand = /bin/true\n',
      'n',
    );
    expect(route(c, 'b', 'WARNING', 'CLEAR')).toEqual([]);
    expect(route(c, 'a', 'WARNING', 'CLEAR')).toEqual(['x']);
  });
});
