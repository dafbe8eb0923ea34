/** Every fuzz target, in the order `npm run fuzz` runs them. */
import type { FuzzTarget } from '../engine/target.js';
import { analyzeTarget } from './analyze.js';
import { tracefsFormatTarget, tracefsPageTarget } from './attribute.js';
import { decodeTarget, pcapngTarget, pcapTarget, readerTarget } from './capture.js';
import { freebsdTarget, procTarget } from './collect.js';
import { agentConfigTarget, notifyConfigTarget, sysctlConfTarget } from './config.js';
import { exprTarget, healthConfigTarget, healthPartsTarget } from './health.js';
import { apiHttpTarget, apiQueryTarget } from './server.js';

export const TARGETS: readonly FuzzTarget[] = [
  pcapTarget,
  pcapngTarget,
  readerTarget,
  decodeTarget,
  analyzeTarget,
  healthConfigTarget,
  healthPartsTarget,
  exprTarget,
  procTarget,
  freebsdTarget,
  tracefsFormatTarget,
  tracefsPageTarget,
  sysctlConfTarget,
  notifyConfigTarget,
  agentConfigTarget,
  apiQueryTarget,
  apiHttpTarget,
];
