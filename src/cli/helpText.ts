import type { OptionSpec, OptionSpecs } from './optionSpec.ts';
import { placeholder, ruleText } from './optionValues.ts';

/** What the help says after an option's description: its rule, default, environment variable, needs. */
function notes(spec: OptionSpec): string {
  const parts: string[] = [];
  if (spec.kind === 'url' && spec.implied !== undefined) parts.push(`off by default; bare: ${spec.implied}`);
  else if ('default' in spec && spec.default !== undefined)
    parts.push(`default: ${spec.default}${spec.kind === 'duration' ? ` ${spec.unit}` : ''}`);
  const rule = ruleText(spec);
  if (rule !== undefined) parts.push(rule);
  if (spec.env !== undefined) parts.push(`or ${spec.env}`);
  if (spec.requires !== undefined) parts.push(`with --${spec.requires}`);
  return parts.length > 0 ? ` (${parts.join('; ')})` : '';
}

/** A command's help, every option's line made from its spec (the same spec that checks its values). */
export function helpText(usage: string, summary: string, specs: OptionSpecs): string {
  const rows = Object.entries(specs).map(([name, spec]) => {
    const value = placeholder(spec);
    const shown =
      spec.kind === 'url' && spec.implied !== undefined ? ` [${value}]` : value ? ` ${value}` : '';
    const flag = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${shown}`;
    return `  ${flag.padEnd(34)} ${spec.description}${notes(spec)}`;
  });
  rows.push(`  ${'-h, --help'.padEnd(34)} show this help`);
  return `Usage: ${usage}\n\n${summary}\n\nOptions:\n${rows.join('\n')}\n`;
}
