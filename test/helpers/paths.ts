import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const FIXTURES = `${ROOT}test/fixtures`;
export const BIN = `${ROOT}bin/rstwatch.js`;
export const SHARED = `${ROOT}../shared`;

/** Run the built CLI (npm test builds first) and capture everything. */
export function cli(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...opts.env },
    timeout: opts.timeoutMs ?? 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** In CI (CI=true) a missing capability is a failure, not a skip: the machine there has it. */
export function requireCapability(ok: boolean, what: string): void {
  if (!ok && process.env.CI) throw new Error(`CI machine lacks ${what}: this test must run there`);
}
