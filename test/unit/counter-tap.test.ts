/**
 * The counter tap (src/server/counter-tap.ts) remembers what each wrapped collector returned, on both of its
 * read paths: the promise one, and the synchronous one the sampler prefers when a collector has it.
 */
import { describe, expect, it } from 'vitest';
import type { Collector, CollectResult } from '../../src/collect/types.js';
import { CounterTap } from '../../src/server/counter-tap.js';

function collector(netns: string, sync: boolean): Collector & { reads: number } {
  const c = {
    netns,
    source: 'linux-proc' as const,
    reads: 0,
    describe: () => netns,
    close: async () => {},
    read(): CollectResult {
      c.reads++;
      return { source: 'linux-proc', netns, counters: { OutRsts: 10 * c.reads }, problems: [] };
    },
    collect: async (): Promise<CollectResult> => c.read(),
  };
  return sync ? Object.assign(c, { collectSync: () => c.read() }) : c;
}

describe('CounterTap.wrap', () => {
  it('records reads made through collectSync, and offers collectSync only when the collector has it', async () => {
    let now = 1_000_000;
    const tap = new CounterTap({ now: () => now });
    const s = tap.wrap(collector('host', true));
    const a = tap.wrap(collector('web', false));
    expect(s.collectSync).toBeTypeOf('function');
    expect(a.collectSync).toBeUndefined();
    expect(s.collectSync!().counters).toEqual({ OutRsts: 10 });
    now += 1000;
    expect(s.collectSync!().counters).toEqual({ OutRsts: 20 });
    await a.collect();
    expect(tap.latest('host')).toMatchObject({ wallMs: 1_001_000, counters: { OutRsts: 20 } });
    expect(tap.latest('web')?.counters).toEqual({ OutRsts: 10 });
    expect(tap.netnsList().sort()).toEqual(['host', 'web']);
  });

  it('an empty read (nothing could be read, and a problem says why) is not a snapshot', () => {
    const tap = new CounterTap();
    const problem = { code: 'E_PROC_MISSING', message: 'cannot read: ENOENT', severity: 'error' as const };
    tap.record({ source: 'linux-proc', netns: 'host', counters: {}, problems: [problem] });
    expect(tap.latest('host')).toBeUndefined();
    tap.record({ source: 'linux-proc', netns: 'host', counters: { OutRsts: 1 }, problems: [problem] });
    expect(tap.latest('host')?.counters).toEqual({ OutRsts: 1 });
  });
});
