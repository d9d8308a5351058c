/**
 * `npm run mutation:survivors [-- machines|runtimes-<group>…]`: every mutant a Stryker pass left undetected
 * (Survived, NoCoverage), from its JSON report in reports/mutation/, as Markdown: per file, its score line,
 * then one row per mutant (line, mutator, the original code and what it became). What test/model/MUTATION.md
 * lists, each row then explained or killed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

interface Mutant {
  id: string;
  status: string;
  mutatorName: string;
  replacement?: string;
  location: { start: { line: number; column: number }; end: { line: number; column: number } };
}

interface Report {
  files: Record<string, { source: string; mutants: Mutant[] }>;
}

const root = resolve(import.meta.dirname, '..');
const UNDETECTED = new Set(['Survived', 'NoCoverage']);
const DETECTED = new Set(['Killed', 'Timeout']);

/** One line of code, cut to `width` characters and made safe for a Markdown table cell. */
function cell(text: string, width = 70): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  const cut = flat.length > width ? `${flat.slice(0, width - 1)}…` : flat;
  return `\`${cut.replaceAll('|', '\\|').replaceAll('`', "'")}\``;
}

/** The mutated span of the source. */
function original(source: string, mutant: Mutant): string {
  const lines = source.split('\n');
  const { start, end } = mutant.location;
  if (start.line === end.line) return lines[start.line - 1]!.slice(start.column - 1, end.column - 1);
  return [lines[start.line - 1]!.slice(start.column - 1), ...lines.slice(start.line, end.line - 1)].join(' ');
}

export function survivors(pass: string): string[] {
  const path = join(root, 'reports/mutation', `${pass}.json`);
  if (!existsSync(path)) return [`(no report for ${pass}: run \`npm run mutation\` first)`];
  const report = JSON.parse(readFileSync(path, 'utf8')) as Report;
  const out: string[] = [];
  for (const [file, { source, mutants }] of Object.entries(report.files)) {
    const count = (statuses: Set<string>) => mutants.filter((m) => statuses.has(m.status)).length;
    const byStatus = (status: string) => mutants.filter((m) => m.status === status).length;
    const detected = count(DETECTED);
    const undetected = count(UNDETECTED);
    const score = detected + undetected === 0 ? 100 : (100 * detected) / (detected + undetected);
    out.push(
      `### ${file}: ${score.toFixed(1)} % (${byStatus('Killed')} killed, ${byStatus('Timeout')} timed out, ` +
        `${byStatus('Survived')} survived, ${byStatus('NoCoverage')} without coverage)`,
      '',
    );
    const left = mutants
      .filter((m) => UNDETECTED.has(m.status))
      .sort(
        (a, b) =>
          a.location.start.line - b.location.start.line || a.location.start.column - b.location.start.column,
      );
    if (left.length === 0) {
      out.push('Every mutant detected.', '');
      continue;
    }
    out.push('| line | status | mutator | original | mutant |', '| ---: | --- | --- | --- | --- |');
    for (const m of left)
      out.push(
        `| ${m.location.start.line} | ${m.status} | ${m.mutatorName} | ${cell(original(source, m))} | ${cell(m.replacement ?? '')} |`,
      );
    out.push('');
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const passes = process.argv.slice(2);
  const { RUNTIME_GROUPS } = await import('../test/model/stryker/runtimes.config.mjs');
  const every = ['machines', ...Object.keys(RUNTIME_GROUPS).map((group) => `runtimes-${group}`)];
  for (const pass of passes.length > 0 ? passes : every) {
    console.log(`## ${pass}\n`);
    console.log(survivors(pass).join('\n'));
  }
}
