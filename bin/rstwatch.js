#!/usr/bin/env node
// The one binary. Commands live in dist/cli/<command>.js and are loaded on demand, so `rstwatch status`
// never pays for the agent's database or the analyzer's decoders. `npm run build` bundles them into
// dist/bundle/ (scripts/bundle.mjs: one file per command and a few shared chunks load in a third of the time
// of tsc's ~40 modules); tsc's files are the fallback when there is no bundle.
let main;
try {
  ({ main } = await import('../dist/bundle/main.js'));
} catch (err) {
  if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !String(err.message).includes('dist/bundle/main.js')) throw err;
  ({ main } = await import('../dist/cli/main.js'));
}

const command = process.argv[2];
// A reader that goes away early (`rstwatch analyze F --json | head`) makes the next write fail with EPIPE:
// Node ignores SIGPIPE, so without a listener that error is an unhandled 'error' event and a stack trace.
// Stop quietly instead, with the status of a process killed by SIGPIPE (128 + 13), as cat or tcpdump would.
// The agent keeps running: its output is a log, and losing the reader of a log is no reason to stop
// watching (later writes fail the same way and are dropped).
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err?.code !== 'EPIPE') throw err;
    if (command !== 'agent') process.exit(141);
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`rstwatch: internal error: ${err?.stack ?? err}\n`);
    process.exitCode = 70;
  },
);
