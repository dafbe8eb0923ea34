/**
 * `rstwatch analyze --json`: a versioned, documented schema (docs/analyze.md, "JSON schema").
 *
 * schemaVersion 1. Additive changes (new fields) keep the version; renaming, removing or changing the meaning
 * of a field bumps it. Key order is fixed here, so the output is stable for goldens and diffs.
 */

import type { AnalysisReport } from '../analyze/analyze.js';

export const SCHEMA_VERSION = 1;

export interface AnalysisJson {
  schemaVersion: 1;
  tool: { name: 'rstwatch'; version: string };
  source: string;
  capture: AnalysisReport['capture'];
  summary: AnalysisReport['summary'];
  causes: AnalysisReport['causes'];
  top: AnalysisReport['top'];
  timeline: AnalysisReport['timeline'];
  findings: AnalysisReport['findings'];
  connections: AnalysisReport['connections'];
  connectionsOmitted: number;
}

export function analysisJson(r: AnalysisReport, version: string): AnalysisJson {
  return {
    schemaVersion: SCHEMA_VERSION,
    tool: { name: 'rstwatch', version },
    source: r.source,
    capture: {
      format: r.capture.format,
      variant: r.capture.variant,
      partial: r.capture.partial,
      bytes: r.capture.bytes,
      problems: r.capture.problems.map((p) => ({
        code: p.code,
        message: p.message,
        severity: p.severity,
        offset: p.offset,
      })),
      interfaces: r.capture.interfaces,
      drops: r.capture.drops,
    },
    summary: { ...r.summary },
    causes: r.causes,
    top: r.top,
    timeline: r.timeline,
    findings: r.findings,
    connections: r.connections,
    connectionsOmitted: r.connectionsOmitted,
  };
}

export function renderJson(r: AnalysisReport, version: string): string {
  return `${JSON.stringify(analysisJson(r, version), null, 2)}\n`;
}
