/**
 * Every fuzz target, in the order `npm run fuzz` runs them. Loaded on demand: a worker imports only its own
 * target's modules, so a file of another area that is half-way through an edit cannot stop the others.
 */
import type { FuzzTarget } from '../engine/target.js';

export interface TargetEntry {
  name: string;
  load(): Promise<FuzzTarget>;
}

export const TARGETS: readonly TargetEntry[] = [
  { name: 'pcap', load: async () => (await import('./capture.js')).pcapTarget },
  { name: 'pcapng', load: async () => (await import('./capture.js')).pcapngTarget },
  { name: 'reader', load: async () => (await import('./capture.js')).readerTarget },
  { name: 'decode', load: async () => (await import('./capture.js')).decodeTarget },
  { name: 'analyze', load: async () => (await import('./analyze.js')).analyzeTarget },
  { name: 'health-config', load: async () => (await import('./health.js')).healthConfigTarget },
  { name: 'health-run', load: async () => (await import('./health.js')).healthRunTarget },
  { name: 'health-parts', load: async () => (await import('./health.js')).healthPartsTarget },
  { name: 'expr', load: async () => (await import('./health.js')).exprTarget },
  { name: 'proc', load: async () => (await import('./collect.js')).procTarget },
  { name: 'freebsd', load: async () => (await import('./collect.js')).freebsdTarget },
  { name: 'tracefs-format', load: async () => (await import('./attribute.js')).tracefsFormatTarget },
  { name: 'tracefs-page', load: async () => (await import('./attribute.js')).tracefsPageTarget },
  { name: 'sysctl-conf', load: async () => (await import('./config.js')).sysctlConfTarget },
  { name: 'notify-config', load: async () => (await import('./config.js')).notifyConfigTarget },
  { name: 'agent-config', load: async () => (await import('./config.js')).agentConfigTarget },
  { name: 'api-query', load: async () => (await import('./server.js')).apiQueryTarget },
  { name: 'api-http', load: async () => (await import('./server.js')).apiHttpTarget },
];
