/**
 * `npm run diagrams`: writes one Mermaid state diagram per machine into diagrams/ (`<machineId>.mmd`)
 * and diagrams/README.md embedding them all; removes `.mmd` files no machine generates any more.
 * `npm run diagrams -- --check`: changes nothing, lists stale files and exits 1 if there are any.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { diagramFiles, findStaleDiagrams } from '../src/diagrams/files.ts';

const dir = fileURLToPath(new URL('../diagrams/', import.meta.url));
const check = process.argv.slice(2).includes('--check');
const files = diagramFiles();
const stale = findStaleDiagrams(dir, files);

if (check) {
  if (stale.length === 0) {
    console.log(`diagrams: ${files.size} files up to date`);
  } else {
    console.error('diagrams: stale files (run `npm run diagrams`):');
    for (const s of stale) console.error(`  diagrams/${s.file} (${s.reason})`);
    process.exitCode = 1;
  }
} else {
  mkdirSync(dir, { recursive: true });
  for (const s of stale) {
    const path = join(dir, s.file);
    if (s.reason === 'orphan') rmSync(path);
    else writeFileSync(path, files.get(s.file)!);
    console.log(`diagrams/${s.file}: ${s.reason === 'orphan' ? 'removed' : 'written'}`);
  }
  console.log(`diagrams: ${files.size} files, ${stale.length} changed`);
}
