/** Network namespaces made by the tests themselves (never touching the host's interfaces). */
import { execFileSync, spawnSync } from 'node:child_process';
import { requireCapability } from './paths.js';

export function canMakeNetns(): boolean {
  if (process.getuid?.() !== 0) return false;
  return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).status === 0;
}

/** Checks the capability; in CI its absence fails the run instead of skipping. */
export function netnsAvailable(): boolean {
  const ok = canMakeNetns();
  requireCapability(ok, 'root and `ip netns` (iproute2)');
  if (!ok) console.warn('SKIPPED: network-namespace tests need root and iproute2 (they run in CI)');
  return ok;
}

export function createNetns(prefix: string): string {
  const name = `${prefix}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  execFileSync('ip', ['netns', 'add', name]);
  execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

export function deleteNetns(name: string): void {
  spawnSync('ip', ['netns', 'del', name]);
}

/**
 * Make n connection attempts to a closed port on the namespace's loopback, one after another, with a
 * bounded wait each. On loopback every refused connect counts once in AttemptFails (the client's SYN_SENT
 * socket reset) and once in OutRsts (the kernel's RST for the port without a listener).
 */
export function refusedConnects(netns: string, n: number, port = 9): void {
  const script = `
    const net = require('node:net');
    let left = ${n}, refused = 0;
    const next = () => {
      if (left-- === 0) { process.stdout.write(String(refused)); return; }
      const s = net.connect({ host: '127.0.0.1', port: ${port}, timeout: 2000 });
      s.on('error', (e) => { if (e.code === 'ECONNREFUSED') refused++; next(); });
      s.on('timeout', () => { s.destroy(); next(); });
      s.on('connect', () => { s.destroy(); next(); });
    };
    next();`;
  const out = execFileSync('ip', ['netns', 'exec', netns, process.execPath, '-e', script], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (Number(out) !== n) throw new Error(`expected ${n} refused connects in ${netns}, got ${out}`);
}
