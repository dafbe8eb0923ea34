/**
 * Command dispatch. Each command is a module `src/cli/<name>.ts` exporting `run(argv, io)`, imported only
 * when asked for. Exit codes: 0 ok, 1 findings (doctor/health check), 2 usage or configuration error,
 * 3 runtime error with a stable code, 70 internal error (a bug: please report); 141 (bin/rstwatch.js) the
 * reader of standard output went away.
 */

import { readFileSync } from 'node:fs';
import { formatProblem, RstwatchError } from '../internal/errors.js';

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  /** Whether stdout is a terminal (colours, `--watch` redraws). */
  isTty: boolean;
}

export const stdio: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  isTty: Boolean(process.stdout.isTTY),
};

interface CommandInfo {
  summary: string;
  load: () => Promise<{ run: (argv: string[], io: Io) => Promise<number> }>;
}

const COMMANDS: Record<string, CommandInfo> = {
  agent: {
    summary: 'the daemon: counters every second, history, alerts, who and why, API, dashboard, notifications',
    load: () => import('./agent.js'),
  },
  status: {
    summary: 'current reset rates and every reset-related counter, without an agent',
    load: () => import('./status.js'),
  },
  alerts: {
    summary: "the agent's alert states and alert log; silence or disable alerts",
    load: () => import('./alerts.js'),
  },
  notify: {
    summary: 'check notification routes, send a test through a role, show the notification queue',
    load: () => import('./notify.js'),
  },
  health: {
    summary: 'check alert configuration files (Netdata health format): every problem with file:line',
    load: () => import('./health.js'),
  },
  syncookies: {
    summary: 'check, enable or disable SYN cookies, and persist the setting (Linux, FreeBSD)',
    load: () => import('./syncookies.js'),
  },
  doctor: {
    summary: 'check the settings and counters that explain resets, and say what to change',
    load: () => import('./doctor.js'),
  },
  explain: {
    summary: 'what a TCP reset is, each cause in plain language, and what to do',
    load: () => import('./explain.js'),
  },
  analyze: {
    summary: 'read a pcap/pcapng capture, classify and explain every reset',
    load: () => import('./analyze.js'),
  },
  capture: {
    summary: 'capture every TCP reset with tcpdump, bounded in time and size, then analyse it',
    load: () => import('./capture.js'),
  },
};

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    return pkg.version;
  } catch {
    return 'unknown';
  }
}

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `rstwatch ${version()} — watch, attribute and explain TCP resets

Usage: rstwatch <command> [options]

Commands:
${lines.join('\n')}

Run \`rstwatch <command> --help\` for a command's options.
`;
}

export async function main(argv: string[], io: Io = stdio): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    io.out(usage());
    return cmd === undefined ? 2 : 0;
  }
  if (cmd === '--version' || cmd === '-V') {
    io.out(`${version()}\n`);
    return 0;
  }
  const info = COMMANDS[cmd];
  if (!info) {
    io.err(`rstwatch: unknown command "${cmd}"\n\n${usage()}`);
    return 2;
  }
  try {
    const mod = await info.load();
    return await mod.run(rest, io);
  } catch (err) {
    if (err instanceof RstwatchError) {
      io.err(`rstwatch ${cmd}: ${formatProblem(err.toProblem())}\n`);
      if (err.hint) io.err(`  hint: ${err.hint}\n`);
      return err.code.startsWith('E_USAGE') || err.code.startsWith('E_CONFIG') || err.code === 'E_NETNS_SPEC'
        ? 2
        : 3;
    }
    throw err;
  }
}
