/**
 * What the reports say about each cause, taken from the one source of truth, src/model/explain.ts: the topic's
 * title, its one-sentence summary and its next steps. The reports never carry their own copy of that prose, so
 * `rstwatch explain`, the alerts, the dashboard and the analyzer's reports say the same thing.
 */

import { findTopic } from '../model/explain.js';

export interface TopicAdvice {
  id: string;
  title: string;
  summary: string;
  /** The topic's "what to do" steps that make sense after an analysis (see `nextSteps`). */
  steps: string[];
  /** The command that prints the whole topic. */
  command: string;
}

/**
 * Steps that tell the reader to capture and then run `rstwatch analyze` are what they just did: after an
 * analysis the useful steps are the others (check the listener, the sysctl, the queue…).
 */
function usefulAfterAnalysis(step: string): boolean {
  return !/rstwatch (analyze|capture)\b/.test(step);
}

/** The advice for a topic id; an unknown id (a mismatch between causes.ts and explain.ts) yields a bare entry. */
export function topicAdvice(topicId: string): TopicAdvice {
  const t = findTopic(topicId);
  if (t === undefined)
    return { id: topicId, title: topicId, summary: '', steps: [], command: `rstwatch explain ${topicId}` };
  const steps = t.whatToDo.filter(usefulAfterAnalysis);
  return {
    id: t.id,
    title: t.title,
    summary: t.summary,
    steps: steps.length > 0 ? steps : [...t.whatToDo],
    command: `rstwatch explain ${t.id}`,
  };
}

/** Unique topic ids in first-seen order (causes come sorted by count, so the biggest cause's topic first). */
export function topicsOf(items: readonly { topic: string }[]): string[] {
  return [...new Set(items.map((i) => i.topic))];
}
