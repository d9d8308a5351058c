import ts from 'typescript';
import type { AnyStateMachine, AnyStateNode, EventObject } from 'xstate';
import { createActor } from 'xstate';
import { actionNames, guardName } from '../../../src/diagrams/names.ts';
import { descendants } from './transitions.ts';

/**
 * Checks that machines/ stays a functional core: no I/O, no timers, no clock, no randomness, no
 * invoked or delayed work. Three ways of looking: the machine definitions themselves, the source text,
 * and what the machines' own (default) actions do when run.
 */

/** What a state node may not have: invoked actors, `after` delays, delayed or eventless-with-delay transitions. */
export function impureStateNodes(machine: AnyStateMachine): string[] {
  const out: string[] = [];
  for (const node of [machine.root as AnyStateNode, ...descendants(machine.root as AnyStateNode)]) {
    const where = node.path.length === 0 ? `#${machine.id}` : node.path.join('.');
    const config = node.config as { invoke?: unknown; after?: unknown };
    if (node.invoke.length > 0 || config.invoke !== undefined) out.push(`${where}: invoke`);
    if (node.after.length > 0 || config.after !== undefined) out.push(`${where}: after`);
    for (const descriptor of node.transitions.keys())
      if (descriptor.startsWith('xstate.after')) out.push(`${where}: delayed transition ${descriptor}`);
  }
  return out;
}

/** Action and guard names a machine refers to (entry, exit, transitions), built-ins left out. */
export function referencedImplementations(machine: AnyStateMachine): { actions: string[]; guards: string[] } {
  const actions = new Set<string>();
  const guards = new Set<string>();
  const addActions = (list: unknown) => {
    for (const action of Array.isArray(list) ? list : [list]) {
      if (typeof action === 'function') continue; // a built-in (assign, raise...) or inline action
      for (const name of actionNames(action)) actions.add(name);
    }
  };
  for (const node of [machine.root as AnyStateNode, ...descendants(machine.root as AnyStateNode)]) {
    addActions(node.entry);
    addActions(node.exit);
    const groups = [...node.transitions.values(), node.always ?? []];
    for (const definition of groups.flat()) {
      addActions(definition.actions);
      if (definition.guard !== undefined && typeof definition.guard !== 'function')
        guards.add(guardName(definition.guard));
    }
  }
  return { actions: [...actions], guards: [...guards] };
}

/** True for an `assign()` action: context bookkeeping, the machine's own business. */
export function isAssign(action: unknown): boolean {
  return typeof action === 'function' && (action as { type?: unknown }).type === 'xstate.assign';
}

/** Names a machine may not use in its source: time, timers, randomness, I/O, the process, dynamic code. */
export const FORBIDDEN_NAMES = new Set([
  'setTimeout',
  'setInterval',
  'setImmediate',
  'clearTimeout',
  'clearInterval',
  'clearImmediate',
  'queueMicrotask',
  'Date',
  'performance',
  'fetch',
  'XMLHttpRequest',
  'WebSocket',
  'process',
  'require',
  'module',
  'globalThis',
  'global',
  'window',
  'eval',
  'Function',
  'Promise',
  'crypto',
]);

/**
 * What the source text of a machine file does that a pure machine must not: side-effect imports,
 * imports of anything but xstate and sibling machines, `require` and `import()`, and any use of
 * FORBIDDEN_NAMES or `Math.random`. Stryker's instrumentation (functions and calls named `stry…`) is
 * skipped, so that this also holds for a mutated copy.
 */
export function impureSource(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const out: string[] = [];
  const at = (node: ts.Node) => {
    const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
    return `${fileName}:${line + 1}`;
  };
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionDeclaration(node) && node.name?.text.startsWith('stry')) return;
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) {
      const spec =
        node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)
          ? node.moduleSpecifier.text
          : undefined;
      if (ts.isImportDeclaration(node) && !node.importClause)
        out.push(`${at(node)}: side-effect import '${spec}'`);
      else if (spec !== undefined && spec !== 'xstate' && !/^\.\/[A-Za-z]+\.ts$/.test(spec))
        out.push(`${at(node)}: imports '${spec}'`);
      return;
    }
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword)
      out.push(`${at(node)}: dynamic import()`);
    if (ts.isIdentifier(node) && FORBIDDEN_NAMES.has(node.text) && isReference(node))
      out.push(`${at(node)}: ${node.text}`);
    if (
      ts.isPropertyAccessExpression(node) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'Math' &&
      node.name.text === 'random'
    )
      out.push(`${at(node)}: Math.random`);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

/** An identifier that names a value (not a property of something, nor a key in an object literal). */
function isReference(node: ts.Identifier): boolean {
  const parent = node.parent;
  if (ts.isPropertyAccessExpression(parent) && parent.name === node) return false;
  if ((ts.isPropertyAssignment(parent) || ts.isMethodDeclaration(parent)) && parent.name === node)
    return false;
  if (ts.isPropertySignature(parent) || ts.isQualifiedName(parent)) return false;
  return true;
}

/** A global a machine's own actions might reach for, and whether a call came from machines/. */
const TRAPPED: Array<[object, string]> = [
  [globalThis, 'setTimeout'],
  [globalThis, 'setInterval'],
  [globalThis, 'setImmediate'],
  [globalThis, 'queueMicrotask'],
  [globalThis, 'fetch'],
  [Date, 'now'],
  [Math, 'random'],
  [performance, 'now'],
];

/**
 * Runs `machine` as defined (its own default actions, not a runtime's) through `events`, with the
 * globals in TRAPPED watched; returns the trapped calls made directly by code in a file under
 * machines/ (or whose path matches `from`: the stack says where). XState itself may use some of them;
 * only the machines' own code counts.
 */
export function impureCalls(
  machine: AnyStateMachine,
  runs: ReadonlyArray<readonly EventObject[]>,
  from: RegExp = /[/\\]machines[/\\]/,
): string[] {
  const calls: string[] = [];
  const saved = TRAPPED.map(
    ([owner, name]) => [owner, name, (owner as Record<string, unknown>)[name]] as const,
  );
  for (const [owner, name, original] of saved) {
    (owner as Record<string, unknown>)[name] = function trapped(this: unknown, ...args: unknown[]) {
      // The direct caller: [0] is the message, [1] this trap.
      const caller = (new Error().stack ?? '').split('\n')[2] ?? '';
      if (from.test(caller)) calls.push(`${name} from ${caller.trim()}`);
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    };
  }
  try {
    for (const events of runs) {
      const actor = createActor(machine);
      actor.start();
      for (const event of events) actor.send(event);
      const status = actor.getSnapshot().status;
      if (status === 'error') calls.push(`${machine.id} failed: ${String(actor.getSnapshot().error)}`);
      actor.stop();
    }
  } finally {
    for (const [owner, name, original] of saved) (owner as Record<string, unknown>)[name] = original;
  }
  return calls;
}
