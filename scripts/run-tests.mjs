#!/usr/bin/env node
// Runs the whole suite with vitest and ends with one plain line, `tests: N passed, N failed, N skipped`,
// that CI tools read. A run in which no test executed is a failure, never a silent success.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const out = join(mkdtempSync(join(tmpdir(), 'rstwatch-tests-')), 'results.json');
const args = [
  'vitest',
  'run',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${out}`,
  ...process.argv.slice(2),
];
const r = spawnSync('npx', args, { stdio: 'inherit' });
let passed = 0;
let failed = 0;
let skipped = 0;
try {
  const res = JSON.parse(readFileSync(out, 'utf8'));
  passed = res.numPassedTests ?? 0;
  // A failed test counts once. numFailedTestSuites also counts every describe block around it, so it is not
  // added; a file that failed without a failed test (it did not load, a hook threw) counts as one failure.
  const fileFailures = (res.testResults ?? []).filter(
    (f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed'),
  ).length;
  failed = (res.numFailedTests ?? 0) + fileFailures;
  skipped = (res.numPendingTests ?? 0) + (res.numTodoTests ?? 0);
} catch {
  failed = Math.max(failed, 1);
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
if (passed === 0) {
  console.error('no test ran: failing the run');
  process.exit(1);
}
process.exit(r.status === 0 && failed === 0 ? 0 : 1);
