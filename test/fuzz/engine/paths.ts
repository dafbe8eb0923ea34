/** Where things are: the repository, the shared capture corpus, and files used as seeds where they lie. */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');
export const FIXTURES = join(REPO, 'test', 'fixtures');
export const CORPUS = join(REPO, '..', 'shared', 'corpus', 'tcpdump-tests');
/** Netdata's stock alerts, read in place as seeds and never copied into the repository (GPL). */
export const NETDATA_HEALTH = '/usr/lib/netdata/conf.d/health.d';

/** Files under dir (recursively) whose name passes `keep`, sorted; [] when dir does not exist. */
export function listFiles(dir: string, keep: (name: string) => boolean = () => true): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && keep(name)) out.push(p);
    }
  };
  walk(dir);
  return out;
}

export function readSeed(path: string, maxLen: number): Uint8Array {
  const b = readFileSync(path);
  return new Uint8Array(b.buffer, b.byteOffset, Math.min(b.length, maxLen)).slice();
}
