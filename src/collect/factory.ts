/** Build the collectors for this machine: one per network namespace on Linux, netstat on FreeBSD. */

import { RstwatchError } from '../internal/errors.js';
import { runCommand } from '../internal/run.js';
import { type Os, sanitizeId } from '../model/charts.js';
import { LinuxCollector } from './linux.js';
import { parseNetnsSpec } from './netns.js';
import type { Collector, CommandRunner } from './types.js';

export interface CollectorOptions {
  os?: Os;
  procRoot?: string;
  /** Extra namespaces (`NAME`, `/path`, `pid:N`); the host's is always first. */
  netns?: readonly string[];
  netnsDir?: string;
  runner?: CommandRunner;
  netstatPath?: string;
  sysctlPath?: string;
}

export function detectOs(): Os {
  return process.platform === 'freebsd' ? 'freebsd' : 'linux';
}

export function parseOs(text: string): Os {
  if (text === 'linux' || text === 'freebsd') return text;
  throw new RstwatchError('E_USAGE', `--os must be linux or freebsd, not ${JSON.stringify(text)}`);
}

export async function createCollectors(opts: CollectorOptions = {}): Promise<Collector[]> {
  const os = opts.os ?? detectOs();
  if (os === 'freebsd') {
    if ((opts.netns ?? []).length > 0) {
      throw new RstwatchError(
        'E_NETNS_UNSUPPORTED',
        '--netns is for Linux network namespaces; FreeBSD VNET jails are not supported yet',
      );
    }
    // Loaded on demand: Linux never pays for the FreeBSD parser.
    const { FreeBsdCollector } = await import('./freebsd.js');
    const fopts: ConstructorParameters<typeof FreeBsdCollector>[0] = { runner: opts.runner ?? runCommand };
    if (opts.netstatPath !== undefined) fopts.netstatPath = opts.netstatPath;
    if (opts.sysctlPath !== undefined) fopts.sysctlPath = opts.sysctlPath;
    return [new FreeBsdCollector(fopts)];
  }
  const specs = ['host', ...(opts.netns ?? [])].map(parseNetnsSpec);
  const seen = new Set<string>();
  const ids = new Map<string, string>();
  const collectors: Collector[] = [];
  for (const spec of specs) {
    if (seen.has(spec.label)) continue;
    seen.add(spec.label);
    // Chart ids keep [A-Za-z0-9_] only: two labels that map to one id would share (and lose) series.
    const id = sanitizeId(spec.label);
    const clash = ids.get(id);
    if (clash !== undefined) {
      throw new RstwatchError(
        'E_NETNS_SPEC',
        `--netns ${spec.label} and ${clash} would share the chart type netns_${id}; rename one of the namespaces`,
      );
    }
    ids.set(id, spec.label);
    const lopts: ConstructorParameters<typeof LinuxCollector>[0] = { netns: spec };
    if (opts.procRoot !== undefined) lopts.procRoot = opts.procRoot;
    if (opts.netnsDir !== undefined) lopts.netnsDir = opts.netnsDir;
    collectors.push(new LinuxCollector(lopts));
  }
  return collectors;
}
