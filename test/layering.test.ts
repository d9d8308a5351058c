import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The dependency rules of ARCHITECTURE.md ("What each folder may import"): cli → aggregator | engine |
 * hardware → runtime | transport | protocol | time; machines/ → xstate; and inside the aggregator and the
 * engine, the folders that keep the session, the store, the HTTP API, the outbox apart.
 */
const root = resolve(import.meta.dirname, '..');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, dir))) {
    const path = join(dir, name);
    if (statSync(join(root, path)).isDirectory()) out.push(...sources(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/**
 * Every module specifier a file imports (`import … from`, `export … from`, side-effect `import '…'`,
 * `import(…)` and `require(…)`), resolved to a project path when relative.
 */
function imports(file: string): string[] {
  return specifiers(readFileSync(join(root, file), 'utf8')).map((spec) =>
    spec.startsWith('.') ? relative(root, resolve(join(root, file, '..'), spec)) : spec,
  );
}

function specifiers(text: string): string[] {
  const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'";]*?from\s+['"]([^'"]+)['"]/g)].map(
    (m) => m[1]!,
  );
  specs.push(...[...text.matchAll(/(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)].map((m) => m[1]!));
  specs.push(...[...text.matchAll(/\b(?:import|require)\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]!));
  return specs;
}

function violations(
  dir: string,
  allowed: (spec: string) => boolean,
  except: (file: string) => boolean = () => false,
): string[] {
  return sources(dir)
    .filter((file) => !except(file))
    .flatMap((file) =>
      imports(file)
        .filter((spec) => !allowed(spec))
        .map((spec) => `${file} → ${spec}`),
    );
}

/** Anything outside engine-link's own code (node:, npm packages). */
const external = (spec: string) => !spec.startsWith('src/') && !spec.startsWith('machines/');
const under =
  (...dirs: string[]) =>
  (spec: string) =>
    dirs.some((dir) => spec.startsWith(`${dir}/`));

interface Rule {
  /** The folder whose files are checked. */
  dir: string;
  what: string;
  allowed: (spec: string) => boolean;
  /** Files of `dir` the rule does not apply to (covered by a rule of their own). */
  except?: (file: string) => boolean;
  /** Imports the rule must refuse: shows that it would catch a wrong one. */
  refuses: string[];
}

const SQLITE = /^src\/aggregator\/store\/(sqlite\w*|storeFile|walCheckpointer)\.ts$/;

/** The package's public entry files (package.json `exports`), one per subpath. */
const PUBLIC_ENTRIES = {
  '.': 'src/index.ts',
  engine: 'src/engine/index.ts',
  aggregator: 'src/aggregator/index.ts',
  hardware: 'src/hardware/index.ts',
  machines: 'machines/index.ts',
  opcua: 'src/hardware/opcua/index.ts',
};

const rules: Rule[] = [
  {
    dir: 'machines',
    what: 'imports nothing but xstate (and each other)',
    allowed: (spec) => spec === 'xstate' || spec.startsWith('machines/'),
    refuses: ['src/time/clock.ts', 'node:timers', 'eventemitter3'],
  },
  {
    dir: 'src/protocol',
    what: 'imports nothing from the rest of engine-link',
    allowed: (spec) => external(spec) || spec.startsWith('src/protocol/'),
    refuses: ['src/time/clock.ts', 'src/engine/engineDefaults.ts', 'machines/engineLink.ts'],
  },
  {
    dir: 'src/time',
    what: 'imports nothing from the rest of engine-link',
    allowed: (spec) => external(spec) || spec.startsWith('src/time/'),
    refuses: ['src/protocol/records.ts', 'src/runtime/machineRuntime.ts'],
  },
  {
    dir: 'src/runtime',
    what: 'runs machines on the clock: xstate, machines/stateName.ts and time only',
    allowed: (spec) =>
      external(spec) || spec === 'machines/stateName.ts' || under('src/runtime', 'src/time')(spec),
    refuses: ['machines/engineLink.ts', 'src/engine/aggregatorLink.ts', 'src/protocol/messages.ts'],
  },
  {
    dir: 'src/transport',
    what: 'imports only protocol and time',
    allowed: (spec) => external(spec) || under('src/transport', 'src/protocol', 'src/time')(spec),
    refuses: [
      'src/engine/resilientDispatcher.ts',
      'src/aggregator/aggregator.ts',
      'src/runtime/machineRuntime.ts',
    ],
  },
  {
    dir: 'src/engine',
    what: 'does not import the aggregator, the CLI, the dashboard or the hardware',
    allowed: (spec) => !under('src/aggregator', 'src/cli', 'src/dashboard', 'src/hardware')(spec),
    refuses: ['src/aggregator/aggregatorDefaults.ts', 'src/cli/args.ts', 'src/hardware/hardwareLayer.ts'],
  },
  {
    dir: 'src/engine/outbox',
    what: 'the outbox knows records, not the link: protocol, time and itself',
    allowed: (spec) => external(spec) || under('src/engine/outbox', 'src/protocol', 'src/time')(spec),
    refuses: ['src/engine/engineDefaults.ts', 'src/engine/resilientDispatcher.ts', 'src/transport/sides.ts'],
  },
  {
    dir: 'src/engine/outbox',
    what: 'the memory outbox and the Outbox interface do not know the durable one (only outboxFor.ts chooses)',
    allowed: (spec) => !spec.startsWith('src/engine/outbox/durable/'),
    except: (file) =>
      file.startsWith('src/engine/outbox/durable/') || file === 'src/engine/outbox/outboxFor.ts',
    refuses: ['src/engine/outbox/durable/durableOutbox.ts'],
  },
  {
    dir: 'src/engine/outbox/durable',
    what: 'the durable outbox builds on the Outbox interface and the memory outbox, never on what chooses it',
    allowed: (spec) =>
      external(spec) ||
      under('src/engine/outbox/durable', 'src/protocol', 'src/time')(spec) ||
      /^src\/engine\/outbox\/(outbox|memoryOutbox|outboxDefaults|overflowPolicy|firstAbove)\.ts$/.test(spec),
    refuses: ['src/engine/outbox/outboxFor.ts', 'src/engine/engineDefaults.ts', 'src/engine/sendWindow.ts'],
  },
  {
    dir: 'src/aggregator',
    what: 'does not import the engine, the CLI or the dashboard',
    allowed: (spec) => !under('src/engine', 'src/cli', 'src/dashboard')(spec),
    // The public entry (engine-link/aggregator) offers the dashboard's routes with the aggregator.
    except: (file) => file === PUBLIC_ENTRIES.aggregator,
    refuses: ['src/engine/resilientDispatcher.ts', 'src/cli/args.ts', 'src/dashboard/dashboardRoutes.ts'],
  },
  {
    dir: 'src/aggregator/store',
    what: 'the store knows records and runs, not who sends them: protocol, time and itself',
    allowed: (spec) => external(spec) || under('src/aggregator/store', 'src/protocol', 'src/time')(spec),
    refuses: [
      'src/aggregator/session/engineSession.ts',
      'src/aggregator/runs/runLedger.ts',
      'src/aggregator/http/httpErrors.ts',
      'src/aggregator/aggregator.ts',
    ],
  },
  {
    dir: 'src/aggregator/session',
    what: 'a session sees the store through its interfaces, and nothing of HTTP, auth or runs',
    allowed: (spec) =>
      external(spec) ||
      spec === 'src/aggregator/aggregatorDefaults.ts' ||
      (spec.startsWith('src/aggregator/store/') && !SQLITE.test(spec)) ||
      under(
        'src/aggregator/session',
        'src/protocol',
        'src/time',
        'src/transport',
        'src/runtime',
        'machines',
      )(spec),
    refuses: [
      'src/aggregator/store/sqliteStore.ts',
      'src/aggregator/runs/runLedger.ts',
      'src/aggregator/http/router.ts',
      'src/aggregator/auth/tokens.ts',
      'src/aggregator/aggregator.ts',
    ],
  },
  {
    dir: 'src/aggregator/runs',
    what: 'the run ledger sees the store through its interfaces, and no session, HTTP or auth',
    allowed: (spec) =>
      external(spec) ||
      (spec.startsWith('src/aggregator/store/') && !SQLITE.test(spec)) ||
      under('src/aggregator/runs', 'src/protocol', 'src/time', 'src/runtime', 'machines')(spec),
    refuses: [
      'src/aggregator/session/engineSession.ts',
      'src/aggregator/store/sqliteRuns.ts',
      'src/aggregator/http/httpErrors.ts',
    ],
  },
  {
    dir: 'src/aggregator/fleet',
    what: 'a fleet node (leases kept, directory, orphan runs) sees the store through its interfaces, sessions through their views, and the run ledger',
    allowed: (spec) =>
      external(spec) ||
      (spec.startsWith('src/aggregator/store/') && !SQLITE.test(spec)) ||
      spec === 'src/aggregator/session/engineView.ts' ||
      spec.startsWith('src/aggregator/runs/') ||
      spec === 'src/transport/sides.ts' ||
      under('src/aggregator/fleet', 'src/protocol', 'src/time')(spec),
    refuses: [
      'src/aggregator/session/engineSession.ts',
      'src/aggregator/store/sqliteStore.ts',
      'src/aggregator/http/httpErrors.ts',
      'src/aggregator/aggregator.ts',
    ],
  },
  {
    dir: 'src/aggregator/auth',
    what: 'authentication: protocol, its own files and the HTTP error catalogue',
    allowed: (spec) =>
      external(spec) ||
      spec === 'src/aggregator/http/httpErrors.ts' ||
      under('src/aggregator/auth', 'src/protocol')(spec),
    refuses: [
      'src/aggregator/store/store.ts',
      'src/aggregator/session/engineSession.ts',
      'src/aggregator/aggregator.ts',
    ],
  },
  {
    dir: 'src/aggregator/http',
    what: 'the HTTP API reaches engines and runs through the Aggregator, never a session, the ledger or SQLite',
    allowed: (spec) =>
      !under('src/aggregator/session', 'src/aggregator/runs', 'src/aggregator/auth')(spec) &&
      !SQLITE.test(spec),
    refuses: [
      'src/aggregator/session/engineSession.ts',
      'src/aggregator/runs/runLedger.ts',
      'src/aggregator/store/sqliteStore.ts',
      'src/aggregator/auth/apiAuth.ts',
    ],
  },
  {
    dir: 'src/hardware',
    what: 'sees the engine only through the dispatcher interface',
    allowed: (spec) =>
      !under('src/aggregator', 'src/cli', 'src/dashboard', 'src/transport')(spec) &&
      (!spec.startsWith('src/engine/') || spec === 'src/engine/dispatcher.ts'),
    refuses: ['src/engine/resilientDispatcher.ts', 'src/engine/outbox/outbox.ts', 'src/transport/sides.ts'],
  },
  {
    dir: 'src/simulation',
    what: 'runs the real engine, aggregator, store and hardware code; never the CLI, the HTTP API, the dashboard or the process-level test tools',
    allowed: (spec) =>
      !under('src/cli', 'src/dashboard', 'src/aggregator/http', 'src/faults', 'src/soak')(spec),
    refuses: [
      'src/cli/main.ts',
      'src/aggregator/http/router.ts',
      'src/faults/netnsLab.ts',
      'src/soak/soakRunner.ts',
    ],
  },
  {
    dir: 'src',
    what: 'nothing outside the simulation imports it (it is a test tool)',
    allowed: (spec) => !under('src/simulation')(spec),
    except: (file) => file.startsWith('src/simulation/'),
    refuses: ['src/simulation/simulation.ts'],
  },
];

describe('public entry files', () => {
  const exportsMap = (
    JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      exports: Record<string, { types: string; default: string } | string>;
    }
  ).exports;

  it('are the package.json exports, one file per subpath', () => {
    const entries = Object.fromEntries(
      Object.entries(exportsMap)
        .filter(([, target]) => typeof target !== 'string')
        .map(([subpath, target]) => [
          subpath === '.' ? '.' : subpath.slice(2),
          (target as { default: string }).default.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts'),
        ]),
    );
    expect(entries).toEqual(PUBLIC_ENTRIES);
  });

  it.each(
    Object.values(PUBLIC_ENTRIES),
  )('%s only re-exports, and nothing of the CLI or the test tools', (file) => {
    const text = readFileSync(join(root, file), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
    const statements = text
      .split(';')
      .map((part) => part.trim())
      .filter((part) => part.length > 0);
    expect(statements.filter((statement) => !statement.startsWith('export '))).toEqual([]);
    expect(imports(file).filter(under('src/cli', 'src/faults', 'src/soak'))).toEqual([]);
  });
});

describe('layering', () => {
  it('finds the files it checks', () => {
    expect(sources('machines').length).toBeGreaterThanOrEqual(2);
    expect(sources('src/protocol').length).toBeGreaterThanOrEqual(3);
    expect(imports('src/transport/sides.ts')).toContain('src/protocol/codec.ts');
    for (const rule of rules) expect(sources(rule.dir).length, rule.dir).toBeGreaterThan(0);
    // Every folder of the aggregator, and the durable outbox, has a rule of its own.
    const folders = readdirSync(join(root, 'src/aggregator'))
      .filter((name) => statSync(join(root, 'src/aggregator', name)).isDirectory())
      .map((name) => `src/aggregator/${name}`);
    expect(folders.length).toBeGreaterThanOrEqual(5);
    for (const folder of [...folders, 'src/engine/outbox/durable'])
      expect(
        rules.some((rule) => rule.dir === folder),
        folder,
      ).toBe(true);
  });

  it('sees every kind of import', () => {
    const text = [
      "import { a } from './a.ts';",
      "export { b } from './b.ts';",
      "import 'node:fs';",
      "const c = require('node:child_process');",
      "const d = await import('./d.ts');",
    ].join('\n');
    expect(specifiers(text).sort()).toEqual(['./a.ts', './b.ts', './d.ts', 'node:child_process', 'node:fs']);
  });

  describe.each(rules)('$dir', (rule) => {
    it(rule.what, () => {
      expect(violations(rule.dir, rule.allowed, rule.except)).toEqual([]);
    });

    it('would refuse a wrong import', () => {
      expect(rule.refuses.filter((spec) => rule.allowed(spec))).toEqual([]);
    });
  });
});
