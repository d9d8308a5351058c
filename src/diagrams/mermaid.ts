import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';
import { actionNames, eventName, guardName } from './names.ts';

/**
 * Mermaid `stateDiagram-v2` text for an XState v5 machine, made by walking its definition
 * (`machine.root` and the state nodes below it), so the diagram is the machine and nothing else.
 *
 * - Compound states become composite states (`state buffering { ... }`) with their own `[*] -->`
 *   initial arrow; parallel states separate their regions with `--`.
 * - Every transition becomes an arrow labelled `EVENT [guard] / action, action`. An unguarded
 *   alternative that follows guarded ones is labelled `[else]`. A transition without a target is a
 *   self-arrow. Eventless transitions are labelled `always`, delayed ones `after Nms`.
 * - Transitions defined on the machine root (which apply in every state) are drawn from each
 *   top-level state that can take them (not from final ones, nor from one that handles the same event
 *   itself without a guard); those defined on a compound state are drawn from its composite box.
 * - Entry and exit actions become description lines (`connecting : entry / openSocket`) on atomic
 *   states, and notes on composite states. Final states get an arrow to `[*]`.
 * - Nested states get an id made of their path (`buffering__waiting`) and show their own key, since
 *   Mermaid state ids are global to the diagram.
 *
 * The output depends only on the definition's order (states, events and alternatives as written), so
 * it is stable from run to run.
 */
export interface MermaidOptions {
  /** Comment lines (`%% ...`) written right after the `stateDiagram-v2` header. */
  readonly comments?: readonly string[];
}

interface Edge {
  readonly from: string;
  readonly to: string;
  readonly label: string;
  /** The state node whose block (root or composite) the arrow is written in. */
  readonly container: AnyStateNode;
}

const INDENT = '  ';

function children(node: AnyStateNode): AnyStateNode[] {
  return (Object.values(node.states) as AnyStateNode[]).filter((n) => n.type !== 'history');
}

/** A Mermaid id for a state node: its key at the top level, its path joined by `__` below. */
export function mermaidId(node: AnyStateNode): string {
  return node.path.map((key: string) => key.replace(/[^A-Za-z0-9_]/g, '_')).join('__');
}

function needsAlias(node: AnyStateNode): boolean {
  return mermaidId(node) !== node.key;
}

/** Mermaid reads `;` as a statement end and `#...;` as an entity; keep labels plain. */
function cleanLabel(text: string): string {
  return text.replace(/;/g, ',').replace(/\s+/g, ' ').trim();
}

function isAncestorOrSelf(ancestor: AnyStateNode, node: AnyStateNode): boolean {
  for (let n: AnyStateNode | undefined = node; n; n = n.parent) if (n === ancestor) return true;
  return false;
}

/** The deepest state node that is a proper ancestor of both (the block an arrow between them belongs in). */
function commonContainer(a: AnyStateNode, b: AnyStateNode): AnyStateNode {
  for (let c: AnyStateNode | undefined = a.parent; c; c = c.parent) {
    if (isAncestorOrSelf(c, b) && c !== b) return c;
  }
  return a.machine.root as AnyStateNode;
}

function transitionLabel(
  t: AnyTransitionDefinition,
  index: number,
  group: AnyTransitionDefinition[],
): string {
  let label = eventName(t.eventType);
  if (t.guard !== undefined) label += ` [${guardName(t.guard)}]`;
  else if (index > 0 && group.slice(0, index).some((g) => g.guard !== undefined)) label += ' [else]';
  const actions = actionNames(t.actions);
  if (actions.length > 0) label += ` / ${actions.join(', ')}`;
  return cleanLabel(label);
}

/** Every state node in document order (depth first), root excluded. */
function allNodes(node: AnyStateNode): AnyStateNode[] {
  return children(node).flatMap((c) => [c, ...allNodes(c)]);
}

