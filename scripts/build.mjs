// `npm run build` (also run by `prepare`, so by `npm ci` and `npm pack`): compiles machines/ and src/ to
// dist/ with tsc (JavaScript, declarations, declaration maps and source maps), then copies the dashboard's
// static files beside the code that serves them.
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const dist = join(root, 'dist');
const started = Date.now();

rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
  cwd: root,
  stdio: 'inherit',
});

// tsc rewrites `./x.ts` to `./x.js` in JavaScript but keeps it in declarations. TypeScript reads either,
// but `.js` is what every consumer's resolver expects of a published package; the same length keeps the
// declaration maps exact.
const RELATIVE_TS = /((?:from|import)\s*\(?\s*['"]\.{1,2}\/[^'"]*)\.ts(['"])/g;
function rewriteDeclarations(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) rewriteDeclarations(path);
    else if (name.endsWith('.d.ts')) {
      const text = readFileSync(path, 'utf8');
      const rewritten = text.replace(RELATIVE_TS, '$1.js$2');
      if (rewritten !== text) writeFileSync(path, rewritten);
    }
  }
}
rewriteDeclarations(dist);

cpSync(join(root, 'src/dashboard/public'), join(dist, 'src/dashboard/public'), { recursive: true });
process.stdout.write(`built dist/ in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
