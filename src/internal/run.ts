/**
 * The real CommandRunner: spawn with an argument list, no shell, bounded output and time. A bare program name
 * is looked up on a safe reading of PATH (which.ts): never in the current directory, and as root never in a
 * directory another user can write.
 */

import { spawn } from 'node:child_process';
import type { CommandResult, CommandRunner } from '../collect/types.js';
import { findProgram } from './which.js';

const MAX_OUTPUT_BYTES = 8 * 1024 * 1024;

export const runCommand: CommandRunner = (cmd, args, opts = {}) =>
  new Promise<CommandResult>((resolve) => {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    let stdout = '';
    let stderr = '';
    let settled = false;
    const finish = (r: CommandResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const file = findProgram(cmd);
    if (file === undefined) {
      // What spawn says for a program it cannot find, so callers' fallbacks work unchanged.
      resolve({ code: null, stdout: '', stderr: '', error: `spawn ${cmd} ENOENT` });
      return;
    }
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], shell: false });
    } catch (err) {
      resolve({ code: null, stdout: '', stderr: '', error: String(err) });
      return;
    }
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish({ code: null, stdout, stderr, error: `timed out after ${timeoutMs} ms` });
    }, timeoutMs);
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (d: string) => {
      if (stdout.length < MAX_OUTPUT_BYTES) stdout += d;
    });
    child.stderr?.on('data', (d: string) => {
      if (stderr.length < MAX_OUTPUT_BYTES) stderr += d;
    });
    child.on('error', (err) => finish({ code: null, stdout, stderr, error: err.message }));
    child.on('close', (code) => finish({ code, stdout, stderr }));
  });
