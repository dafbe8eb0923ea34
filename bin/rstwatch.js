#!/usr/bin/env node
// The one binary. Commands live in dist/cli/<command>.js and are loaded on demand, so `rstwatch status`
// never pays for the agent's database or the analyzer's decoders.
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`rstwatch: internal error: ${err?.stack ?? err}\n`);
    process.exitCode = 70;
  },
);
