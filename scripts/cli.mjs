#!/usr/bin/env node
// The CLI run from its TypeScript sources (tsx, in this process): what `npm start` and the tests run, so
// that they always run the code as it is now, never a stale build. Installed packages run the built
// JavaScript instead (dist/src/cli/main.js, the package's bin; `npm run build`).
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
