/**
 * src/model/explain.ts, loaded when first needed rather than with the page: its texts are a third of the
 * bundle, and the charts should not wait for them (bench/dashboard-cost.mjs measures the first render).
 * esbuild puts it in its own chunk (web/build.mjs, `splitting`).
 */

import type { Topic } from '../../src/model/explain.js';

export type { Topic };

let loading: Promise<(idOrAlias: string) => Topic | undefined> | undefined;

/** `findTopic` from explain.ts, once loaded. */
export function loadExplain(): Promise<(idOrAlias: string) => Topic | undefined> {
  loading ??= import('../../src/model/explain.js').then((m) => m.findTopic);
  return loading;
}
