#!/usr/bin/env node
import { cliMain } from './cliMain.ts';

/**
 * The CLI's entry point: the package's bin (built to dist/src/cli/main.js; from the sources,
 * scripts/cli.mjs). Once the command is done the process exits with its status;
 * should anything still hold it a second later (a socket left open on a failure path), it exits anyway:
 * a finished command never hangs.
 */
cliMain(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    setTimeout(() => process.exit(code), 1000).unref();
  },
  (error) => {
    process.stderr.write(`${(error as Error).stack ?? error}\n`);
    process.exitCode = 1;
    setTimeout(() => process.exit(1), 1000).unref();
  },
);
