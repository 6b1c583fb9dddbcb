#!/usr/bin/env node
// The `strata` command: runs the compiled CLI (build first: npx tsc -p tsconfig.json).
/* global process, setTimeout */
import { main } from '../dist/src/cli/main.js';

// A reader that goes away (`strata scan | head`) ends the output, not with a stack trace.
process.stdout.on('error', (error) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(process.exitCode ?? 0);
});

const code = await main(process.argv.slice(2));
process.exitCode = code;
// Leave when the work is done even if a library keeps a handle open; unref'd, so a clean
// exit is not delayed.
setTimeout(() => process.exit(code), 1000).unref();
