import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OptionSpec } from '../../../src/cli/optionSpec.ts';
import { durationMax } from '../../../src/cli/optionValues.ts';

/** Files the invalid values point at, made once in a scratch directory. */
export interface Fixtures {
  /** A regular file with some text in it. */
  file: string;
  /** An empty regular file. */
  empty: string;
  /** A directory. */
  dir: string;
  /** A path that does not exist. */
  missing: string;
}

export function makeFixtures(root: string): Fixtures {
  const fixtures = {
    file: join(root, 'a-file.txt'),
    empty: join(root, 'empty.txt'),
    dir: join(root, 'a-dir'),
    missing: join(root, 'missing', 'nothing.pem'),
  };
  writeFileSync(fixtures.file, 'not a certificate, not a database\n');
  writeFileSync(fixtures.empty, '');
  mkdirSync(fixtures.dir);
  return fixtures;
}

/**
 * Values that break an option's rule, derived from its spec alone (kind and bounds): what a user could
 * mistype. Every one must be refused with a usage error naming the option.
 */
export function invalidValues(spec: OptionSpec, f: Fixtures): string[] {
  switch (spec.kind) {
    case 'flag':
      return ['yes'];
    case 'integer':
      return ['abc', '1.5', '', String(spec.min - 1), String(spec.max + 1)];
    case 'number':
      return ['abc', 'Infinity', '', String(spec.aboveMin ? spec.min : spec.min - 1), String(spec.max * 2)];
    case 'port':
      return ['abc', '1.5', '', '70000', String(spec.min - 1)];
    case 'duration':
      return ['abc', '', String(spec.min - 1), String(durationMax(spec) + 1)];
    case 'enum':
      return ['bogus', ''];
    case 'url': {
      if (!spec.list) return ['garbage', 'ftp://example.org', ''];
      const good = `${spec.protocols[0]}//127.0.0.1:8080`;
      return [
        'garbage',
        'ftp://example.org',
        '',
        `${good},garbage`,
        `${good},,${spec.protocols[0]}//127.0.0.1:8081`,
        `${good},${good}/`,
      ];
    }
    case 'host':
      return ['999.1.1.1', 'bad host!', ''];
    case 'path':
      if (spec.role === 'input-file') return [f.missing, f.dir, ''];
      if (spec.role === 'output-file')
        return [
          f.dir,
          join(f.file, 'below-a-file.db'),
          '',
          ...(spec.urlProtocols ? ['mysql://user@host/db', 'postgres://', 'postgres://user@host'] : []),
        ];
      return [f.file, join(f.file, 'below-a-file'), ''];
    case 'secret-file':
      return [f.missing, f.empty, f.dir];
    case 'text':
      return spec.pattern ? ['has space', 'x'.repeat(300), ''] : ['', '   '];
  }
}

/** A value that passes an option's rule (for the option another one requires). */
export function validValue(spec: OptionSpec, f: Fixtures, scratch: string): string {
  switch (spec.kind) {
    case 'path':
      if (spec.role === 'input-file') return f.file;
      return join(scratch, spec.role === 'directory' ? 'an-outbox' : 'a-store.db');
    case 'integer':
    case 'number':
    case 'duration':
      return String(spec.max ?? spec.min + 1);
    case 'url':
      return `${spec.protocols[0]}//127.0.0.1:1`;
    case 'text':
      return 'valid-text';
    case 'port':
      return '0';
    default:
      throw new Error(`no valid value for a required ${spec.kind} option`);
  }
}
