/**
 * The agent process against hostile files and hostile configuration text (docs/security.md): its data folder
 * (a folder every user can write, or another user's, is refused; a symbolic link planted as agent.pid is
 * never written through), the health configuration's `exec:` line (recorded like Netdata's, never run), and
 * the exec notification method (argv, no shell: an alert text full of shell syntax arrives as one literal
 * argument and runs nothing). Real agent processes, the built CLI.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, requireCapability } from '../helpers/paths.js';

const isRoot = process.geteuid?.() === 0;
requireCapability(isRoot, 'root (agents with a root-owned data folder, chown to another user)');
if (!isRoot) console.warn('SKIPPED: security-agent tests need root');

const base = mkdtempSync(join(tmpdir(), 'rw-sec-agent-'));
chmodSync(base, 0o755);
afterAll(() => rmSync(base, { recursive: true, force: true }));

/** Run an agent until `done(stderr)` is true or `ms` pass, then SIGTERM it; resolve with what it said. */
async function runAgent(
  args: string[],
  done: (stderr: string) => boolean,
  ms = 30_000,
): Promise<{ stderr: string; code: number | null }> {
  const child: ChildProcess = spawn(process.execPath, [BIN, 'agent', '--listen', 'none', ...args], {
    env: { PATH: process.env.PATH, HOME: '/nonexistent' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const end = Date.now() + ms;
  while (Date.now() < end && child.exitCode === null && !done(stderr)) {
    await new Promise((r) => setTimeout(r, 100));
  }
  if (child.exitCode === null) child.kill('SIGTERM');
  const code = await exited;
  return { stderr, code };
}

const started = (s: string) => s.includes('rstwatch agent started');
const common = ['--attribution', 'no', '--notify-config', '/nonexistent/notify.conf'];

describe.skipIf(!isRoot)('the data folder', () => {
  it('a folder every user can write is refused before anything is written in it', async () => {
    const dir = join(base, 'world');
    mkdirSync(dir);
    chmodSync(dir, 0o1777);
    const r = await runAgent(['--data-dir', dir, ...common.slice(0, 2)], started, 15_000);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/E_DATA_DIR.*writable by every user/);
    expect(existsSync(join(dir, 'agent.pid'))).toBe(false);
    expect(existsSync(join(dir, 'history.db'))).toBe(false);
  });

  it("another user's folder is refused (its owner could swap the files root writes)", async () => {
    const dir = join(base, 'nobodys');
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, 65534, 65534);
    const r = await runAgent(['--data-dir', dir, ...common.slice(0, 2)], started, 15_000);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/E_DATA_DIR.*belongs to uid 65534/);
    expect(existsSync(join(dir, 'history.db'))).toBe(false);
  });

  it('a symbolic link planted as agent.pid is replaced, the file it points to is untouched', async () => {
    const dir = join(base, 'own');
    mkdirSync(dir, { mode: 0o750 });
    const victim = join(base, 'victim');
    writeFileSync(victim, 'precious\n');
    symlinkSync(victim, join(dir, 'agent.pid'));
    const r = await runAgent(['--data-dir', dir, ...common.slice(0, 2)], started);
    expect(r.stderr).toMatch(/rstwatch agent started/);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(r.code).toBe(0);
    // A fresh folder is the agent's own: 0750, the token 0600.
    expect(statSync(dir).mode & 0o777).toBe(0o750);
  });

  it('a new data folder is created 0750 and the API token 0600', async () => {
    const dir = join(base, 'fresh', 'data');
    mkdirSync(join(base, 'fresh'));
    const r = await runAgent(['--data-dir', dir, '--attribution', 'no', '--listen', '127.0.0.1:0'], (s) =>
      s.includes('API listening'),
    );
    expect(r.stderr).toMatch(/API listening/);
    expect(statSync(dir).mode & 0o777).toBe(0o750);
    expect(statSync(join(dir, 'api.token')).mode & 0o777).toBe(0o600);
  });
});

describe.skipIf(!isRoot)('alert text and commands from configuration files', () => {
  it("health's exec: is recorded but never run; the exec method gets the alert's text as one literal argument", async () => {
    const dir = join(base, 'notify');
    const data = join(dir, 'data');
    const health = join(dir, 'health.d');
    mkdirSync(health, { recursive: true });
    const neverRun = join(dir, 'exec-line-ran');
    const injected = join(dir, 'injected');
    const argsFile = join(dir, 'args');
    // The health file's exec: names a script that would leave a marker; Netdata would run it per alert.
    const execLine = join(dir, 'exec-line.sh');
    writeFileSync(execLine, `#!/bin/sh\ntouch ${neverRun}\n`, { mode: 0o755 });
    chmodSync(execLine, 0o755);
    // The notification method's script records its arguments, NUL-separated.
    const recorder = join(dir, 'record.sh');
    writeFileSync(recorder, `#!/bin/sh\nprintf '%s\\0' "$@" >> ${argsFile}\n`, { mode: 0o755 });
    chmodSync(recorder, 0o755);
    const info = `probe; touch ${injected} && echo $(touch ${injected}) \`touch ${injected}\` | "x' > ${injected}`;
    writeFileSync(
      join(health, 'probe.conf'),
      [
        ' alarm: sec_exec_probe',
        '    on: ip.tcphandshake',
        '  calc: 1',
        ' every: 1s',
        '  warn: $this > 0',
        `  exec: ${execLine}`,
        '    to: secprobe',
        `  info: ${info}`,
        '',
      ].join('\n'),
    );
    const notify = join(dir, 'notify.conf');
    writeFileSync(
      notify,
      `[role secprobe]\nmethods = rec\n\n[method rec]\ntype = exec\ncommand = ${recorder}\n`,
    );
    const r = await runAgent(
      ['--data-dir', data, '--health-dir', health, '--notify-config', notify, '--attribution', 'no'],
      () => existsSync(argsFile) && readFileSync(argsFile, 'utf8').includes('sec_exec_probe'),
    );
    expect(r.stderr).toMatch(/ALERT 'sec_exec_probe' of 'ip.tcphandshake': \S+ → WARNING/);
    const args = readFileSync(argsFile, 'utf8').split('\0');
    const at = args.indexOf('sec_exec_probe');
    expect(at).toBe(6); // $7, alert name (alarm-notify.sh's order)
    // $17, info: as written (the health parser turns quotes into spaces, as Netdata's does), one argument.
    expect(args[at + 10]).toBe(info.replace(/["']/g, ' '));
    expect(existsSync(neverRun)).toBe(false);
    expect(existsSync(injected)).toBe(false);
    // The alert log keeps the exec line, as Netdata's does (alarm_log's "exec").
    const log = spawnSync(process.execPath, [BIN, 'alerts', '--log', '--json', '--data-dir', data], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(log.stdout).toContain(execLine);
  });
});
