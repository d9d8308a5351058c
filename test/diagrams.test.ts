import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { assign, setup } from 'xstate';
import { diagramFiles, findStaleDiagrams } from '../src/diagrams/files.ts';
import { toMermaid } from '../src/diagrams/mermaid.ts';
import { diagramEntries } from '../src/diagrams/registry.ts';

const dir = fileURLToPath(new URL('../diagrams/', import.meta.url));

describe('committed diagrams', () => {
  test('match what the machines generate (run `npm run diagrams` when this fails)', () => {
    const stale = findStaleDiagrams(dir).map((s) => `diagrams/${s.file} (${s.reason})`);
    expect(stale).toEqual([]);
  });

  test('there is one diagram per registered machine, and a README embedding each', () => {
    const files = diagramFiles();
    const ids = diagramEntries.map((e) => e.machine.id);
    expect([...files.keys()]).toEqual([...ids.map((id) => `${id}.mmd`), 'README.md']);
    const readme = files.get('README.md')!;
    for (const entry of diagramEntries) {
      expect(readme).toContain(`## ${entry.machine.id}`);
      expect(readme).toContain(`(../${entry.source})`);
      expect(readme).toContain(`\`\`\`mermaid\n${files.get(`${entry.machine.id}.mmd`)}\`\`\``);
    }
  });

  test('generation is deterministic', () => {
    expect([...diagramFiles()]).toEqual([...diagramFiles()]);
  });
});

describe('toMermaid', () => {
  const door = setup({
    types: { events: {} as { type: 'OPEN' } | { type: 'CLOSE' } | { type: 'KICK' } | { type: 'SETTLE' } },
    actions: { lock: () => {}, unlock: () => {}, beep: () => {}, log: () => {}, count: assign({}) },
    guards: { hasKey: () => true },
  }).createMachine({
    id: 'door',
    initial: 'closed',
    states: {
      closed: {
        entry: ['lock', { type: 'beep' }],
        exit: 'unlock',
        on: {
          OPEN: [{ guard: 'hasKey', target: 'open', actions: ['beep', 'count'] }, { actions: 'log' }],
          KICK: '#door.broken',
        },
      },
      open: {
        initial: 'swinging',
        exit: 'log',
        states: {
          swinging: { on: { SETTLE: 'still', KICK: '#door.broken' } },
          still: { type: 'final' },
        },
        on: { CLOSE: 'closed' },
      },
      broken: { type: 'final' },
    },
    on: { KICK: '.broken' },
  });

  // The root's KICK is drawn from `open` only: `closed` handles KICK itself, `broken` is final.
  test('draws states, nesting, guards, entry/exit actions, targetless, inherited and final transitions', () => {
    expect(toMermaid(door).split('\n')).toEqual([
      'stateDiagram-v2',
      '  [*] --> closed',
      '  state "closed" as closed',
      '  closed : entry / lock, beep',
      '  closed : exit / unlock',
      '  state open {',
      '    [*] --> open__swinging',
      '    state "swinging" as open__swinging',
      '    state "still" as open__still',
      '    open__swinging --> open__still : SETTLE',
      '    open__still --> [*]',
      '  }',
      '  note right of open : exit / log',
      '  closed --> open : OPEN [hasKey] / beep, count',
      '  closed --> closed : OPEN [else] / log',
      '  closed --> broken : KICK',
      '  open --> closed : CLOSE',
      '  open__swinging --> broken : KICK',
      '  open --> broken : KICK',
      '  broken --> [*]',
      '',
    ]);
  });

  test('writes comments after the header', () => {
    expect(
      toMermaid(door, { comments: ['hello'] })
        .split('\n')
        .slice(0, 2),
    ).toEqual(['stateDiagram-v2', '  %% hello']);
  });
});
