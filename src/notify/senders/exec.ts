/**
 * exec: run a script with the 33 positional arguments Netdata gives alarm-notify.sh
 * (netdata-health-semantics.md §3.8), so scripts written for Netdata keep working unchanged.
 *
 * Unlike Netdata, which builds a shell command line with single-quoted, sanitised arguments, the script is
 * spawned with an argv and no shell: an alert's info text can never become a command. Output is captured
 * (bounded) for the log; a script running past its timeout gets SIGTERM, then SIGKILL two seconds later.
 */

import { spawn } from 'node:child_process';
import { formatValue, valueString } from '../message.js';
import type { ExecMethod, NotifyEvent, Sender, SendResult } from '../types.js';

const MAX_OUTPUT_BYTES = 16 * 1024;

/** The edit command of $27: where the alert is configured (Netdata prints its edit-config line here). */
function editCommand(source: string): string {
  const m = /^line=(\d+),file=(.*)$/.exec(source);
  return m ? `sudo editor +${m[1]} ${m[2]}` : '';
}

/** alarm-notify.sh's $1 … $33, in order. */
export function execArgs(e: NotifyEvent): string[] {
  return [
    e.recipient, // 1 roles
    e.host, // 2 hostname
    String(e.uniqueId), // 3 unique id
    String(e.alarmId), // 4 alarm id
    String(e.alarmEventId), // 5 alarm event id
    String(e.when), // 6 when (epoch s)
    e.name, // 7 alert name
    e.chart, // 8 chart id
    e.status, // 9 new status
    e.oldStatus, // 10 old status
    formatValue(e.value), // 11 new value
    formatValue(e.oldValue), // 12 old value
    e.source, // 13 source
    String(e.durationSeconds), // 14 duration
    String(e.nonClearDurationSeconds), // 15 non-clear duration
    e.units, // 16 units
    e.info, // 17 info
    valueString(e.value, e.units), // 18 new value string
    valueString(e.oldValue, e.units), // 19 old value string
    e.expression, // 20 warn/crit expression source
    e.trace, // 21 evaluation trace
    String(e.otherWarnings.length), // 22 other WARNING alerts
    String(e.otherCriticals.length), // 23 other CRITICAL alerts
    e.otherWarnings.join(','), // 24 WARNING list
    e.otherCriticals.join(','), // 25 CRITICAL list
    e.classification || 'Unknown', // 26 class
    editCommand(e.source), // 27 edit command
    e.machineGuid, // 28 machine GUID
    e.transitionId, // 29 transition id
    e.summary || e.name, // 30 summary
    e.context, // 31 context
    e.component, // 32 component
    e.type, // 33 type
  ];
}

export function execSender(m: ExecMethod): Sender {
  return {
    send(event: NotifyEvent, signal: AbortSignal): Promise<SendResult> {
      return new Promise<SendResult>((resolve) => {
        let output = '';
        let settled = false;
        let timedOut = false;
        const finish = (r: SendResult) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          clearTimeout(killTimer);
          signal.removeEventListener('abort', onAbort);
          resolve(r);
        };
        const child = spawn(m.command, execArgs(event), {
          stdio: ['ignore', 'pipe', 'pipe'],
          shell: false,
          env: { ...process.env, RSTWATCH_TRANSITION_ID: event.transitionId, RSTWATCH_METHOD: m.name },
        });
        const keep = (d: Buffer) => {
          if (output.length < MAX_OUTPUT_BYTES) output += d.toString('utf8');
        };
        child.stdout.on('data', keep);
        child.stderr.on('data', keep);
        let killTimer: NodeJS.Timeout | undefined;
        const terminate = () => {
          child.kill('SIGTERM');
          killTimer = setTimeout(() => child.kill('SIGKILL'), 2000);
        };
        const timer = setTimeout(() => {
          timedOut = true;
          terminate();
        }, m.timeoutMs);
        const onAbort = () => terminate();
        signal.addEventListener('abort', onAbort, { once: true });
        child.on('error', (err: NodeJS.ErrnoException) => {
          // ENOENT / EACCES: the command is wrong; running it again will not help.
          finish({ ok: false, retry: false, error: `cannot run ${m.command}: ${err.code ?? err.message}` });
        });
        child.on('close', (code, sig) => {
          const tail = output.trim().slice(-300);
          if (timedOut) {
            finish({
              ok: false,
              retry: true,
              error: `${m.command} ran longer than ${m.timeoutMs} ms; killed`,
            });
          } else if (code === 0) {
            finish({ ok: true, detail: tail });
          } else if (code === null) {
            finish({ ok: false, retry: true, error: `${m.command} killed by ${sig ?? 'a signal'}` });
          } else {
            finish({
              ok: false,
              retry: m.retryExitCodes.includes(code),
              error: `${m.command} exited with ${code}${tail ? `: ${tail}` : ''}`,
            });
          }
        });
      });
    },
  };
}