function collectEdges(machine: AnyStateMachine): Edge[] {
  const root = machine.root as AnyStateNode;
  const edges: Edge[] = [];
  // The root's transitions last: they are drawn from every top-level state, after the states' own.
  for (const node of [...allNodes(root), root]) {
    const groups: Array<[string, AnyTransitionDefinition[]]> = [...node.transitions.entries()];
    if (node.always && node.always.length > 0) groups.push(['', node.always]);
    // A root transition applies in every state: draw it from each top-level state that can take it.
    const sources = node === root ? children(root).filter((c) => c.type !== 'final') : [node];
    for (const [descriptor, group] of groups) {
      group.forEach((t, index) => {
        const label = transitionLabel(t, index, group);
        // A top-level state with its own unguarded transition for the event never lets the root's be taken.
        const takers = sources.filter((s) => s === node || !shadows(s, descriptor));
        for (const source of takers) {
          const targets: AnyStateNode[] = t.target && t.target.length > 0 ? [...t.target] : [source];
          for (const target of targets) {
            const container = target === source ? (source.parent ?? root) : commonContainer(source, target);
            edges.push({ from: mermaidId(source), to: mermaidId(target), label, container });
          }
        }
      });
    }
  }
  return edges;
}

function shadows(node: AnyStateNode, descriptor: string): boolean {
  const own = descriptor === '' ? node.always : node.transitions.get(descriptor);
  return (own ?? []).some((t: AnyTransitionDefinition) => t.guard === undefined);
}

function actionLines(node: AnyStateNode): string[] {
  const lines: string[] = [];
  if (node.description) lines.push(cleanLabel(node.description));
  const entry = actionNames(node.entry);
  const exit = actionNames(node.exit);
  if (entry.length > 0) lines.push(`entry / ${entry.join(', ')}`);
  if (exit.length > 0) lines.push(`exit / ${exit.join(', ')}`);
  return lines;
}

function emitBlock(node: AnyStateNode, edges: Edge[], depth: number, out: string[]): void {
  const pad = INDENT.repeat(depth);
  const kids = children(node);
  if (node.type === 'parallel') {
    kids.forEach((region, i) => {
      if (i > 0) out.push(`${pad}--`);
      emitState(region, edges, depth, out);
    });
  } else {
    const initial = node.initial?.target?.[0] as AnyStateNode | undefined;
    if (initial) out.push(`${pad}[*] --> ${mermaidId(initial)}`);
    for (const child of kids) emitState(child, edges, depth, out);
  }
  for (const edge of edges) {
    if (edge.container === node) out.push(`${pad}${edge.from} --> ${edge.to} : ${edge.label}`);
  }
  for (const child of kids) {
    if (child.type === 'final') out.push(`${pad}${mermaidId(child)} --> [*]`);
  }
}

function emitState(node: AnyStateNode, edges: Edge[], depth: number, out: string[]): void {
  const pad = INDENT.repeat(depth);
  const id = mermaidId(node);
  const head = needsAlias(node) ? `state "${node.key}" as ${id}` : `state ${id}`;
  const lines = actionLines(node);
  if (node.type === 'compound' || node.type === 'parallel') {
    out.push(`${pad}${head} {`);
    emitBlock(node, edges, depth + 1, out);
    out.push(`${pad}}`);
    for (const line of lines) out.push(`${pad}note right of ${id} : ${line}`);
    return;
  }
  // Mermaid shows a state's first description line as its title: name the state first when it has any.
  if (needsAlias(node) || lines.length > 0) out.push(`${pad}state "${node.key}" as ${id}`);
  for (const line of lines) out.push(`${pad}${id} : ${line}`);
}

export function toMermaid(machine: AnyStateMachine, options: MermaidOptions = {}): string {
  const out: string[] = ['stateDiagram-v2'];
  for (const comment of options.comments ?? []) out.push(`${INDENT}%% ${comment}`);
  const root = machine.root as AnyStateNode;
  for (const line of actionLines(root)) out.push(`${INDENT}%% machine ${line}`);
  emitBlock(root, collectEdges(machine), 1, out);
  return `${out.join('\n')}\n`;
}
